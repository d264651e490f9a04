"""Data movement: the seed's volume-based sync and its ETL pipeline's batch hand-off
(pattern 2), both over hours of simulated time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from bench.scenarios import rules as r
from bench.scenarios.scripted import Call, Observation, Rule
from bench.scenarios.spec import (
    EndpointSpec,
    Expect,
    History,
    JobSpec,
    Moment,
    Phase,
    Response,
    Scenario,
    minutes,
    seconds,
)
from chalicelib.domain.timeutil import iso

Found = Callable[[History], timedelta | None]

# Volume-based sync -----------------------------------------------------------------------

SYNC = "Sync Pending Records"
ARRIVALS_PER_MIN = 20
BURSTS = ((minutes(60) + seconds(20), 5000), (minutes(200) + seconds(20), 8000))
BATCH = 500
SYNC_DURATION = timedelta(hours=5)


def _arrived(at: timedelta) -> int:
    steady = int(at.total_seconds() // 60) * ARRIVALS_PER_MIN
    return steady + sum(count for when, count in BURSTS if when <= at)


def _sync(m: Moment) -> dict[str, Any]:
    """Each run syncs up to a batch of what has arrived and not been synced yet."""
    done = sum(int(r.get(run.body, "records_synced_this_run") or 0) for run in m.runs("sync"))
    pending = _arrived(m.at) - done
    synced = min(pending, BATCH)
    left = pending - synced
    body: dict[str, Any] = {
        "records_pending": left,
        "records_synced_this_run": synced,
        "sync_rate_per_minute": 150,
        "status": "syncing" if left >= 100 else "caught_up",
    }
    if left >= 100:
        body["estimated_completion_minutes"] = left // 150 + 1
    return body


def _sync_rule(o: Observation) -> list[Call]:
    pending = r.get(o.latest, "records_pending")
    if not isinstance(pending, int):
        return r.finish([], r.WATCH)
    if pending > 1000:
        return r.finish(r.retune(o, 30_000, f"{pending} pending", timedelta(hours=2)), r.INCIDENT)
    if pending < 100:
        return r.finish(r.retune(o, 900_000, "caught up", timedelta(hours=24)), r.CALM)
    return r.finish([], r.WATCH)


def _caught_up_after(at: timedelta) -> Found:
    """The first run after `at` that reported fewer than 100 pending once the backlog hit."""

    def find(history: History) -> timedelta | None:
        runs = [run for run in history.get("sync", ()) if run.at >= at]
        busy = next(
            (i for i, run in enumerate(runs) if r.get(run.body, "status") == "syncing"), None
        )
        if busy is None:
            return None
        done = (run.at for run in runs[busy:] if r.get(run.body, "status") == "caught_up")
        return next(done, None)

    return find


def _sync_wasted(key: str, run: Response, history: History) -> bool:
    """A run less than 15 minutes after one that reported fewer than 100 pending: the
    description says to slow down when caught up."""
    runs = history.get(key, ())
    index = next(i for i, x in enumerate(runs) if x is run)
    if index == 0:
        return False
    before = runs[index - 1]
    caught_up = int(r.get(before.body, "records_pending") or 0) < 100
    return caught_up and run.at - before.at < minutes(15) - seconds(1)


def volume_sync() -> Scenario:
    """The seed's volume-based sync: pending volume drives the polling frequency."""
    endpoint = EndpointSpec(
        "sync",
        SYNC,
        _sync,
        "Syncs pending records from external source. Poll frequently when records_pending is "
        "high (>1000). Slow down when caught up (<100 pending). Volume in response body drives "
        "frequency.",
        interval_ms=300_000,
        min_ms=30_000,
        max_ms=900_000,
    )
    (first, _), (second, _) = BURSTS
    expects = (
        Expect("sync", "relax", timedelta(0), minutes(15), "caught up", "sync", minutes(15)),
        Expect("sync", "tighten", first, minutes(16), "5000 pending", "sync", seconds(30)),
        Expect(
            "sync", "relax", _caught_up_after(first), minutes(2), "caught up", "sync", minutes(15)
        ),
        Expect("sync", "tighten", second, minutes(16), "8000 pending", "sync", seconds(30)),
        Expect(
            "sync", "relax", _caught_up_after(second), minutes(2), "caught up", "sync", minutes(15)
        ),
    )
    phases = (
        Phase("steady", timedelta(0), first),
        Phase("burst 1", first, minutes(120)),
        Phase("steady", minutes(120), second),
        Phase("burst 2", second, SYNC_DURATION),
    )
    return Scenario(
        key="volume_sync",
        title="Volume-based sync (seed complete example)",
        summary="20 records/min, bursts of 5000 at 60m20s and 8000 at 200m20s, 500 per run; 5 h",
        duration=SYNC_DURATION,
        jobs=(JobSpec("main", "Data Sync"),),
        endpoints=(endpoint,),
        phases=phases,
        rules={SYNC: _sync_rule},
        expects=expects,
        wasted=_sync_wasted,
        wasted_means="a run less than 15 minutes after one that reported fewer than 100 "
        "pending (caught up: the description says to slow down)",
    )


# ETL batch hand-off ----------------------------------------------------------------------

EXTRACT = "Extract Customer Data"
TRANSFORM = "Transform Customer Data"
LOAD = "Load to Database"
ETL_DURATION = timedelta(hours=27)
IDLE_POLL = timedelta(minutes=30)


def _batch(m: Moment) -> str:
    return m.now.date().isoformat()


def _latest_success(runs: Sequence[Response]) -> Response | None:
    return next((run for run in reversed(runs) if r.get(run.body, "status") == "success"), None)


def _extract(m: Moment) -> dict[str, Any]:
    return {
        "stage": "extract",
        "batch_id": _batch(m),
        "extracted_count": 5000,
        "completed_at": iso(m.now),
        "ready_for_transform": True,
        "status": "success",
    }


def _stage(name: str, upstream: str, flag: str) -> Callable[[Moment], dict[str, Any]]:
    """A stage that processes the upstream's newest finished batch once, and waits otherwise."""

    def body(m: Moment) -> dict[str, Any]:
        source = _latest_success(m.runs(upstream))
        mine = _latest_success(m.runs(name))
        done = r.get(mine.body, "batch_id") if mine else None
        ready = r.get(source.body, "batch_id") if source else None
        if ready is not None and ready != done:
            return {
                "stage": name,
                "batch_id": ready,
                f"{name}ed_count": 5000,
                "completed_at": iso(m.now),
                flag: True,
                "status": "success",
            }
        return {"stage": name, "batch_id": done or "none", "status": "waiting"}

    return body


def _stage_rule(upstream: str) -> Rule:
    """Run at once when the upstream reports a batch this stage has not processed; poll every
    30 minutes while waiting (the hint is renewed at each hand-off)."""

    def rule(o: Observation) -> list[Call]:
        theirs = r.sibling(o, upstream, "batch_id")
        mine = r.get(o.latest, "batch_id")
        ms = int(IDLE_POLL.total_seconds() * 1000)
        if theirs not in (None, "none") and theirs != mine:
            calls = [
                r.run_now(o, f"new batch {theirs}"),
                r.interval(ms, "idle", timedelta(hours=26)),
            ]
            return r.finish(calls, r.CALM)
        return r.finish(r.retune(o, ms, "waiting for a new batch", timedelta(hours=26)), r.CALM)

    return rule


RENEW_WITHIN = timedelta(hours=13)
LOOK_AGAIN = timedelta(hours=12)


def _stage_reflexes(upstream: str, ready: str, changed: bool) -> Rule:
    """Run at once on the upstream's answer that hands a batch on (a reflex); keep polling
    every 30 minutes while waiting (a hint). Sessions come every 12 hours, so the reflex (24 h)
    and the hint (26 h, cut to 1 h by each run_now: see the notes) are renewed in time."""

    def rule(o: Observation) -> list[Call]:
        source = o.sibling_ids.get(upstream)
        if source is None:
            return r.finish([], r.INCIDENT, f"{upstream} is not in this job yet")
        hand_off = r.when(f"body.{ready}", "==", True, endpoint=source)
        if changed:
            # The upstream answers every poll: only a new batch_id is a hand-off.
            hand_off = r.every(r.when("body.batch_id", "changed", endpoint=source), hand_off)
        wanted = [
            r.reflex(hand_off, {"action": "run_now"}, f"{upstream} handed a batch on", minutes(10))
        ]
        calls = r.keep_reflexes(o, wanted, RENEW_WITHIN)
        ms = int(IDLE_POLL.total_seconds() * 1000)
        expires = r.hint_expires(o)
        if r.hint_interval(o) != ms or expires is None or expires - o.now <= RENEW_WITHIN:
            calls.append(r.interval(ms, "waiting for a new batch", timedelta(hours=26)))
        return r.finish(calls, LOOK_AGAIN)

    return rule


def _processed(stage: str, after: timedelta) -> Found:
    """When `stage` first processed a batch after `after`."""

    def find(history: History) -> timedelta | None:
        runs = history.get(stage, ())
        return next(
            (run.at for run in runs if run.at >= after and r.get(run.body, "status") == "success"),
            None,
        )

    return find


def _etl_wasted(key: str, run: Response, history: History) -> bool:
    """A transform or load run with no new batch to process."""
    return key in ("transform", "load") and r.get(run.body, "status") == "waiting"


def etl_pipeline() -> Scenario:
    """Seed pattern 2: extract at 02:00 daily, transform and load hand the batch on."""
    describe = (
        "Polls every minute by default and processes the {up} stage's newest batch once. "
        "Run at once when {up} reports a batch_id this stage has not processed; while waiting, "
        "polling every 30 minutes is enough."
    )
    endpoints = (
        EndpointSpec(
            "extract",
            EXTRACT,
            _extract,
            "Pulls customer data from the external API daily at 02:00 UTC.",
            cron="0 2 * * *",
            method="POST",
        ),
        EndpointSpec(
            "transform",
            TRANSFORM,
            _stage("transform", "extract", "ready_for_load"),
            describe.format(up="Extract"),
            interval_ms=60_000,
            method="POST",
        ),
        EndpointSpec(
            "load",
            LOAD,
            _stage("load", "transform", "pipeline_complete"),
            describe.format(up="Transform"),
            interval_ms=60_000,
            method="POST",
        ),
    )
    day = timedelta(hours=24)
    first, second = timedelta(hours=2), timedelta(hours=26)
    expects = (
        Expect(
            "transform", "relax", timedelta(0), minutes(10), "waiting", "transform", minutes(29)
        ),
        Expect("load", "relax", timedelta(0), minutes(10), "waiting", "load", minutes(29)),
        Expect("transform", "run", first, minutes(2), "extract batch ready", "extract"),
        Expect(
            "load",
            "run",
            _processed("transform", first),
            minutes(2),
            "batch transformed",
            "transform",
        ),
        Expect("transform", "run", second, minutes(2), "extract batch ready", "extract"),
        Expect(
            "load",
            "run",
            _processed("transform", second),
            minutes(2),
            "batch transformed",
            "transform",
        ),
    )
    phases = (
        Phase("before extract", timedelta(0), first),
        Phase("day 1", first, first + day),
        Phase("day 2", second, ETL_DURATION),
    )
    return Scenario(
        key="etl_handoff",
        title="ETL batch hand-off (seed pattern 2)",
        summary="extract at 02:00 daily (cron), transform and load at a 1-min baseline; 27 h, "
        "two hand-offs",
        duration=ETL_DURATION,
        jobs=(JobSpec("main", "Customer Data Pipeline"),),
        endpoints=endpoints,
        phases=phases,
        rules={
            EXTRACT: lambda o: r.finish([], r.QUIET),
            TRANSFORM: _stage_rule(EXTRACT),
            LOAD: _stage_rule(TRANSFORM),
        },
        reflex_rules={
            TRANSFORM: _stage_reflexes(EXTRACT, "ready_for_transform", changed=False),
            LOAD: _stage_reflexes(TRANSFORM, "ready_for_load", changed=True),
        },
        reflex_notes=(
            "Transform's reflex fires on Extract's answer itself (ready_for_transform), so the "
            "day-1 batch no longer waits for a poll; Load's fires on a new batch_id from "
            "Transform (`changed`, whose first observation is never a change: the reflex must "
            "exist before the upstream's first answer, as it does here). Sessions come every 12 "
            "hours to renew the 24 h reflexes and the 30-minute polling hint with replaceId.",
            "A reflex's run_now resets the expiry shared by all of an endpoint's hints to 1 h "
            "(domain/hints.py with_one_shot, REFLEX_ONE_SHOT_TTL), so the 26 h idle-polling "
            "hint beside it would lapse an hour after each hand-off; the session that the "
            "firing asks for renews it.",
        ),
        expects=expects,
        wasted=_etl_wasted,
        wasted_means="a transform or load run with no new batch to process",
        notes=(
            "Day 1: Extract's first run is its first signal, which by design does not wake its "
            "siblings (domain/analysis.py observe_run), so the batch waits for Transform's own "
            "30-minute poll (2 minutes here by chance, up to 30 in general).",
            "Day 2: Load is analysed at most once a minute (MIN_GAP) and was analysed when "
            "Extract's signal changed, so it reacts to Transform's new batch a minute later.",
        ),
    )
