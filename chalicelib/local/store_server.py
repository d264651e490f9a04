"""The store process: moto on loopback standing in for DynamoDB and SQS, saving DynamoDB to disk.

Started by `store_process.StoreProcess` as
`python -m chalicelib.local.store_server --listen-fd N --ready-fd M ...`. The parent binds the
listening socket and hands it over, so it knows the port before this process has even imported
moto and can load the app in parallel. Startup: serve, provision infra/resources.json through
moto's CloudFormation, restore the saved tables, then write `ready` on the ready pipe.

While running, every DynamoDB write goes through `WriteGate`, which counts it; the main loop
saves the tables when the count moved (about once a second), and once more on SIGTERM.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from chalicelib.clock import Clock, SystemClock
from chalicelib.local import persistence

log = logging.getLogger("cronpilot-local.store")

DYNAMODB_TARGET_PREFIX = "DynamoDB_"
SQS_TARGET_PREFIX = "AmazonSQS."
# Everything else DynamoDB accepts counts as a write: an operation moto adds later is then
# saved and serialised rather than silently lost.
READ_ONLY_OPERATIONS = frozenset(
    {
        "BatchGetItem",
        "DescribeContinuousBackups",
        "DescribeEndpoints",
        "DescribeLimits",
        "DescribeTable",
        "DescribeTimeToLive",
        "GetItem",
        "ListBackups",
        "ListGlobalTables",
        "ListTables",
        "ListTagsOfResource",
        "Query",
        "Scan",
        "TransactGetItems",
    }
)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class WriteGate:
    """WSGI wrapper around moto: one DynamoDB write at a time, and a count of them.

    Serialising writes matters beyond saving: moto checks a condition and then applies the
    write without a lock, so two threads could both win a conditional update that DynamoDB
    would let only one win. The saver takes the same lock, so a snapshot never sees half of
    a batch or a transaction.
    """

    def __init__(
        self,
        app: WsgiApp,
        dynamodb: WsgiApp | None = None,
        sqs: WsgiApp | None = None,
    ) -> None:
        self._app = app
        # moto's dispatcher works out the service of every request under one global lock,
        # which made it the local stack's bottleneck under concurrency (profiled: a third of
        # the store's CPU). The hot services are recognised here by their target header and
        # sent straight to their own backend app.
        self._dynamodb = dynamodb or app
        self._sqs = sqs or app
        self.lock = threading.Lock()
        self.writes = 0

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith(SQS_TARGET_PREFIX):
            return self._sqs(environ, start_response)
        if not target.startswith(DYNAMODB_TARGET_PREFIX):
            return self._app(environ, start_response)
        if target.rpartition(".")[2] in READ_ONLY_OPERATIONS:
            return self._dynamodb(environ, start_response)
        with self.lock:
            # Counted under the lock: the saver reads the count and exports under it too, so
            # a saved count always matches the saved content.
            self.writes += 1
            return self._dynamodb(environ, start_response)


class Saver:
    """Saves the tables to the snapshot file when the gate saw writes since the last save."""

    def __init__(
        self,
        gate: WriteGate,
        backend: Any,
        names: Mapping[str, str],
        path: Path,
        clock: Clock,
        interval_s: float = 1.0,
        max_interval_s: float = 2.0,
    ) -> None:
        self._gate = gate
        self._backend = backend
        self._names = dict(names)
        self._path = path
        self._clock = clock
        self._base_interval_s = interval_s
        self._max_interval_s = max(max_interval_s, interval_s)
        self.interval_s = interval_s
        self._saved_writes = gate.writes
        self._last_error: str | None = None

    def mark_saved(self) -> None:
        """Treat the current state as saved (it was just restored from the file)."""
        with self._gate.lock:
            self._saved_writes = self._gate.writes

    def save_if_changed(self) -> bool:
        """Save when something was written since the last save; True when a file was written."""
        started = time.monotonic()
        with self._gate.lock:
            writes = self._gate.writes
            if writes == self._saved_writes:
                return False
            now = self._clock.now()
            tables = persistence.export_tables(self._backend, self._names, now.timestamp())
        # Encoding and writing happen outside the lock: the exported items are fresh copies.
        try:
            persistence.write_atomic(self._path, persistence.encode(tables, now))
        except OSError as exc:
            message = f"cannot save local state to {self._path}: {exc}"
            if message != self._last_error:  # once per distinct problem, not every second
                log.error("%s (will retry)", message)
                self._last_error = message
            return False
        self._last_error = None
        self._saved_writes = writes
        cost = time.monotonic() - started
        # Big tables make a save expensive: space saves out so they take at most about a
        # quarter of the time, but never beyond the promised maximum delay.
        self.interval_s = min(self._max_interval_s, max(self._base_interval_s, 4 * cost))
        return True


def disable_instance_tracking() -> None:
    """Stop moto from keeping every model object it ever creates.

    moto's BaseModel records each instance for its dashboard, including the deep copies of
    items it makes for every Query and Scan answer, so a long-running store grew by about
    2 KB per item returned (measured: 40 KB per 20-item query, never released). The local
    stack has no use for the dashboard; objects are created without the record.
    """
    from moto.core.common_models import BaseModel

    def untracked(cls: type[Any], *args: Any, **kwargs: Any) -> Any:
        return object.__new__(cls)

    BaseModel.__new__ = untracked  # type: ignore[method-assign]


def table_names(stack_name: str) -> dict[str, str]:
    """Snapshot key (table suffix) -> table name, for every table of infra/resources.json."""
    from chalicelib.infra import load_template, table_name

    names: dict[str, str] = {}
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        name = table_name(resource["Properties"]["TableName"], stack_name)
        names[name.removeprefix(f"{stack_name}-")] = name
    return names


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chalicelib.local.store_server")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--save-interval", type=float, default=1.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve moto on the inherited socket until SIGTERM (or the parent is gone); exit code."""
    started = time.monotonic()
    args = _parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s store: %(message)s"
    )
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    stop = threading.Event()
    disable_instance_tracking()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    # The parent starts this process with SIGINT ignored: a Ctrl-C in the terminal reaches the
    # whole process group, and the parent must stop the API before the store goes away.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, request_stop)
    if os.getppid() != args.parent_pid:
        log.error("parent %s is gone before the store started", args.parent_pid)
        return 1

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class Handler(MotoRequestHandler):
        # Headers and body go out in separate writes; without this, keep-alive clients wait
        # for delayed ACKs (STACK-NOTES 1.1 d).
        disable_nagle_algorithm = True

    gate = WriteGate(
        DomainDispatcherApplication(create_backend_app),
        dynamodb=create_backend_app("dynamodb"),
        sqs=create_backend_app("sqs"),
    )
    server = make_server(
        "127.0.0.1", 0, gate, threaded=True, request_handler=Handler, fd=args.listen_fd
    )
    os.close(args.listen_fd)  # the server holds its own duplicate
    # A short poll interval makes shutdown (which waits for the next poll) quick.
    serve = functools.partial(server.serve_forever, poll_interval=0.1)
    serving = threading.Thread(target=serve, name="store-http", daemon=True)
    serving.start()

    from chalicelib.infra import provision

    # AWS_ENDPOINT_URL (set by the parent) points boto3 at this very server.
    provisioning = time.monotonic()
    provision(args.stack_name, args.region)
    provisioned = time.monotonic()
    names = table_names(args.stack_name)
    backend = persistence.dynamodb_backend(args.region)
    clock = SystemClock()
    try:
        tables = persistence.load(args.state_file, clock)
    except OSError as exc:
        log.error("cannot read %s (%s); fix or move it, then start again", args.state_file, exc)
        return 1
    if tables is not None:
        report = persistence.import_tables(backend, names, tables)
        log.info("restored %d items from %s", report.restored, args.state_file)
        if report.missing_tables:
            log.warning("saved tables without a definition: %s", ", ".join(report.missing_tables))
        if report.rejected_items:
            log.warning(
                "%d saved items did not fit the tables and were left out", report.rejected_items
            )
    saver = Saver(gate, backend, names, args.state_file, clock, interval_s=args.save_interval)
    saver.mark_saved()

    log.info(
        "ready in %.1f s (provisioning %.1f s, restore %.1f s)",
        time.monotonic() - started,
        provisioned - provisioning,
        time.monotonic() - provisioned,
    )
    os.write(args.ready_fd, b"ready\n")
    os.close(args.ready_fd)

    while not stop.wait(saver.interval_s):
        saver.save_if_changed()
        if os.getppid() != args.parent_pid:
            # Without prctl (not Linux) this is how an orphaned store notices.
            log.warning("parent %s is gone; stopping", args.parent_pid)
            break
    server.shutdown()
    saver.save_if_changed()
    log.info("stopped; tables saved in %s", args.state_file)
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    # Skip the interpreter's teardown of moto's large module graph (about half a second of
    # a Ctrl-C): the state file is already written and synced.
    os._exit(code)
