"""The process's object graph: settings, clock, repositories and the scheduling chokepoint.

Built once per process (Lambda container, local stack) on first use; tests install their own
with `use()` to inject a manual clock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib import secrets
from chalicelib.clock import Clock, SystemClock
from chalicelib.domain.entities import ApiKey, Tenant
from chalicelib.domain.ratelimit import SlidingWindowLimiter
from chalicelib.domain.signing import SigningKey
from chalicelib.engine.caller import Caller
from chalicelib.engine.finished import RunFinishedHub
from chalicelib.engine.incident_watch import IncidentWatch
from chalicelib.engine.mailer import Mailer, OutboxMailer, SesMailer
from chalicelib.engine.notices_queue import NoticeQueue, SqsNoticeQueue
from chalicelib.engine.queue import SlotQueue, SqsSlotQueue
from chalicelib.engine.reflexes import ReflexEngine
from chalicelib.engine.scheduling import Scheduling
from chalicelib.planner import announce
from chalicelib.planner.model import ChatModel
from chalicelib.planner.queue import AnalysisQueue, SqsAnalysisQueue
from chalicelib.sealing.envelope import Sealer
from chalicelib.sealing.keyrings import keyring_for
from chalicelib.settings import Settings, get_settings
from chalicelib.store import models
from chalicelib.store.alert_policies import AlertPolicyRepo
from chalicelib.store.cache import TtlCache
from chalicelib.store.channels import ChannelRepo
from chalicelib.store.deliveries import DeliveryRepo
from chalicelib.store.endpoints import EndpointRepo
from chalicelib.store.incidents import IncidentRepo
from chalicelib.store.jobs import JobRepo
from chalicelib.store.outbox import OutboxRepo
from chalicelib.store.ratelimits import DynamoCounters
from chalicelib.store.reflexes import ReflexRepo
from chalicelib.store.runs import RunRepo
from chalicelib.store.sessions import SessionRepo
from chalicelib.store.signing_keys import SigningKeyRepo
from chalicelib.store.tenants import ApiKeyRepo, TenantRepo


@dataclass
class Deps:
    settings: Settings
    clock: Clock
    tenants: TenantRepo = field(default_factory=TenantRepo)
    keys: ApiKeyRepo = field(default_factory=ApiKeyRepo)
    signing_keys: SigningKeyRepo = field(default_factory=SigningKeyRepo)
    jobs: JobRepo = field(default_factory=JobRepo)
    endpoints: EndpointRepo = field(default_factory=EndpointRepo)
    runs: RunRepo = field(default_factory=RunRepo)
    sessions: SessionRepo = field(default_factory=SessionRepo)
    reflexes: ReflexRepo = field(default_factory=ReflexRepo)
    incidents: IncidentRepo = field(default_factory=IncidentRepo)
    channels: ChannelRepo = field(default_factory=ChannelRepo)
    deliveries: DeliveryRepo = field(default_factory=DeliveryRepo)
    alert_policies: AlertPolicyRepo = field(default_factory=AlertPolicyRepo)
    outbox: OutboxRepo = field(default_factory=OutboxRepo)
    limiter: SlidingWindowLimiter = field(
        default_factory=lambda: SlidingWindowLimiter(DynamoCounters())
    )
    scheduling: Scheduling = field(init=False)
    auth_cache: TtlCache[tuple[Tenant, ApiKey]] = field(init=False)
    caller: Caller = field(init=False)
    signing_cache: TtlCache[SigningKey] = field(init=False)
    run_finished: RunFinishedHub = field(init=False)
    # The dashboard's 24-hour run counts per tenant (web/views.py): a tenant-wide read that the
    # live overview would otherwise repeat every few seconds.
    dashboard_counts: TtlCache[tuple[int, int, int]] = field(
        default_factory=lambda: TtlCache(timedelta(seconds=60))
    )
    # Seals secret header values at rest (KMS on AWS, a key file locally).
    sealer: Sealer = field(init=False)
    # Opens and closes incidents as runs settle; finds late slots and due reminders.
    incident_watch: IncidentWatch = field(init=False)
    # Alert email: SES, or the local outbox (settings.mailer).
    mailer: Mailer = field(init=False)
    queue: SlotQueue | None = None
    analysis_queue: AnalysisQueue | None = None
    notices_queue: NoticeQueue | None = None
    # None when no provider is configured: analysis is off, scheduling unaffected.
    planner_model: ChatModel | None = None
    # When this process last looked for endpoints in retired due shards (engine/shards.py).
    shards_checked_at: datetime | None = None

    def __post_init__(self) -> None:
        models.bind(self.settings)
        self.auth_cache = TtlCache(timedelta(seconds=self.settings.auth_cache_seconds))
        self.signing_cache = TtlCache(timedelta(seconds=60))
        self.sealer = Sealer(keyring_for(self.settings))
        # One caller (one connection pool) per process, reused by every execution.
        self.caller = Caller(
            allow_private=self.settings.allow_private_targets,
            now_s=lambda: self.clock.now().timestamp(),
            resolver=refuse_dns if self.settings.offline else None,
        )
        self.scheduling = Scheduling(
            self.endpoints,
            self.clock,
            self.settings.due_shards,
            queue=self.queue,
            lookahead=timedelta(seconds=self.settings.dispatch_lookahead_s),
        )
        self.mailer = (
            OutboxMailer(self.settings.alerts_from, self.outbox)
            if self.settings.mailer == "outbox"
            else SesMailer(self.settings.alerts_from, self.settings.region)
        )
        # What happens after a run settles, in order: the planner hears of a state change,
        # then reflexes act on it, then incidents open or close (their notices are queued).
        self.run_finished = RunFinishedHub()
        self.run_finished.subscribe(announce.on_run_finished(self))
        self.run_finished.subscribe(ReflexEngine(self).on_run_finished)
        self.incident_watch = IncidentWatch(self)
        self.run_finished.subscribe(self.incident_watch.on_run_finished)

    def require_queue(self) -> SlotQueue:
        """The runs queue; the process-wide dependencies always have one."""
        if self.queue is None:
            raise RuntimeError("no runs queue configured")
        return self.queue

    def require_analysis_queue(self) -> AnalysisQueue:
        """The analysis queue; the process-wide dependencies always have one."""
        if self.analysis_queue is None:
            raise RuntimeError("no analysis queue configured")
        return self.analysis_queue


def _planner_model(settings: Settings, clock: Clock) -> ChatModel | None:
    if not settings.ai_configured:
        return None
    # Imported here: openai costs cold-start time that only the analyzer should pay.
    from chalicelib.planner.openai_model import OpenAIChatModel

    return OpenAIChatModel(settings, clock)


def refuse_dns(host: str, port: int) -> list[str]:
    """Offline mode (CRONPILOT_OFFLINE): names are never looked up; IP literals still work."""
    raise OSError(f"offline mode: {host} is not looked up")


_current: Deps | None = None
_lock = threading.Lock()


def get() -> Deps:
    """The process-wide dependencies, built on first use from the environment."""
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                settings = secrets.resolve(get_settings())
                clock = SystemClock()
                _current = Deps(
                    settings=settings,
                    clock=clock,
                    queue=SqsSlotQueue(settings.runs_queue_name, settings.region),
                    analysis_queue=SqsAnalysisQueue(settings.analysis_queue_name, settings.region),
                    notices_queue=SqsNoticeQueue(
                        settings.notifications_queue_name, settings.region
                    ),
                    planner_model=_planner_model(settings, clock),
                )
    return _current


def use(deps: Deps | None) -> None:
    """Install `deps` for this process (None rebuilds from the environment on next use)."""
    global _current
    with _lock:
        _current = deps
