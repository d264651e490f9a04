"""The virtual-time simulator: the real engine and planner against simulated endpoints.

In-process moto holds the tables; a ManualClock jumps from event to event (a slot message
becoming visible, an analysis message becoming visible, the dispatcher's and the analysis
tick), so hours of schedule run in seconds. The runs and analysis queues are emulated in
memory with SQS's delays; the real Executor calls a simulated caller (no network), the real
Analyzer runs sessions through the real tools with whatever ChatModel is plugged in.

Executors run in parallel in production; here calls run one after another, each taking one
millisecond of virtual time (the reply's duration is what gets recorded), so every event has
its own instant and nothing is made artificially late.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from moto import mock_aws

from bench.scenarios.spec import FOREVER, Moment, Reply, Response, Scenario
from bench.scenarios.trace import (
    Message,
    Origin,
    RunRecord,
    SessionRecord,
    StateRecord,
    Trace,
    classify,
)
from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.domain.entities import Endpoint
from chalicelib.domain.schemas import (
    EndpointCreate,
    JobCreate,
    PauseRequest,
    TenantCreate,
    TenantLimitsInput,
)
from chalicelib.domain.timeutil import iso
from chalicelib.engine.caller import Caller, CallRequest, CallResult
from chalicelib.engine.dispatch import dispatch
from chalicelib.engine.execute import Executor
from chalicelib.engine.queue import MAX_DELAY_S, QueuedSlot, delay_seconds
from chalicelib.infra import provision
from chalicelib.planner.analyze import Analyzer, JobReport
from chalicelib.planner.dispatch import dispatch_analysis
from chalicelib.planner.model import ChatModel
from chalicelib.planner.queue import JobRef
from chalicelib.services.accounts import create_tenant
from chalicelib.services.controls import set_pause
from chalicelib.services.endpoints import create_endpoint
from chalicelib.services.jobs import create_job
from chalicelib.settings import Settings
from chalicelib.store.endpoints import EndpointRepo
from chalicelib.store.models import TABLES

REGION = "us-east-1"
STACK = "cp-sim"
TENANT = "sim"
HOST = "https://sim.example"
CALL_TIME = timedelta(milliseconds=1)
SETTINGS = Settings(table_prefix=STACK, region=REGION, due_shards=1, offline=True)

Kind = Literal["slot", "analysis", "dispatch", "analysis-tick"]


def _isolate_env() -> None:
    """Fake credentials and no endpoint overrides: moto intercepts in process."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
        os.environ.pop(name, None)


@contextmanager
def sandbox() -> Iterator[None]:
    """In-process moto with Cronpilot's tables. Nested uses share one backend, so callers
    running several simulations open it once and each simulation only empties the tables."""
    _isolate_env()
    with mock_aws():
        provision(STACK, REGION)
        yield


@contextmanager
def _quiet() -> Iterator[None]:
    """Keep the engine's per-run INFO logs out of a simulation's output."""
    logger = logging.getLogger("cronpilot")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def _drop_metrics() -> None:
    """Handlers flush metrics once per invocation; events here are not invocations, so the
    data points are dropped (left alone they pile up and print themselves every 100)."""
    module = sys.modules.get("chalicelib.observability")
    metrics: Any = getattr(module, "metrics", None)
    if metrics is not None:
        metrics.clear_metrics()


def _empty_tables() -> None:
    """Delete every item of the (bound) tables: each simulation starts from nothing."""
    for model, _ in TABLES.values():
        keys = [
            a.attr_name for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key
        ]
        with model.batch_write() as batch:
            for item in model.scan(attributes_to_get=keys):
                batch.delete(item)


@dataclass(order=True)
class _Event:
    when: datetime
    seq: int
    kind: Kind = field(compare=False)
    payload: Any = field(compare=False, default=None)


class Agenda:
    """Events in time order, first in first out at equal times."""

    def __init__(self) -> None:
        self._heap: list[_Event] = []
        self._seq = itertools.count()

    def push(self, when: datetime, kind: Kind, payload: Any = None) -> None:
        heapq.heappush(self._heap, _Event(when, next(self._seq), kind, payload))

    def next_time(self) -> datetime | None:
        return self._heap[0].when if self._heap else None

    def pop(self) -> _Event:
        return heapq.heappop(self._heap)


class SlotQueue:
    """The runs queue: a slot becomes visible on its second, as SQS's delay makes it."""

    def __init__(self, agenda: Agenda) -> None:
        self._agenda = agenda
        self.sent = 0

    def send(self, slots: Sequence[QueuedSlot], now: datetime) -> None:
        for slot in slots:
            self.sent += 1
            self._agenda.push(now + timedelta(seconds=delay_seconds(slot.at, now)), "slot", slot)


class AnalysisQueue:
    """The analysis queue; records each message with what sent it."""

    def __init__(self, agenda: Agenda, clock: ManualClock, start: datetime) -> None:
        self._agenda = agenda
        self._clock = clock
        self._start = start
        self.origin: Origin = "tick"
        self.messages: list[Message] = []

    def send(self, jobs: Iterable[JobRef], delay_s: int = 0) -> None:
        now = self._clock.now()
        delay = max(0, min(MAX_DELAY_S, delay_s))
        for ref in dict.fromkeys(jobs):
            self.messages.append(Message(now - self._start, self.origin, delay))
            self._agenda.push(now + timedelta(seconds=delay), "analysis", ref)


class SimCaller:
    """Answers each call from the scenario's body function of the endpoint the URL names."""

    def __init__(self, scenario: Scenario, clock: ManualClock) -> None:
        self._specs = {f"{HOST}/{spec.key}": spec for spec in scenario.endpoints}
        self._clock = clock
        self._start = scenario.start
        self.history: dict[str, list[Response]] = {spec.key: [] for spec in scenario.endpoints}

    def call(self, request: CallRequest, signing_key: str | None = None) -> CallResult:
        spec = self._specs[request.url]
        now = self._clock.now()
        at = now - self._start
        answer = spec.body(Moment(at, now, self.history))
        reply = answer if isinstance(answer, Reply) else Reply(answer)
        self.history[spec.key].append(Response(at, reply.body))
        self._clock.advance(CALL_TIME)
        if reply.ok:
            return CallResult("success", reply.duration_ms, reply.status_code, reply.body)
        return CallResult(
            "failed",
            reply.duration_ms,
            reply.status_code,
            reply.body,
            error_message=f"HTTP {reply.status_code}",
            error_kind="http_status",
        )


class TracingEndpoints(EndpointRepo):
    """The endpoint repository, recording every saved state (all schedule changes are saves)."""

    def __init__(self, clock: ManualClock, start: datetime) -> None:
        super().__init__()
        self._clock = clock
        self._start = start
        self.keys: dict[str, str] = {}  # endpoint id -> scenario key
        self.latest: dict[str, Endpoint] = {}
        self.states: list[StateRecord] = []

    def track(self, key: str, endpoint: Endpoint) -> None:
        """Follow a created endpoint under its scenario key, from its first state."""
        self.keys[endpoint.id] = key
        self.states.append(self._record(key, endpoint))

    def save(self, endpoint: Endpoint, before: Endpoint | None = None) -> Endpoint:
        saved = super().save(endpoint, before)
        self.latest[saved.id] = saved
        key = self.keys.get(saved.id)
        if key is not None:
            self.states.append(self._record(key, saved))
        return saved

    def _record(self, key: str, ep: Endpoint) -> StateRecord:
        def rel(t: datetime | None) -> timedelta | None:
            return None if t is None else t - self._start

        return StateRecord(
            key=key,
            at=self._clock.now() - self._start,
            next_run=ep.next_run_at - self._start,
            paused_until=rel(ep.paused_until),
            hint_interval_ms=ep.ai_hint_interval_ms,
            hint_expires=rel(ep.ai_hint_expires_at),
        )


class World:
    """One scenario's tenant, jobs and endpoints on fresh tables, and the event loop."""

    def __init__(self, scenario: Scenario, model: ChatModel | None, policy: str) -> None:
        self.scenario = scenario
        self.clock = ManualClock(scenario.start)
        self.agenda = Agenda()
        self.endpoints = TracingEndpoints(self.clock, scenario.start)
        self.slots = SlotQueue(self.agenda)
        self.analysis = AnalysisQueue(self.agenda, self.clock, scenario.start)
        self.deps = Deps(
            settings=SETTINGS,
            clock=self.clock,
            endpoints=self.endpoints,
            queue=self.slots,
            analysis_queue=self.analysis,
            planner_model=model,
        )
        # The executor only calls `.call`, which the simulated caller has with the same signature.
        self.deps.caller = cast(Caller, SimCaller(scenario, self.clock))
        self.executor = Executor(self.deps)
        self.analyzer = Analyzer(self.deps, model)
        self.trace = Trace(scenario, policy)

    def build(self) -> None:
        d = self.deps
        limits = TenantLimitsInput(ai_monthly_tokens=10_000_000_000)
        tenant, _, _ = create_tenant(d, TenantCreate(name="Simulation", id=TENANT, limits=limits))
        jobs = {
            spec.key: create_job(d, tenant, JobCreate(name=spec.name, description=spec.description))
            for spec in self.scenario.jobs
        }
        for spec in self.scenario.endpoints:
            request = EndpointCreate.model_validate(spec.api_fields(f"{HOST}/{spec.key}"))
            created = create_endpoint(d, tenant, jobs[spec.job].id, request)
            self.endpoints.track(spec.key, created)
            if spec.paused:
                set_pause(
                    d,
                    tenant,
                    created.id,
                    PauseRequest.model_validate({"pausedUntil": iso(FOREVER)}),
                )

    def run(self) -> Trace:
        started = time.perf_counter()
        begin = self.scenario.start
        end = begin + self.scenario.duration
        period = timedelta(seconds=SETTINGS.dispatch_period_s)
        analysis_period = timedelta(seconds=SETTINGS.analysis_period_s)
        self.agenda.push(begin + period, "dispatch")
        self.agenda.push(begin + analysis_period, "analysis-tick")
        while (when := self.agenda.next_time()) is not None and when <= end:
            event = self.agenda.pop()
            if event.when > self.clock.now():
                self.clock.set(event.when)
            self._handle(event, period, analysis_period)
            _drop_metrics()
        if self.clock.now() < end:
            self.clock.set(end)
        self.trace.states = self.endpoints.states
        self.trace.messages = self.analysis.messages
        self.trace.wall_s = time.perf_counter() - started
        return self.trace

    def _handle(self, event: _Event, period: timedelta, analysis_period: timedelta) -> None:
        now = self.clock.now()
        if event.kind == "slot":
            self.analysis.origin = "urgent"
            self._run(event.payload)
        elif event.kind == "analysis":
            self.analysis.origin = "follow-up"
            self._analyse(event.payload)
        elif event.kind == "dispatch":
            dispatch(self.deps, self.slots, now)
            self.agenda.push(event.when + period, "dispatch")
        else:
            self.analysis.origin = "tick"
            dispatch_analysis(self.deps, self.analysis, now)
            self.agenda.push(event.when + analysis_period, "analysis-tick")

    def _run(self, slot: QueuedSlot) -> None:
        states = len(self.endpoints.states)
        run = self.executor.run_slot(slot)
        if run is None:
            return
        start = self.scenario.start
        self.trace.lateness_ms.append(int((run.started_at - slot.at) / timedelta(milliseconds=1)))
        self.trace.runs.append(
            RunRecord(
                key=self.endpoints.keys[run.endpoint_id],
                at=run.started_at - start,
                slot=slot.at - start,
                source=run.source,
                ok=run.status == "success",
                body=run.response_body,
                states=states,
            )
        )

    def _analyse(self, ref: JobRef) -> None:
        before = dict(self.endpoints.latest)
        states = len(self.endpoints.states)
        report = self.analyzer.analyse_job(ref)
        self._record(report, before, states)

    def _record(self, report: JobReport, before: dict[str, Endpoint], states: int) -> None:
        start = self.scenario.start
        for session in report.sessions:
            prior = before[session.endpoint_id]
            decisions = tuple(
                d
                for call in session.tool_calls
                if (d := classify(call.tool, call.args, call.result, prior, session.analyzed_at))
            )
            errors = sum(
                1 for c in session.tool_calls if isinstance(c.result, dict) and "error" in c.result
            )
            self.trace.sessions.append(
                SessionRecord(
                    key=self.endpoints.keys[session.endpoint_id],
                    at=session.analyzed_at - start,
                    reason=report.reasons.get(session.endpoint_id),
                    status=session.status,
                    tokens=session.token_usage or 0,
                    tools=tuple(c.tool for c in session.tool_calls),
                    decisions=decisions,
                    errors=errors,
                    states=states,
                )
            )


def simulate(scenario: Scenario, model: ChatModel | None, policy: str = "scripted") -> Trace:
    """Run `scenario` to its end with `model` as the planner (None: no planner at all)."""
    with sandbox(), _quiet():
        world = World(scenario, model, policy)  # binds the models to the simulation's tables
        _empty_tables()
        world.build()
        return world.run()
