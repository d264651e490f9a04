"""When the planner looks at an endpoint: marks after runs, the due verdict, clamps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from chalicelib.domain.analysis import (
    FIRST_ANSWER_GRACE,
    FIRST_ANSWERS_WINDOW,
    MIN_GAP,
    budget_period,
    changes_read,
    first_answers_pending,
    next_analysis_at,
    observe_run,
    sibling_changes,
    verdict,
)
from chalicelib.domain.entities import AnalysisSession, Endpoint

T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def ep(**kw: object) -> Endpoint:
    base = Endpoint(
        tenant_id="t",
        id="e1",
        job_id="j",
        name="n",
        url="https://example.com",
        next_run_at=T + MIN,
        created_at=T - timedelta(days=1),
        updated_at=T,
        baseline_interval_ms=60_000,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def session(at: datetime, **kw: object) -> AnalysisSession:
    base = AnalysisSession(
        endpoint_id="e1",
        id="s",
        tenant_id="t",
        job_id="j",
        analyzed_at=at,
        reasoning="r",
        next_analysis_at=at + timedelta(hours=1),
        endpoint_failure_count=0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_a_first_body_is_a_state_change_for_the_whole_job() -> None:
    # Set up while the service is degraded: the very first answer is what siblings react to.
    seen = observe_run(ep(), ep(failure_count=0), "abc", T)
    assert seen.urgent and seen.endpoint.analysis_due_at == T
    assert seen.endpoint.signal_fingerprint == "abc" and seen.endpoint.state_changed_at == T


def test_a_changed_signal_is_a_state_change_for_the_whole_job() -> None:
    before = ep(signal_fingerprint="abc", analysis_due_at=T + timedelta(hours=2))
    seen = observe_run(before, before, "def", T)
    assert seen.urgent and seen.endpoint.state_changed_at == T
    assert seen.endpoint.analysis_due_at == T


def test_streak_start_and_end_are_state_changes_even_with_the_same_signal() -> None:
    ok = ep(signal_fingerprint="abc")
    started = observe_run(ok, replace(ok, failure_count=1), None, T)
    assert started.urgent and started.endpoint.state_changed_at == T
    assert started.endpoint.signal_fingerprint == "abc"  # no body: the last signal stands
    failing = ep(signal_fingerprint="abc", failure_count=3)
    ended = observe_run(failing, replace(failing, failure_count=0), "abc", T)
    assert ended.urgent and ended.endpoint.state_changed_at == T


def test_a_failure_inside_a_streak_is_due_at_the_next_tick_not_urgent() -> None:
    failing = ep(signal_fingerprint="abc", failure_count=2, analysis_due_at=T + timedelta(hours=1))
    seen = observe_run(failing, replace(failing, failure_count=3), "abc", T)
    assert not seen.urgent and seen.endpoint.analysis_due_at == T
    quiet = observe_run(ep(signal_fingerprint="abc"), ep(signal_fingerprint="abc"), "abc", T)
    assert not quiet.urgent and quiet.endpoint.analysis_due_at is None


def test_verdict_reasons_in_order() -> None:
    last = session(T - timedelta(hours=2))
    ran = T - MIN
    assert verdict(ep(last_run_at=ran), None, {}, T).reason == "first_analysis"
    # A new endpoint is analysed whether or not it has run: its description may ask for a
    # reflex or a pause before anything answers.
    assert verdict(ep(), None, {}, T).reason == "first_analysis"
    assert verdict(ep(), None, {"s": ran}, T).reason == "sibling_change"
    assert verdict(ep(last_run_at=ran, state_changed_at=ran), last, {}, T).reason == (
        "state_change"
    )
    assert verdict(ep(), last, {"s": ran}, T).reason == "sibling_change"
    assert verdict(ep(last_run_at=ran, failure_count=2), last, {}, T).reason == "new_failures"
    assert verdict(ep(last_run_at=ran), last, {}, T).reason == "scheduled"
    fresh = session(T - timedelta(minutes=10))
    assert verdict(ep(last_run_at=ran), fresh, {}, T).reason is None


def test_no_endpoint_is_analysed_twice_within_the_minimum_gap() -> None:
    last = session(T - timedelta(seconds=20))
    found = verdict(ep(state_changed_at=T), last, {}, T)
    assert not found.analyse and found.next_due == last.analyzed_at + MIN_GAP


def test_a_requested_re_analysis_happens_even_without_a_new_run() -> None:
    # A recovery endpoint waiting out its cooldown asked to be looked at in 5 minutes.
    last = session(T - timedelta(minutes=6), next_analysis_at=T - MIN)
    later = T + timedelta(hours=1)
    found = verdict(ep(last_run_at=T - timedelta(hours=3), next_run_at=later), last, {}, T)
    assert found.reason == "scheduled"
    waiting = session(T - MIN, next_analysis_at=T + timedelta(minutes=4))
    assert verdict(ep(next_run_at=later), waiting, {}, T).next_due == T + timedelta(minutes=4)


def test_sibling_changes_skip_the_endpoint_itself_and_siblings_that_never_changed() -> None:
    a, b, c = ep(id="a", state_changed_at=T), ep(id="b", state_changed_at=T - MIN), ep(id="c")
    assert sibling_changes([a, b, c], "a") == {"b": T - MIN}
    assert sibling_changes([a], "a") == {}


def test_next_analysis_is_clamped_to_five_minutes_and_a_day() -> None:
    assert next_analysis_at(T, 3_600_000, None) == T + timedelta(hours=1)
    assert next_analysis_at(T, 1_000, None) == T + timedelta(minutes=5)
    assert next_analysis_at(T, 10**9, None) == T + timedelta(hours=24)
    assert next_analysis_at(T, None, 600_000) == T + timedelta(minutes=10)
    assert next_analysis_at(T, None, None) == T + timedelta(minutes=5)  # cron


def test_budget_period_is_the_utc_month() -> None:
    assert budget_period(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == "2026-01"
    assert budget_period(datetime(2025, 12, 31, 23, 59, tzinfo=UTC)) == "2025-12"


def test_a_first_body_after_a_sibling_caused_session_is_still_analysed() -> None:
    # A sibling's change analysed this endpoint before it had ever run; its first body then
    # marked it due. That mark alone makes it due once it has run since the session.
    last = session(T - timedelta(minutes=3), next_analysis_at=T + timedelta(hours=1))
    ran = T - MIN
    marked = ep(last_run_at=ran, analysis_due_at=ran, signal_fingerprint="abc")
    assert verdict(marked, last, {}, T).reason == "marked"
    assert verdict(replace(marked, analysis_due_at=T + MIN), last, {}, T).reason is None


def test_a_change_during_the_last_session_still_counts() -> None:
    # A session recorded without siblingsSeen (before it was kept) counts from its start: it
    # read its siblings at 11:59:30 and finished at 12:00:00; a sibling changed at 11:59:45.
    last = session(T, duration_ms=30_000)
    during, before = {"s": T - timedelta(seconds=15)}, {"s": T - timedelta(seconds=45)}
    assert verdict(ep(), last, during, T + MIN_GAP).reason == "sibling_change"
    assert verdict(ep(), last, before, T + MIN_GAP).reason is None


def test_sibling_news_is_what_the_last_session_did_not_read() -> None:
    # The session started at 11:59:30 having read sibling s as changed at 11:59:00.
    read = T - timedelta(minutes=1)
    last = session(T, duration_ms=30_000, siblings_seen={"s": read})
    later = T + MIN_GAP
    assert verdict(ep(), last, {"s": read}, later).reason is None
    # Stamped before the session started but written after it read the job: still news.
    assert verdict(ep(), last, {"s": read + timedelta(seconds=10)}, later).reason == (
        "sibling_change"
    )
    # Read by the session although stamped after it started: not news again.
    seen_late = session(T, duration_ms=30_000, siblings_seen={"s": T - timedelta(seconds=5)})
    assert verdict(ep(), seen_late, {"s": T - timedelta(seconds=5)}, later).reason is None
    # A sibling the session never saw change.
    assert verdict(ep(), last, {"s": read, "new": T - MIN}, later).reason == "sibling_change"


def test_an_own_change_right_after_a_session_it_did_not_cause_is_read_at_once() -> None:
    # A sibling's change analysed the endpoint at 12:00; its own answer changed 3 ms later.
    changed = ep(last_run_at=T, state_changed_at=T + timedelta(milliseconds=3))
    now = T + timedelta(seconds=1)
    for trigger in ("sibling_change", "first_analysis", "scheduled", "marked"):
        last = session(T, trigger=trigger)
        assert verdict(changed, last, {}, now).reason == "state_change", trigger
    # Own changes still come at most once a minute, and so do sessions recorded before the
    # trigger was kept.
    for gated in ("state_change", None):
        found = verdict(changed, session(T, trigger=gated), {}, now)
        assert not found.analyse and found.next_due == T + MIN_GAP, gated
    # A sibling's change right after a sibling-caused session waits for the gap.
    found = verdict(ep(), session(T, trigger="sibling_change"), {"s": now}, now)
    assert not found.analyse and found.next_due == T + MIN_GAP
    # A first look (usually before anything answered) never holds back what comes next.
    first = session(T, trigger="first_analysis", siblings_seen={})
    assert verdict(ep(), first, {"s": now}, now).reason == "sibling_change"


def test_siblings_a_reflex_watches_are_not_news() -> None:
    # The endpoint's reflex reads sibling s: the reflex acts on its changes, the model does not
    # need to look; a change of another sibling is still news.
    last = session(T - timedelta(minutes=10), siblings_seen={})
    changed = {"s": T - MIN}
    assert verdict(ep(), last, changed, T).reason == "sibling_change"
    assert verdict(ep(), last, changed, T, watched=frozenset({"s"})).reason is None
    both = {"s": T - MIN, "t": T - MIN}
    assert verdict(ep(), last, both, T, watched=frozenset({"s"})).reason == "sibling_change"


def test_a_mark_alone_makes_an_endpoint_due_run_or_not() -> None:
    # A reflex fired on the endpoint (a pause: it will not run) and marked it.
    last = session(T - timedelta(minutes=10), next_analysis_at=T + timedelta(hours=1))
    assert verdict(ep(analysis_due_at=T - MIN), last, {}, T).reason == "marked"


def test_first_answers_pending_are_the_soon_due_first_runs_of_the_others() -> None:
    now = T
    never = {"last_run_at": None}
    job = [
        ep(id="self", next_run_at=now + MIN, **never),  # the endpoint itself: not counted
        ep(id="soon", next_run_at=now + 2 * MIN, **never),
        ep(id="sooner", next_run_at=now + MIN, **never),
        ep(id="ran", next_run_at=now + MIN, last_run_at=now - MIN),
        ep(id="far", next_run_at=now + FIRST_ANSWERS_WINDOW + MIN, **never),
        ep(id="paused", next_run_at=now + MIN, paused_until=now + MIN, **never),
        ep(id="gone", next_run_at=now + MIN, archived_at=now - MIN, **never),
        ep(id="stuck", next_run_at=now - FIRST_ANSWER_GRACE - MIN, **never),
    ]
    assert first_answers_pending(job, "self", now) == now + 2 * MIN
    assert first_answers_pending(job[2:], "self", now) == now + MIN
    # Late, but within the grace: still waited for.
    slot = now - FIRST_ANSWER_GRACE + timedelta(seconds=1)
    late = ep(id="late", next_run_at=slot, **never)
    assert first_answers_pending([late], "self", now) == slot
    assert first_answers_pending([late], "self", now + timedelta(seconds=1)) is None
    assert first_answers_pending(job[3:], "self", now) is None
    assert first_answers_pending([], "self", now) is None


def test_a_job_starting_up_reads_its_first_answers_in_one_round() -> None:
    # Every endpoint had its first look at creation; traffic answered first, orders answers
    # in two minutes: the endpoint waits for it instead of looking once per first answer.
    looked = session(T - 2 * MIN, trigger="first_analysis", siblings_seen={})
    next_first = T + 2 * MIN
    first = {"traffic": T - timedelta(seconds=1)}
    held = verdict(ep(), looked, first, T, first_answers_until=next_first)
    assert not held.analyse and held.next_due == next_first + FIRST_ANSWER_GRACE
    # Nothing pending: a first answer is news at once (a job set up while degraded).
    assert verdict(ep(), looked, first, T).reason == "sibling_change"
    # A change of a sibling the session had read is never held back.
    read = session(T - 2 * MIN, siblings_seen={"traffic": T - 3 * MIN})
    changed = {"traffic": T - timedelta(seconds=1)}
    found = verdict(ep(), read, changed, T, first_answers_until=next_first)
    assert found.reason == "sibling_change"
    # Nor is a mix of a first answer and a change.
    mixed = {"traffic": T - timedelta(seconds=1), "orders": T - timedelta(seconds=1)}
    found = verdict(ep(), read, mixed, T, first_answers_until=next_first)
    assert found.reason == "sibling_change"
    # Nor the endpoint's own change, nor its requested look.
    own = ep(last_run_at=T - timedelta(seconds=1), state_changed_at=T - timedelta(seconds=1))
    assert verdict(own, looked, first, T, first_answers_until=next_first).reason == ("state_change")
    asked = replace(looked, next_analysis_at=T - timedelta(seconds=1))
    assert verdict(ep(), asked, first, T, first_answers_until=next_first).reason == "scheduled"
    # A never-analysed endpoint is looked at within a minute whatever is pending.
    assert verdict(ep(), None, first, T, first_answers_until=next_first).analyse
    # A requested look sooner than the pending answers stays the next due time.
    soon = replace(looked, next_analysis_at=T + MIN)
    assert verdict(ep(), soon, first, T, first_answers_until=next_first).next_due == T + MIN


# --- an answer read before its run settled -------------------------------------------------


def test_a_change_names_the_start_of_the_run_whose_answer_made_it() -> None:
    ran = ep(last_run_at=T + timedelta(seconds=2))  # planned from its slot, claimed early
    assert observe_run(ep(), ran, "abc", T + MIN, T).endpoint.state_changed_by == T
    assert observe_run(ep(), ran, "abc", T + MIN).endpoint.state_changed_by == ran.last_run_at
    same = ep(signal_fingerprint="abc")
    assert observe_run(same, same, "abc", T + MIN, T).endpoint.state_changed_by is None


def test_changes_read_are_those_made_by_answers_the_last_session_read() -> None:
    last = session(T, answers_read={"e1": T - MIN, "e2": T - MIN})
    job = [
        ep(id="e1", state_changed_at=T + MIN, state_changed_by=T - MIN),  # this answer
        ep(id="e2", state_changed_at=T + MIN, state_changed_by=T),  # a newer one
        ep(id="e3", state_changed_at=T + MIN, state_changed_by=T - 2 * MIN),  # never read
        ep(id="e4", state_changed_at=T + MIN),  # stamped by the release before
    ]
    assert changes_read(job, last) == {"e1"}
    assert changes_read(job, session(T)) == frozenset()  # recorded by the release before
    assert changes_read(job, None) == frozenset()


def test_an_own_change_read_is_neither_news_nor_a_mark() -> None:
    # The settle stamped the change and its mark after the session that read the answer.
    last = session(T, trigger="first_analysis", answers_read={"e1": T - MIN})
    settled = ep(
        last_run_at=T - MIN,
        state_changed_at=T + timedelta(seconds=1),
        state_changed_by=T - MIN,
        analysis_due_at=T + timedelta(seconds=1),
    )
    later = T + timedelta(seconds=10)
    assert verdict(settled, last, {}, later).reason == "state_change"  # unknown: news
    found = verdict(settled, last, {}, later, read={"e1"})
    assert found.reason is None and found.next_due == last.next_analysis_at
    # A mark that is not the change's own (a reflex acted, say) still counts.
    marked = replace(settled, analysis_due_at=T + timedelta(seconds=5))
    assert verdict(marked, last, {}, later, read={"e1"}).reason == "marked"


def test_a_sibling_change_read_is_not_news() -> None:
    last = session(T, trigger="first_analysis", siblings_seen={}, answers_read={"e2": T - MIN})
    siblings = {"e2": T + timedelta(seconds=1)}
    later = T + timedelta(seconds=10)
    assert verdict(ep(), last, siblings, later).reason == "sibling_change"
    assert verdict(ep(), last, siblings, later, read={"e2"}).reason is None
