"""The store process: moto on loopback standing in for DynamoDB and SQS, its tables kept on disk.

Started by `store_process.StoreProcess` as
`python -m chalicelib.local.store_server --listen-fd N --ready-fd M ...`. The parent binds the
listening socket and hands it over, so it knows the port before this process has even imported
moto and can load the app in parallel. Startup: serve, provision infra/resources.json through
moto's CloudFormation, upgrade a version 1 state file if there is one, restore the snapshot and
replay the journal, then write `ready` on the ready pipe.

While running, every DynamoDB item write is journaled before it is acknowledged (write_gate.py);
the main loop folds the journal into the snapshot in a child process when it has grown
(compaction.py), sweeps expired items in passes a minute apart (ttl_sweep.py) and, at each
pass, forgets what moto remembers of long-deleted SQS messages (sqs_trim.py), moves surviving
objects out of the cycle collector's reach (gc_freeze.py) and hands freed heap memory back to the
system (heap_trim.py). Queries read only the partition they ask for
(partition_query.py); a cancelled transaction restores its own items, not a copy of the
tables (transactions.py); SQS receives do not count the whole queue per message and read the
clock directly, and a long poll wakes when a delayed message comes due (sqs_speedups.py);
item answers skip botocore's shape walk, and condition expressions are tokenised once per text
(moto_speedups.py); connections stay open between requests until 20 s idle
(request_handler).
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from chalicelib.clock import Clock, SystemClock
from chalicelib.local import (
    gc_freeze,
    heap_trim,
    journal,
    moto_speedups,
    partition_query,
    persistence,
    sqs_speedups,
    sqs_trim,
    stop_signal,
    transactions,
    ttl_sweep,
)
from chalicelib.local.write_gate import WriteGate

log = logging.getLogger("cronpilot-local.store")

COMPACT_MIN_BYTES = 8 << 20
COMPACT_RATIO = 0.5
COMPACT_MAX_AGE_S = 600.0
# How long a sweep pass waits for a moment with no request in flight to freeze (gc_freeze.py);
# at the soak's 21 runs/s such a moment came within 0.01-0.15 s, requests going on meanwhile.
SETTLE_WAIT_S = 1.0
# How often a sweep pass's settle starts from everything, freeing garbage earlier freezes caught
# despite the fence (gc_freeze.py). It walks the whole heap with the interpreter held (0.6 s at
# 100 000 items, runs due meanwhile start that much late), and bounds what a freeze can keep to
# a quarter of an hour's worth.
FULL_SETTLE_EVERY_S = 900.0
# How long a client's connection may stay idle before the store closes it (request_handler).
IDLE_CONNECTION_S = 20.0


def compaction_due(
    journal_bytes: int, snapshot_bytes: int, since_last_s: float, has_records: bool
) -> bool:
    """Whether to fold the journal into the snapshot now.

    When the journal reaches half the snapshot (and at least COMPACT_MIN_BYTES), so the bytes
    compaction rewrites per journaled byte stay constant however large the tables grow; and at
    least every COMPACT_MAX_AGE_S while anything was journaled, so expired and deleted items
    leave the disk within minutes.
    """
    if not has_records:
        return False
    if journal_bytes >= max(COMPACT_MIN_BYTES, COMPACT_RATIO * snapshot_bytes):
        return True
    return since_last_s >= COMPACT_MAX_AGE_S


class Compactor:
    """Runs compaction.py as a child process when due, one at a time."""

    def __init__(self, gate: WriteGate, directory: Path, clock: Clock) -> None:
        assert gate.journal is not None
        self._gate = gate
        self._journal = gate.journal
        self._directory = directory
        self._clock = clock
        self._process: subprocess.Popen[bytes] | None = None
        self._last = clock.now()
        self.completed = 0
        self.last_rotation_s = 0.0  # how long the last rotation held the gate

    def _sizes(self) -> tuple[int, int, bool]:
        segment_bytes = 0
        has_records = False
        header_bytes = 128  # a segment holding only its header line has nothing to fold
        for _, path in journal.segments(self._directory):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            segment_bytes += size
            has_records = has_records or size > header_bytes
        try:
            snapshot_bytes = (self._directory / persistence.SNAPSHOT).stat().st_size
        except FileNotFoundError:
            snapshot_bytes = 0
        return segment_bytes, snapshot_bytes, has_records

    def tick(self) -> None:
        """Reap a finished compaction; start one when due."""
        if self._process is not None:
            code = self._process.poll()
            if code is None:
                return
            if code == 0:
                self.completed += 1
            else:
                log.warning("compaction exited with code %s; the journal is kept", code)
            self._process = None
            self._last = self._clock.now()
        segment_bytes, snapshot_bytes, has_records = self._sizes()
        since = (self._clock.now() - self._last).total_seconds()
        if compaction_due(segment_bytes, snapshot_bytes, since, has_records):
            self.start()

    def start(self) -> None:
        """Rotate the journal (a descriptor swap under the gate) and fold what came before."""
        prepared = self._journal.prepare_rotation()  # file creation and syncs: outside the gate
        started = time.monotonic()
        with self._gate.lock:
            ticket = self._journal.rotate(prepared)
        self.last_rotation_s = time.monotonic() - started
        self._journal.wait_durable(ticket)  # the old segments are complete on disk
        upto = self._journal.segment
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "chalicelib.local.compaction",
                "--dir",
                str(self._directory),
                "--upto",
                str(upto),
                "--parent-pid",
                str(os.getpid()),
            ],
            stdin=subprocess.DEVNULL,
            # No pre-exec hook, so the child is spawned without copying this large process;
            # it asks for the parent-death signal itself.
        )

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Wait for a running compaction; its exit code (None when none ran)."""
        if self._process is None:
            return None
        code = self._process.wait(timeout=timeout_s)
        self._process = None
        self._last = self._clock.now()
        if code == 0:
            self.completed += 1
        return code

    def stop(self) -> None:
        """End a running compaction; its half-written snapshot is discarded at the next start."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


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
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--legacy-file", type=Path)
    parser.add_argument("--stack-name", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--sweep-interval", type=float, default=60.0)
    return parser.parse_args(argv)


def restore_state(
    directory: Path,
    legacy: Path | None,
    backend: Any,
    names: dict[str, str],
    clock: Clock,
) -> persistence.ImportReport:
    """Upgrade, restore and replay into `backend`; unusable state is set aside, not fatal.

    OSError (the folder cannot be read at all) propagates: starting empty would bury it.
    """
    persistence.ensure_folder(directory)
    if legacy is not None:
        persistence.upgrade_legacy(legacy, directory, backend, names, clock)
    try:
        report = persistence.restore(directory, backend, names, clock.now().timestamp())
    except (persistence.SnapshotError, journal.FrameError) as exc:
        aside = persistence.set_aside(directory, clock)
        log.warning(
            "local state %s is unusable (%s); kept it as %s and starting with empty tables",
            directory,
            exc,
            aside,
        )
        for name in names.values():
            table = backend.tables.get(name)
            if table is not None:
                table.items.clear()
        persistence.ensure_folder(directory)
        return persistence.ImportReport()
    if report.missing_tables:
        log.warning("saved tables without a definition: %s", ", ".join(report.missing_tables))
    if report.rejected_items:
        log.warning(
            "%d saved items did not fit the tables and were left out", report.rejected_items
        )
    return report


def request_handler(requests: gc_freeze.Requests) -> type[Any]:
    """moto's request handler, counting each request, dropping it once answered, and keeping
    its connection open for the next one."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    # A descriptor that is always readable and at its end: what werkzeug's drain after a
    # response is given instead of the connection (see Handler.make_environ).
    ended, peer = socket.socketpair()
    peer.close()

    class Handler(MotoRequestHandler):
        # Headers and body go out in separate writes; without this, keep-alive clients wait
        # for delayed ACKs (STACK-NOTES 1.1 d).
        disable_nagle_algorithm = True
        # A connection idle this long is closed, and its thread ends: clients' pools grow in a
        # burst and never shrink, and each open connection holds a thread and its buffers
        # here. A client reusing one just closed sees it closed before its request was read,
        # and sends it again on a new connection (botocore retries such errors).
        timeout = IDLE_CONNECTION_S
        # The connection and its reader while werkzeug holds stand-ins, during one request
        # whose body was read whole.
        held: tuple[Any, Any] | None = None

        def make_environ(self) -> dict[str, Any]:
            # werkzeug answers "Connection: close" to every request and, after the answer,
            # reads whatever the client sent next and throws it away (for a body the
            # application left unread). That cost a new connection per request (a thread
            # here, a handshake in the client): at 100 endpoints about 140 a second. Reading
            # the body here, and handing werkzeug's drain an empty reader and a descriptor at
            # its end, keeps the connection and the next request on it. Chunked and
            # 100-continue uploads (which AWS SDKs do not send for DynamoDB and SQS) close.
            environ: dict[str, Any] = super().make_environ()
            if "Transfer-Encoding" in self.headers or "Expect" in self.headers:
                return environ
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return environ
            body = self.rfile.read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            if len(body) == length:
                self.held = (self.connection, self.rfile)
                self.connection, self.rfile = ended, io.BytesIO()
            return environ

        def log_error(self, format: str, *args: Any) -> None:
            if format.startswith("Request timed out"):
                return  # an idle connection closed on purpose (timeout above)
            super().log_error(format, *args)

        def send_header(self, keyword: str, value: str) -> None:
            if (
                self.held is not None
                and not self.close_connection  # the client asked to close: say so
                and keyword.lower() == "connection"
                and value.lower() == "close"
            ):
                return
            super().send_header(keyword, value)

        def run_wsgi(self) -> None:
            with requests.serving():
                try:
                    super().run_wsgi()
                finally:
                    # The handler lives on until its connection is shut down; its request's
                    # objects (cycles among them) must be garbage before the request counts
                    # as ended, or a freeze in between would keep them for good.
                    self.environ = {}
                    if self.held is not None:
                        self.connection, self.rfile = self.held
                        self.held = None

    return Handler


def main(argv: list[str] | None = None) -> int:
    """Serve moto on the inherited socket until SIGTERM (or the parent is gone); exit code."""
    started = time.monotonic()
    args = _parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s store: %(message)s"
    )
    for noisy in ("werkzeug", "botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    stop = stop_signal.StopSignals()
    disable_instance_tracking()
    partition_query.install()
    moto_speedups.install()
    requests = gc_freeze.Requests()
    sqs_speedups.install(parked=requests.parked)
    transactions.install()
    if os.getppid() != args.parent_pid:
        log.error("parent %s is gone before the store started", args.parent_pid)
        return 1

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    gate = WriteGate(
        DomainDispatcherApplication(create_backend_app),
        dynamodb=create_backend_app("dynamodb"),
        sqs=create_backend_app("sqs"),
    )
    server = make_server(
        "127.0.0.1",
        0,
        gate,
        threaded=True,
        request_handler=request_handler(requests),
        fd=args.listen_fd,
    )
    os.close(args.listen_fd)  # the server holds its own duplicate
    # A short poll interval makes shutdown (which waits for the next poll) quick.
    serve = functools.partial(server.serve_forever, poll_interval=0.1)
    serving = threading.Thread(target=serve, name="store-http", daemon=True)
    serving.start()

    from chalicelib.infra import provision

    # AWS_ENDPOINT_URL (set by the parent) points boto3 at this very server. Provisioning
    # writes go through the gate before the journal exists: they are not item writes.
    provisioning = time.monotonic()
    provision(args.stack_name, args.region)
    provisioned = time.monotonic()
    names = table_names(args.stack_name)
    backend = persistence.dynamodb_backend(args.region)
    clock = SystemClock()
    try:
        with gc_freeze.bulk_load(lambda: requests.settle_when_idle(SETTLE_WAIT_S)):
            report = restore_state(args.state_dir, args.legacy_file, backend, names, clock)
    except OSError as exc:
        log.error("cannot read %s (%s); fix or move it, then start again", args.state_dir, exc)
        return 1
    log.info(
        "restored %d items from %s (%d from the journal)",
        report.restored,
        args.state_dir,
        report.replayed_records,
    )
    shapes = persistence.shapes(backend, names)
    log_to = journal.Journal(args.state_dir, report.next_segment)
    gate.attach(backend, shapes, log_to)
    compactor = Compactor(gate, args.state_dir, clock)

    log.info(
        "ready in %.1f s (provisioning %.1f s, restore %.1f s)",
        time.monotonic() - started,
        provisioned - provisioning,
        time.monotonic() - provisioned,
    )
    os.write(args.ready_fd, b"ready\n")
    os.close(args.ready_fd)

    sweeper = ttl_sweep.Sweeper(backend, shapes, gate.lock, log_to)
    handles = sqs_trim.DeletedHandles(sqs_trim.sqs_backend(args.region))
    trim_heap = heap_trim.HeapTrim()
    next_pass = time.monotonic()
    next_full_settle = next_pass + FULL_SETTLE_EVERY_S
    while not stop.wait(1.0):
        if os.getppid() != args.parent_pid:
            # Without prctl (not Linux) this is how an orphaned store notices.
            log.warning("parent %s is gone; stopping", args.parent_pid)
            break
        if sweeper.in_pass or time.monotonic() >= next_pass:
            if not sweeper.in_pass:
                next_pass = time.monotonic() + args.sweep_interval
                handles.trim()
                everything = time.monotonic() >= next_full_settle
                settled = requests.settle_when_idle(SETTLE_WAIT_S, everything)
                if settled is None:
                    log.debug("no moment without a request in flight; freeze skipped")
                else:
                    if everything:
                        next_full_settle = time.monotonic() + FULL_SETTLE_EVERY_S
                    log.debug(
                        "froze %d objects in %.3f s (%d collected%s)",
                        settled.frozen,
                        settled.seconds,
                        settled.collected,
                        ", from everything" if everything else "",
                    )
                trim_heap()
            try:
                sweeper.step(clock.now().timestamp())
            except journal.JournalError as exc:
                log.error("TTL sweep stopped: %s", exc)
            else:
                if not sweeper.in_pass and sweeper.pass_deleted:
                    log.info("TTL sweep deleted %d expired items", sweeper.pass_deleted)
        try:
            compactor.tick()
        except (OSError, journal.JournalError) as exc:
            log.error("cannot start a compaction: %s", exc)
    server.shutdown()
    compactor.stop()
    log_to.close()
    stop.close()
    log.info("stopped; every acknowledged write is in %s", args.state_dir)
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    # Skip the interpreter's teardown of moto's large module graph (about half a second of
    # a Ctrl-C): the journal is already synced.
    os._exit(code)
