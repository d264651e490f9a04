"""When the planner looks at an endpoint. Pure.

A new endpoint is due for analysis at once. A finished run marks its endpoint for analysis
(`analysisDueAt`, a sparse index) when the endpoint's state changed: a failure streak started
or ended, or the response's signal fields changed or appeared (domain/signals.py). Such a
change is urgent (analysed within a minute) and also makes the job's other endpoints due,
since they coordinate through it. A failure inside a streak makes the endpoint due at the
next analysis tick. Sessions then set the next due time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.entities import AnalysisSession, Endpoint

MIN_NEXT_ANALYSIS = timedelta(minutes=5)
MAX_NEXT_ANALYSIS = timedelta(hours=24)
# One endpoint is analysed at most once a minute however often its siblings flap.
MIN_GAP = timedelta(seconds=60)
# A sibling's first answer waits for the job's other first answers due this soon, so that a
# job starting up is read in one round rather than once per endpoint's first run.
FIRST_ANSWERS_WINDOW = timedelta(minutes=5)
# A first run this late is not waited for any longer (the executor may be down).
FIRST_ANSWER_GRACE = timedelta(minutes=1)
# Over budget or unconfigured: look again this much later (the budget may be raised).
BUDGET_RETRY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RunObservation:
    """What a finished run tells the planner's bookkeeping."""

    endpoint: Endpoint
    urgent: bool


def observe_run(
    before: Endpoint,
    after: Endpoint,
    signal: str | None,
    now: datetime,
    run_started: datetime | None = None,
) -> RunObservation:
    """Mark `after` (the settled endpoint) for analysis if the run changed its state.

    `signal` is the run's body fingerprint, None when there was no object body (a timeout
    keeps the last known signal rather than counting as a change). `run_started` is the run's
    own start (its record's), by default the instant it is planned from.
    """
    streak_changed = (before.failure_count == 0) != (after.failure_count == 0)
    # A first body is news too, for siblings as much as for the endpoint: a job set up while
    # its service is already degraded must react to the very first answer.
    new_signal = signal is not None and signal != before.signal_fingerprint
    updated = replace(after, signal_fingerprint=signal or before.signal_fingerprint)
    if streak_changed or new_signal:
        changed = replace(
            updated,
            state_changed_at=now,
            state_changed_by=run_started or after.last_run_at,
            analysis_due_at=now,
        )
        return RunObservation(changed, urgent=True)
    if after.failure_count > before.failure_count:
        due = now if before.analysis_due_at is None else min(before.analysis_due_at, now)
        return RunObservation(replace(updated, analysis_due_at=due), urgent=False)
    return RunObservation(updated, urgent=False)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether to analyse an endpoint now, why, and when to look next if not."""

    reason: str | None
    next_due: datetime | None

    @property
    def analyse(self) -> bool:
        return self.reason is not None


def sibling_changes(endpoints: Sequence[Endpoint], exclude: str) -> dict[str, datetime]:
    """When each of the job's other endpoints last changed state (those that ever did)."""
    return {e.id: e.state_changed_at for e in endpoints if e.id != exclude and e.state_changed_at}


def changes_read(endpoints: Sequence[Endpoint], last: AnalysisSession | None) -> frozenset[str]:
    """The endpoints whose last state change came from an answer the last session read.

    A run's record is written before its settle stamps the change, so a session can read the
    answer while the state it reads beside it is the one before: the stamp lands after.
    """
    read = last.answers_read if last is not None else None
    if not read:
        return frozenset()
    return frozenset(
        e.id
        for e in endpoints
        if e.state_changed_by is not None and e.id in read and e.state_changed_by <= read[e.id]
    )


def first_answers_pending(
    endpoints: Sequence[Endpoint], exclude: str, now: datetime
) -> datetime | None:
    """When the last of the job's first answers due soon is expected: the latest first run of
    the other endpoints that never ran, are not paused and are due within
    FIRST_ANSWERS_WINDOW (or at most FIRST_ANSWER_GRACE late). None when none is pending."""
    due = [
        e.next_run_at
        for e in endpoints
        if e.id != exclude
        and e.last_run_at is None
        and e.archived_at is None
        and not e.paused_at(now)
        and now - FIRST_ANSWER_GRACE < e.next_run_at <= now + FIRST_ANSWERS_WINDOW
    ]
    return max(due) if due else None


@dataclass(frozen=True, slots=True)
class _SiblingNews:
    any: bool
    # Every changed sibling is one the last session never saw change: its first answer.
    first_answers_only: bool


def _sibling_news(
    siblings: Mapping[str, datetime],
    last: AnalysisSession | None,
    since: datetime | None,
    watched: AbstractSet[str],
    read: AbstractSet[str],
) -> _SiblingNews:
    """Whether a sibling changed after what the last session's context held.

    Compared per sibling with what the session read, not with when it started: a sibling
    whose change was stamped before the session read the job but written after it would
    otherwise be missed.
    """
    news = {sid: t for sid, t in siblings.items() if sid not in watched and sid not in read}
    if last is None or last.siblings_seen is None:
        found = any(since is None or t > since for t in news.values())
        return _SiblingNews(found, first_answers_only=False)
    seen = last.siblings_seen
    changed = [sid for sid, t in news.items() if sid not in seen or t > seen[sid]]
    return _SiblingNews(bool(changed), all(sid not in seen for sid in changed))


def verdict(
    endpoint: Endpoint,
    last: AnalysisSession | None,
    siblings: Mapping[str, datetime],
    now: datetime,
    watched: AbstractSet[str] = frozenset(),
    first_answers_until: datetime | None = None,
    read: AbstractSet[str] = frozenset(),
) -> Verdict:
    """Due when it was never analysed, when its own or a sibling's state changed since the last
    session, when the session's requested re-analysis time has come, or, once it has run since
    then, on new failures or when a run marked it. Never twice within MIN_GAP.

    `siblings` is what `sibling_changes` returns for the job as it stands now; changes of the
    siblings in `watched` (those the endpoint's live reflexes read) are the reflexes' to act
    on, not news: the endpoint hears of them when a reflex fires and marks it.
    `first_answers_until` is what `first_answers_pending` returns: news made only of
    siblings' first answers waits for it, once the endpoint has had its first look.
    `read` is what `changes_read` returns: those changes are not news, nor is the mark their
    run made.
    """
    # A change during the last session may not have been read by it: count from its start.
    since = last.analyzed_at - timedelta(milliseconds=last.duration_ms or 0) if last else None

    def after_last(t: datetime | None) -> bool:
        return t is not None and (since is None or t > since)

    reason: str | None = None
    ran = after_last(endpoint.last_run_at)
    news = _sibling_news(siblings, last, since, watched, read)
    own_read = endpoint.id in read
    # A job starting up: its first answers are read together, when the last one is in.
    held = news.any and news.first_answers_only and first_answers_until is not None
    if after_last(endpoint.state_changed_at) and not own_read:
        reason = "state_change"
    elif news.any and not held:
        reason = "sibling_change"
    elif last is None:
        # Never analysed (a new endpoint): look within a minute, run or not, so that what its
        # description asks for (a reflex, a pause) is in place before its siblings answer.
        reason = "first_analysis"
    elif ran and last is not None and endpoint.failure_count > (last.endpoint_failure_count or 0):
        reason = "new_failures"
    elif last is not None and (last.next_analysis_at or now) <= now:
        # Honoured even without a new run: a cooldown ending or a sibling's numbers moving
        # are reasons to look again that no run of this endpoint announces.
        reason = "scheduled"
    elif (
        endpoint.analysis_due_at is not None
        and endpoint.analysis_due_at <= now
        and not (own_read and endpoint.analysis_due_at == endpoint.state_changed_at)
    ):
        # A run or a reflex firing marked it (e.g. its first body came after a session a
        # sibling caused); sessions set this to their requested time, so it is never stale.
        reason = "marked"
    if reason is not None and last is not None and now - last.analyzed_at < MIN_GAP:
        # Two exceptions to once a minute: the endpoint's own change after a session that had
        # no reason to expect it (a sibling's change, a first look, a timer); and any news
        # after a first look, which usually came before anything had answered. Own changes
        # still come at most once a minute, and a first look happens once.
        own_news = reason == "state_change" and last.trigger not in (None, "state_change")
        if not (own_news or last.trigger == "first_analysis"):
            return Verdict(None, last.analyzed_at + MIN_GAP)
    if reason is not None:
        return Verdict(reason, None)
    assert last is not None  # a never-analysed endpoint always has a reason
    next_due = last.next_analysis_at or now + MIN_NEXT_ANALYSIS
    if held and first_answers_until is not None:
        next_due = min(next_due, first_answers_until + FIRST_ANSWER_GRACE)
    return Verdict(None, next_due)


def next_analysis_at(
    now: datetime, requested_ms: int | None, baseline_interval_ms: int | None
) -> datetime:
    """The model's request clamped to 5 min to 24 h; without one, the baseline interval (cron
    endpoints: 5 min), clamped the same way."""
    fallback = baseline_interval_ms or 0
    wanted = timedelta(milliseconds=requested_ms if requested_ms is not None else fallback)
    return now + min(max(wanted, MIN_NEXT_ANALYSIS), MAX_NEXT_ANALYSIS)


def budget_period(now: datetime) -> str:
    """The calendar month (UTC) token usage counts toward, e.g. "2026-11"."""
    return f"{now.year:04d}-{now.month:02d}"
