"""Start and stop the whole local stack: store process, API server, timers and pollers.

Start order: secrets and environment first (the app reads its settings once), then the store
process (it boots while this process imports the app), then seeding, the API and the event
loops. Stop order is the reverse, so the store goes last (every write it acknowledged is
already in its journal).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from chalicelib.domain.errors import DomainError
from chalicelib.local import heap_trim, seed
from chalicelib.local.options import HOST, LocalOptions
from chalicelib.local.store_process import PROJECT_DIR, StartAborted, StoreError, StoreProcess

if TYPE_CHECKING:
    # Imported when needed: they pull in the app and AWS clients, which must come after the
    # AWS environment is set.
    from chalice.app import Chalice
    from chalice.config import Config

    from chalicelib.local.api_server import ApiServer
    from chalicelib.local.events import EventSources

# Not "cronpilot.local": Chalice(app_name="cronpilot") takes over the "cronpilot" logger
# (ERROR level, stdout, no propagation), which would swallow these messages.
# Analyzers at once: between the reserved concurrency of dev (2) and prod (5).
ANALYZER_POLLERS = 3
# Pollers of the queues other than the runs queue (that one's count is an option). Jobs are
# analysed side by side, as Lambda does, so one job's slow provider never delays another's
# reaction; notices by two, so one slow channel never holds up the others.
POLLERS = {"analyzer": ANALYZER_POLLERS, "notifier": 2}
# Connections of the pollers' SQS client beyond one long poll per poller (queue lookups).
SPARE_CONNECTIONS = 2

log = logging.getLogger("cronpilot-local")

STAGE = "local"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StackError(RuntimeError):
    """The stack cannot start; the message says why and what to do."""


def aws_environment(region: str, store_url: str) -> dict[str, str]:
    """Variables that point every AWS client in a process at the store, with fake credentials.

    AWS_ENDPOINT_URL covers services beyond DynamoDB and SQS too, so nothing the local stack
    does can reach real AWS; the metadata service is never probed for credentials.
    """
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": store_url,
        "AWS_ENDPOINT_URL_DYNAMODB": store_url,
        "AWS_ENDPOINT_URL_SQS": store_url,
    }


def apply_environment(env: MutableMapping[str, str], values: dict[str, str]) -> None:
    """Set `values` in `env`, dropping settings that would send clients elsewhere."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
        env.pop(name, None)
    env.update(values)


@dataclass(frozen=True)
class Banner:
    """What the user needs to start using the stack."""

    base_url: str
    api_key: seed.Secret
    admin_token: seed.Secret
    home: Path
    store_url: str
    planner: str = "off (set OPENAI_API_KEY, and OPENAI_BASE_URL for a local model)"

    def render(self) -> str:
        key_note = f"saved in {self.api_key.file}" if self.api_key.file else "CRONPILOT_API_KEY"
        token_note = (
            f"saved in {self.admin_token.file}"
            if self.admin_token.file
            else "CRONPILOT_ADMIN_TOKEN"
        )
        dashboard = self.base_url.removesuffix("/api") + "/"
        return "\n".join(
            [
                "",
                "Cronpilot local stack is running.",
                f"  API base URL : {self.base_url}",
                f"  API key      : {self.api_key.value}  (tenant 'default'; {key_note})",
                f"  Admin token  : {self.admin_token.value}  ({token_note})",
                f"  State folder : {self.home}",
                f"  Store        : {self.store_url}  (DynamoDB and SQS, served by moto)",
                f"  Reference    : {self.base_url}/reference",
                f"  Dashboard    : {dashboard}  (sign in with the API key)",
                f"  AI planner   : {self.planner}",
                "",
                "Try it:",
                f'  curl -H "x-api-key: {self.api_key.value}" {self.base_url}/jobs',
                "",
                "Press Ctrl-C to stop.",
                "",
            ]
        )


class LocalStack:
    """The running parts; `start` then `stop` (which is safe after a failed start)."""

    def __init__(self, options: LocalOptions, env: MutableMapping[str, str] | None = None) -> None:
        self.options = options
        self._env = os.environ if env is None else env
        self.store: StoreProcess | None = None
        self._api: ApiServer | None = None
        self._events: EventSources | None = None
        self.banner: Banner | None = None

    def start(self, stop: threading.Event) -> Banner:
        """Bring everything up; StackError when it cannot, StartAborted when `stop` is set."""
        from chalicelib.local.api_server import port_is_free

        o = self.options
        if not port_is_free(HOST, o.port):
            raise StackError(
                f"port {o.port} on {HOST} is in use; stop what uses it or set CRONPILOT_PORT"
            )
        seed.ensure_home(o.home)
        admin = seed.admin_token(o.home, o.admin_token)
        # Before the app is imported: settings are read once, on first use.
        self._env["CRONPILOT_ADMIN_TOKEN"] = admin.value
        self._env["CRONPILOT_TABLE_PREFIX"] = o.table_prefix
        self._env.setdefault("CRONPILOT_ALLOW_PRIVATE_TARGETS", "true")
        # Alert email stays on the machine: readable through GET /outbox and `cronpilot outbox`.
        self._env.setdefault("CRONPILOT_MAILER", "outbox")
        if o.port:
            self._env.setdefault("CRONPILOT_PUBLIC_URL", f"http://{HOST}:{o.port}/api")

        def store_env(port: int) -> dict[str, str]:
            env = dict(self._env)
            apply_environment(env, aws_environment(o.region, f"http://{HOST}:{port}"))
            heap_trim.limit_arenas(env)
            return env

        self.store = StoreProcess.spawn(
            state_dir=o.state_dir,
            legacy_file=o.legacy_state_file,
            stack_name=o.table_prefix,
            region=o.region,
            env=store_env,
            sweep_interval_s=o.ttl_sweep_interval_s,
        )
        apply_environment(self._env, aws_environment(o.region, self.store.url))
        log.info("store process %d on %s", self.store.pid, self.store.url)

        app, config = self._load_app()
        self.store.wait_ready(o.startup_timeout_s, stop)

        from chalicelib import deps
        from chalicelib.local.api_server import ApiServer

        api_key = seed.default_tenant(deps.get(), o.home, o.api_key)
        self._api = ApiServer(app, config, HOST, o.port)
        self._api.start()
        from chalicelib.engine.handlers import requeue_after_restart

        # Before the timers and pollers: the first dispatcher tick then finds the slots sent.
        requeue_after_restart()
        self._events = self._start_events(app, config)
        settings = deps.get().settings
        planner = Banner.planner
        if deps.get().planner_model is not None:
            where = settings.ai_base_url or "api.openai.com"
            planner = f"{settings.ai_model} at {where}, every {settings.analysis_period_s} s"
        self.banner = Banner(
            f"http://{HOST}:{self._api.port}/api",
            api_key,
            admin,
            o.home,
            self.store.url,
            planner,
        )
        return self.banner

    def _load_app(self) -> tuple[Chalice, Config]:
        from chalicelib.local.api_server import load_app
        from chalicelib.settings import Settings

        app, config = load_app(PROJECT_DIR, STAGE)
        # The stage's environment_variables were just applied; they must not move the tables
        # away from the ones the store provisioned.
        prefix = Settings.from_env(dict(self._env)).table_prefix
        if prefix != self.options.table_prefix:
            raise StackError(
                f".chalice/config.json stage {STAGE!r} sets CRONPILOT_TABLE_PREFIX={prefix!r}, "
                f"but the store was provisioned for {self.options.table_prefix!r}"
            )
        return app, config

    def _start_events(self, app: Chalice, config: Config) -> EventSources:
        import boto3
        from botocore.config import Config as ClientConfig
        from chalice.local import LambdaContext

        from chalicelib import deps
        from chalicelib.local.events import EventSources

        def context(name: str) -> LambdaContext:
            scoped = config.scope(STAGE, name)
            timeout_s = scoped.lambda_timeout or 60
            return LambdaContext(
                name,
                memory_size=scoped.lambda_memory_size or 128,
                max_runtime_ms=timeout_s * 1000,
            )

        events = EventSources(
            app,
            stage=STAGE,
            region=self.options.region,
            clock=deps.get().clock,
            # Every poller keeps a long poll open on this client: a connection each.
            sqs=boto3.client(
                "sqs",
                region_name=self.options.region,
                config=ClientConfig(
                    max_pool_connections=self.options.pollers_per_queue
                    + sum(POLLERS.values())
                    + SPARE_CONNECTIONS
                ),
            ),
            context_factory=context,
            period_override_s=self.options.schedule_period_s,
            # The dispatcher's local period is a setting of its own (its lookahead follows it).
            periods_s={
                "dispatch": float(deps.get().settings.dispatch_period_s),
                "analyze": float(deps.get().settings.analysis_period_s),
            },
            pollers_per_queue=self.options.pollers_per_queue,
            pollers=POLLERS,
        )
        events.start()
        if events.timers or events.pollers:
            log.info("%d timers, %d queue pollers", len(events.timers), len(events.pollers))
        return events

    def store_alive(self) -> bool:
        """Whether the store process still runs."""
        return self.store is not None and self.store.alive()

    def stop(self) -> None:
        """Stop in reverse order; each part is stopped even if another fails."""
        if self._api is not None:
            try:
                self._api.stop()
            except Exception:
                log.exception("stopping the API server failed")
            self._api = None
        if self._events is not None:
            self._events.stop()
            self._events = None
        if self.store is not None:
            code = self.store.stop()
            if code != 0:
                log.warning("the store exited with code %s", code)
            self.store = None


def _install_stop_handlers(stop: threading.Event) -> Callable[[], None]:
    previous: dict[int, Any] = {}

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            log.info("already stopping")
        stop.set()

    for sig in STOP_SIGNALS:
        previous[sig] = signal.signal(sig, request_stop)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def run(options: LocalOptions, out: TextIO = sys.stdout) -> int:
    """Run the stack in the foreground until SIGINT/SIGTERM/SIGHUP; the process exit code."""
    stop = threading.Event()
    restore = _install_stop_handlers(stop)
    stack = LocalStack(options)
    started = time.monotonic()
    try:
        try:
            banner = stack.start(stop)
        except StartAborted:
            return 0
        except (StackError, StoreError) as exc:
            log.error("%s", exc)
            return 1
        except DomainError as exc:  # e.g. CRONPILOT_API_KEY already belongs to another tenant
            log.error("cannot seed the default tenant: %s", exc.message)
            return 1
        except Exception:
            log.exception("the local stack failed to start")
            return 1
        log.info("started in %.1f s", time.monotonic() - started)
        out.write(banner.render())
        out.flush()
        while not stop.wait(0.5):
            if not stack.store_alive():
                log.error("the store process died; stopping")
                return 1
        log.info("stopping")
        return 0
    finally:
        stopping = time.monotonic()
        stack.stop()
        restore()
        log.info("stopped in %.1f s", time.monotonic() - stopping)
