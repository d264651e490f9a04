"""The local store's state folder: journal, restore, compaction, TTL sweep, upgrade from version 1.

Runs against in-process moto (the same backend code the store process uses), with writes sent
through the store's real WSGI gate. A "restart" empties the tables and restores them from the
folder, as a new store process would; killing a real process is tests/e2e's job.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client as WsgiClient

from chalicelib.clock import ManualClock
from chalicelib.infra import provision
from chalicelib.local import compaction, journal, persistence, ttl_sweep
from chalicelib.local.journal import Journal, Record
from chalicelib.local.store_server import (
    COMPACT_MAX_AGE_S,
    COMPACT_MIN_BYTES,
    Compactor,
    compaction_due,
    disable_instance_tracking,
    restore_state,
    table_names,
)
from chalicelib.local.write_gate import WriteGate
from chalicelib.store.models import TABLES

STACK = "cp-persist"
REGION = "us-east-1"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20250601/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=x"
)


@pytest.fixture
def tables(aws: None) -> Iterator[dict[str, str]]:
    """The infra/ tables under their own prefix, emptied after each test."""
    provision(STACK, REGION)
    names = table_names(STACK)
    yield names
    empty(names)


def empty(names: dict[str, str]) -> None:
    backend = persistence.dynamodb_backend(REGION)
    for name in names.values():
        backend.tables[name].items.clear()


@dataclass
class Store:
    """A gate journaling into `folder`, as the store process wires it."""

    folder: Path
    gate: WriteGate
    log: Journal
    names: dict[str, str]

    def call(self, operation: str, body: dict[str, Any]) -> tuple[int, Any]:
        response = WsgiClient(self.gate).post(
            "/",
            data=json.dumps(body),
            headers={
                "X-Amz-Target": f"DynamoDB_20120810.{operation}",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": AUTH,
            },
        )
        return response.status_code, json.loads(response.get_data() or b"{}")

    def put_run(self, run_id: str, expires_at: float, status: str = "success") -> None:
        code, body = self.call(
            "PutItem", {"TableName": self.names["runs"], "Item": run(run_id, expires_at, status)}
        )
        assert code == 200, body

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        code, body = self.call(
            "GetItem",
            {
                "TableName": self.names["runs"],
                "Key": {"endpointId": {"S": "ep1"}, "runId": {"S": run_id}},
            },
        )
        assert code == 200, body
        item: dict[str, Any] | None = body.get("Item")
        return item

    def restart(self) -> persistence.ImportReport:
        """Lose memory, keep the folder, restore, and journal into a new segment."""
        self.log.close()
        empty(self.names)
        backend = persistence.dynamodb_backend(REGION)
        report = restore_state(self.folder, None, backend, self.names, ManualClock(NOW))
        self.log = Journal(self.folder, report.next_segment)
        self.gate.attach(backend, persistence.shapes(backend, self.names), self.log)
        return report


def run(run_id: str, expires_at: float, status: str = "success") -> dict[str, Any]:
    return {
        "endpointId": {"S": "ep1"},
        "runId": {"S": run_id},
        "tenantId": {"S": "acme"},
        "startedAt": {"N": "1000"},
        "status": {"S": status},
        "expiresAt": {"N": str(int(expires_at))},
        "nested": {"M": {"list": {"L": [{"N": "1"}, {"BOOL": True}, {"NULL": True}]}}},
        "tags": {"SS": ["a", "b"]},
        # Binary values: moto keeps top-level ones as the bytes it decoded.
        "blob": {"B": base64.b64encode(b"\x00\xffzlib").decode()},
        "blobs": {"BS": [base64.b64encode(b"\x01").decode(), base64.b64encode(b"\x02").decode()]},
    }


@pytest.fixture
def store(tables: dict[str, str], tmp_path: Path) -> Iterator[Store]:
    from moto.moto_server.werkzeug_app import create_backend_app

    folder = tmp_path / "state"
    backend = persistence.dynamodb_backend(REGION)
    report = restore_state(folder, None, backend, tables, ManualClock(NOW))
    app = create_backend_app("dynamodb")
    log = Journal(folder, report.next_segment)
    gate = WriteGate(app, dynamodb=app)
    gate.attach(backend, persistence.shapes(backend, tables), log)
    running = Store(folder, gate, log, tables)
    yield running
    running.log.close()


LATER = NOW.timestamp() + 3600


def rotate(log: Journal) -> int:
    """Switch to a new segment and wait until the old ones are complete; the new number."""
    log.wait_durable(log.rotate(log.prepare_rotation()))
    return log.segment


# --- journal -------------------------------------------------------------------------------


def test_every_acknowledged_write_kind_survives_a_restart(store: Store) -> None:
    runs = store.names["runs"]
    store.put_run("r1", LATER)
    store.put_run("r2", LATER)
    code, _ = store.call(
        "UpdateItem",
        {
            "TableName": runs,
            "Key": {"endpointId": {"S": "ep1"}, "runId": {"S": "r1"}},
            "UpdateExpression": "SET #s = :s",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": "failure"}},
        },
    )
    assert code == 200
    code, _ = store.call(
        "DeleteItem",
        {"TableName": runs, "Key": {"endpointId": {"S": "ep1"}, "runId": {"S": "r2"}}},
    )
    assert code == 200
    code, _ = store.call(
        "BatchWriteItem",
        {"RequestItems": {runs: [{"PutRequest": {"Item": run(f"b{i}", LATER)}} for i in range(3)]}},
    )
    assert code == 200
    code, _ = store.call(
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": runs, "Item": run("t1", LATER)}},
                {
                    "Delete": {
                        "TableName": runs,
                        "Key": {"endpointId": {"S": "ep1"}, "runId": {"S": "b0"}},
                    }
                },
            ]
        },
    )
    assert code == 200
    before = store.get_run("r1")

    report = store.restart()

    assert report.replayed_records == 9
    assert store.get_run("r1") == before
    assert before is not None and before["status"] == {"S": "failure"}
    assert before["nested"]["M"]["list"]["L"][1] == {"BOOL": True}
    assert base64.b64decode(before["blob"]["B"]) == b"\x00\xffzlib"
    t1, sent = store.get_run("t1"), run("t1", LATER)
    assert t1 is not None
    assert {k: v for k, v in t1.items() if k != "blobs"} == {
        k: v for k, v in sent.items() if k != "blobs"
    }
    assert sorted(t1["blobs"]["BS"]) == sorted(sent["blobs"]["BS"])  # a set: any order
    assert store.get_run("r2") is None and store.get_run("b0") is None
    assert all(store.get_run(r) is not None for r in ("b1", "b2", "t1"))


def test_a_failed_condition_writes_nothing_to_the_journal(store: Store) -> None:
    store.put_run("r1", LATER)
    segment = store.folder / journal.segment_name(store.log.segment)
    size = segment.stat().st_size
    code, body = store.call(
        "PutItem",
        {
            "TableName": store.names["runs"],
            "Item": run("r1", LATER, "other"),
            "ConditionExpression": "attribute_not_exists(runId)",
        },
    )
    assert code == 400 and "ConditionalCheckFailed" in body["__type"]
    assert segment.stat().st_size == size


def test_partiql_writes_are_refused_and_change_nothing(store: Store) -> None:
    statement = f"INSERT INTO \"{store.names['runs']}\" VALUE {{'endpointId': 'ep1', 'runId': 'p'}}"
    code, body = store.call("ExecuteStatement", {"Statement": statement})
    assert code == 400 and "not supported by the local stack" in body["message"]
    assert store.get_run("p") is None


def test_a_torn_journal_tail_is_dropped_with_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.put_run("r1", LATER)
    store.put_run("r2", LATER)
    store.log.close()
    segment = store.folder / journal.segment_name(store.log.segment)
    data = segment.read_bytes()
    segment.write_bytes(data[:-25])  # the last record cut short, as a crash mid-write leaves it
    store.log = Journal(store.folder, store.log.segment + 1)  # restart() closes it again

    with caplog.at_level(logging.WARNING, logger="cronpilot-local.persistence"):
        report = store.restart()

    assert report.torn_segments == [segment.name]
    assert "torn end" in caplog.text and segment.name in caplog.text
    assert store.get_run("r1") is not None and store.get_run("r2") is None
    # Writing goes on in a new segment; the torn one is never appended to.
    store.put_run("r3", LATER)
    assert store.restart().torn_segments == [segment.name]
    assert store.get_run("r3") is not None


def test_a_damaged_line_before_the_tail_ends_the_segment_too(tmp_path: Path) -> None:
    path = tmp_path / "journal-0000000001.log"
    good = journal.header_line({"format": journal.FORMAT, "version": 2, "segment": 1})
    bad = journal.frame(b"payload")[:-2] + b"X\n"  # one byte of the body changed
    path.write_bytes(good + bad + journal.frame(b"after"))
    report = journal.ReadReport()

    assert list(journal.read_bodies(path, report)) == [journal.unframe(good)]
    assert report.reason == "checksum mismatch"
    assert report.dropped_bytes == len(bad) + len(journal.frame(b"after"))


def test_a_rotation_splits_the_journal_exactly_where_it_happened(tmp_path: Path) -> None:
    log = Journal(tmp_path, 1)
    try:
        before = log.append([journal.frame(b"before")])
        ticket = log.rotate(log.prepare_rotation())
        after = log.append([journal.frame(b"after")])
        log.wait_durable(ticket)
        log.wait_durable(after)
    finally:
        log.close()

    assert before <= ticket < after
    first, second = (
        list(journal.read_bodies(p, journal.ReadReport())) for _, p in journal.segments(tmp_path)
    )
    assert first[1:] == [b"before"] and second[1:] == [b"after"]


def test_a_journal_that_cannot_be_written_refuses_writes(store: Store) -> None:
    store.put_run("r1", LATER)
    os.close(store.log._fd)  # the disk goes away under the flusher
    store.log._fd = os.open(os.devnull, os.O_RDONLY)

    code, body = store.call("PutItem", {"TableName": store.names["runs"], "Item": run("r2", LATER)})
    assert code == 500 and "journal" in body["message"]
    code, body = store.call("PutItem", {"TableName": store.names["runs"], "Item": run("r3", LATER)})
    assert code == 500 and "cannot write its journal" in body["message"]
    assert store.get_run("r3") is None  # refused before it was applied


# --- compaction ----------------------------------------------------------------------------


def test_compaction_folds_the_journal_and_restores_the_same_items(store: Store) -> None:
    for i in range(20):
        store.put_run(f"r{i}", LATER)
    store.call(
        "DeleteItem",
        {
            "TableName": store.names["runs"],
            "Key": {"endpointId": {"S": "ep1"}, "runId": {"S": "r0"}},
        },
    )
    store.put_run("gone-soon", NOW.timestamp() - 1)  # already expired at NOW
    upto = rotate(store.log)

    report = compaction.compact(store.folder, upto, ManualClock(NOW))

    assert report.items == 19 and report.expired == 1 and report.folded_segments == 1
    assert [n for n, _ in journal.segments(store.folder)] == [upto]
    restored = store.restart()
    assert restored.restored == 19 and restored.replayed_records == 0
    assert store.get_run("r0") is None and store.get_run("r1") is not None
    assert store.get_run("gone-soon") is None
    snapshot = (store.folder / persistence.SNAPSHOT).read_bytes()
    assert b"gone-soon" not in snapshot


def test_compaction_in_its_own_process_while_writes_go_on(store: Store) -> None:
    # Writers keep going while the journal rotates and a real compaction process runs; every
    # acknowledged write (and only the last image of each item) must come back.
    acknowledged: dict[str, str] = {}
    stop = threading.Event()
    # The compaction process reads the real clock: an expiry far beyond it.
    never = 4_000_000_000.0
    failures: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            i = 0
            while not stop.is_set() or i < 30:
                run_id = f"{prefix}{i % 40}"
                status = f"v{i}"
                store.put_run(run_id, never, status)
                acknowledged[run_id] = status
                i += 1
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b")]
    for thread in threads:
        thread.start()
    compactor = Compactor(store.gate, store.folder, ManualClock(NOW))
    codes = []
    for _ in range(3):
        compactor.start()
        codes.append(compactor.wait(timeout_s=60))
    stop.set()
    for thread in threads:
        thread.join()

    assert failures == [] and codes == [0, 0, 0]
    store.restart()
    for run_id, status in acknowledged.items():
        item = store.get_run(run_id)
        assert item is not None and item["status"] == {"S": status}, run_id


def test_compaction_is_due_by_size_relative_to_the_snapshot_or_by_age() -> None:
    assert not compaction_due(10 * COMPACT_MIN_BYTES, 0, 0, has_records=False)
    assert not compaction_due(COMPACT_MIN_BYTES - 1, 0, 0, has_records=True)
    assert compaction_due(COMPACT_MIN_BYTES, 0, 0, has_records=True)
    # A large snapshot is rewritten only once the journal reaches half its size.
    assert not compaction_due(COMPACT_MIN_BYTES, 4 * COMPACT_MIN_BYTES, 0, has_records=True)
    assert compaction_due(2 * COMPACT_MIN_BYTES, 4 * COMPACT_MIN_BYTES, 0, has_records=True)
    assert compaction_due(1, 0, COMPACT_MAX_AGE_S, has_records=True)


def test_a_compaction_interrupted_after_its_rename_restores_the_same(store: Store) -> None:
    store.put_run("r1", LATER)
    upto = rotate(store.log)
    compaction.compact(store.folder, upto, ManualClock(NOW))
    # As if it had died before deleting the folded segment: put one back.
    stale = store.folder / journal.segment_name(upto - 1)
    stale.write_bytes(
        journal.header_line({"format": journal.FORMAT, "version": 2, "segment": upto - 1})
        + journal.record_line(
            Record("runs", {"endpointId": {"S": "ep1"}, "runId": {"S": "r1"}}, None, None)
        )
    )
    (store.folder / ".snapshot.jsonl.tmp").write_bytes(b"half written")

    store.restart()

    assert store.get_run("r1") is not None
    assert not stale.exists() and not (store.folder / ".snapshot.jsonl.tmp").exists()


# --- TTL sweep -----------------------------------------------------------------------------


def test_the_ttl_sweep_removes_expired_items_from_memory_and_disk(store: Store) -> None:
    store.put_run("old", NOW.timestamp() - 10)
    store.put_run("due", NOW.timestamp() + 30)
    store.put_run("live", LATER)
    backend = persistence.dynamodb_backend(REGION)
    shapes = persistence.shapes(backend, store.names)
    sweep_at = NOW + timedelta(minutes=1)

    deleted = ttl_sweep.sweep(backend, shapes, store.gate.lock, store.log, sweep_at.timestamp())

    assert deleted == 2
    assert store.get_run("old") is None and store.get_run("due") is None
    assert store.get_run("live") is not None
    # Journaled: a restart does not bring them back, and compaction drops them from disk.
    store.restart()
    assert store.get_run("old") is None and store.get_run("due") is None
    compaction.compact(store.folder, rotate(store.log), ManualClock(sweep_at))
    snapshot = (store.folder / persistence.SNAPSHOT).read_bytes()
    assert b'"old"' not in snapshot and b'"due"' not in snapshot and b'"live"' in snapshot


def test_the_sweep_keeps_an_item_rewritten_with_a_later_expiry(store: Store) -> None:
    store.put_run("r1", NOW.timestamp() - 10)
    backend = persistence.dynamodb_backend(REGION)
    shapes = persistence.shapes(backend, store.names)
    table = backend.tables[store.names["runs"]]
    # The walk saw the old image; the item is rewritten before the delete batch runs.
    candidates = list(ttl_sweep._items(table))
    store.put_run("r1", LATER)

    deleted = ttl_sweep._delete(
        table, "runs", shapes["runs"], candidates, store.gate.lock, store.log, NOW.timestamp()
    )

    assert deleted == 0 and store.get_run("r1") is not None


def test_the_sweeper_walks_a_slice_per_step(store: Store) -> None:
    for i in range(5):
        store.put_run(f"old{i}", NOW.timestamp() - 10)
    store.put_run("live", LATER)
    backend = persistence.dynamodb_backend(REGION)
    shapes = persistence.shapes(backend, store.names)
    sweeper = ttl_sweep.Sweeper(backend, shapes, store.gate.lock, store.log, budget=2)

    steps = [sweeper.step(NOW.timestamp())]
    while sweeper.in_pass:
        steps.append(sweeper.step(NOW.timestamp()))

    # Six items, two per step: the pass ends on the step that exhausts the walk.
    assert len(steps) == 4 and sum(steps) == 5 and max(steps) <= 2
    assert sweeper.pass_deleted == 5
    assert store.get_run("live") is not None
    assert all(store.get_run(f"old{i}") is None for i in range(5))


def test_a_partition_emptied_by_the_sweep_leaves_memory(store: Store) -> None:
    store.put_run("old", NOW.timestamp() - 10)
    backend = persistence.dynamodb_backend(REGION)
    table = backend.tables[store.names["runs"]]
    assert len(table.items) == 1

    ttl_sweep.sweep(
        backend,
        persistence.shapes(backend, store.names),
        store.gate.lock,
        store.log,
        NOW.timestamp(),
    )

    assert len(table.items) == 0


# --- version 1 upgrade -----------------------------------------------------------------------


def version_1_file(tables: dict[str, list[dict[str, Any]]]) -> bytes:
    """A state file exactly as the version 1 store wrote it."""
    document = {
        "format": "cronpilot-local-dynamodb",
        "version": 1,
        "savedAt": NOW.isoformat(),
        "tables": tables,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def test_a_version_1_file_is_upgraded_once_and_kept(tables: dict[str, str], tmp_path: Path) -> None:
    legacy = tmp_path / "dynamodb-cp-persist.json"
    legacy.write_bytes(
        version_1_file(
            {
                "tenants": [{"tenantId": {"S": "acme"}, "name": {"S": "Acme"}}],
                "runs": [run("live", LATER), run("expired", NOW.timestamp() - 1)],
                "renamed-table": [{"id": {"S": "x"}}],
            }
        )
    )
    folder = tmp_path / "dynamodb-cp-persist"
    backend = persistence.dynamodb_backend(REGION)

    report = restore_state(folder, legacy, backend, tables, ManualClock(NOW))

    assert report.restored == 2
    assert not legacy.exists() and (tmp_path / "dynamodb-cp-persist.json.v1").exists()
    header = json.loads(
        journal.unframe((folder / persistence.SNAPSHOT).read_bytes().split(b"\n")[0] + b"\n")
    )
    assert header["format"] == "cronpilot-local-dynamodb" and header["version"] == 2
    runs = backend.tables[tables["runs"]]
    assert [i.attrs["runId"].value for i in runs.all_items()] == ["live"]
    tenant = backend.tables[tables["tenants"]].all_items()[0].to_json()["Attributes"]
    assert tenant == {"tenantId": {"S": "acme"}, "name": {"S": "Acme"}}
    # A second start reads the folder; the kept version 1 file is not read again.
    empty(tables)
    again = restore_state(folder, legacy, backend, tables, ManualClock(NOW))
    assert again.restored == 2


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b'{"format": "something-else", "version": 1, "tables": {}}',
        b'{"format": "cronpilot-local-dynamodb", "version": 99, "tables": {}}',
        b'{"format": "cronpilot-local-dynamodb", "version": 1, "tables": {"t": "x"}}',
    ],
)
def test_an_unusable_version_1_file_is_kept_aside_with_a_warning(
    tables: dict[str, str], tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    legacy = tmp_path / "state.json"
    legacy.write_bytes(content)

    with caplog.at_level(logging.WARNING, logger="cronpilot-local.persistence"):
        report = restore_state(
            tmp_path / "state",
            legacy,
            persistence.dynamodb_backend(REGION),
            tables,
            ManualClock(NOW),
        )

    assert report.restored == 0 and not legacy.exists()
    aside = tmp_path / "state.json.bad-20250601T000000Z"
    assert aside.read_bytes() == content
    assert "unusable" in caplog.text and str(aside) in caplog.text


def test_a_folder_of_a_newer_version_is_set_aside_not_overwritten(
    tables: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    newer = journal.header_line({"format": persistence.FORMAT, "version": 3, "nextSegment": 1})
    (folder / persistence.SNAPSHOT).write_bytes(newer)

    with caplog.at_level(logging.WARNING, logger="cronpilot-local.store"):
        report = restore_state(
            folder, None, persistence.dynamodb_backend(REGION), tables, ManualClock(NOW)
        )

    assert report.restored == 0 and folder.is_dir() and not any(folder.iterdir())
    aside = tmp_path / "state.bad-20250601T000000Z"
    assert (aside / persistence.SNAPSHOT).read_bytes() == newer
    assert "version 3" in caplog.text


def test_an_unreadable_folder_is_an_error_not_an_empty_start(
    tables: dict[str, str], tmp_path: Path
) -> None:
    # Starting empty would bury the data under new writes.
    folder = tmp_path / "state"
    (folder / persistence.SNAPSHOT).mkdir(parents=True)  # reading fails like an I/O error would

    with pytest.raises(OSError):
        restore_state(folder, None, persistence.dynamodb_backend(REGION), tables, ManualClock(NOW))


def test_the_snapshot_is_private(store: Store) -> None:
    store.put_run("r1", LATER)
    compaction.compact(store.folder, rotate(store.log), ManualClock(NOW))
    assert (store.folder / persistence.SNAPSHOT).stat().st_mode & 0o777 == 0o600
    segment = store.folder / journal.segment_name(store.log.segment)
    assert segment.stat().st_mode & 0o777 == 0o600


# --- the gate --------------------------------------------------------------------------------


def _call(gate: WriteGate, target: str | None, body: bytes = b"") -> list[bytes]:
    environ: dict[str, Any] = {} if target is None else {"HTTP_X_AMZ_TARGET": target}
    if body:
        environ.update({"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)})
    return list(gate(environ, lambda *args: None))


def test_write_gate_counts_dynamodb_writes_only() -> None:
    seen: list[bool] = []

    def app(environ: dict[str, Any], start: Any) -> list[bytes]:
        seen.append(gate.lock.locked())
        return [b"ok"]

    gate = WriteGate(app)
    writes = ["PutItem", "TransactWriteItems", "SomeFutureWrite"]
    for operation in writes:
        assert _call(gate, f"DynamoDB_20120810.{operation}") == [b"ok"]
    for target in ("DynamoDB_20120810.Query", "AmazonSQS.SendMessage", None):
        assert _call(gate, target) == [b"ok"]

    assert gate.writes == 3
    # Writes run under the lock (one at a time), reads and other services do not.
    assert seen == [True, True, True, False, False, False]


def test_write_gate_sends_hot_services_straight_to_their_backend() -> None:
    served: list[str] = []

    def backend(name: str) -> Any:
        def app(environ: dict[str, Any], start: Any) -> list[bytes]:
            served.append(name)
            return [b""]

        return app

    gate = WriteGate(backend("dispatcher"), dynamodb=backend("dynamodb"), sqs=backend("sqs"))
    for target in (
        "DynamoDB_20120810.GetItem",
        "DynamoDB_20120810.PutItem",
        "AmazonSQS.ReceiveMessage",
        "CloudFormation.CreateStack",
        None,
    ):
        _call(gate, target)
    assert served == ["dynamodb", "dynamodb", "sqs", "dispatcher", "dispatcher"]
    assert gate.writes == 1


def test_table_names_cover_every_model_table() -> None:
    names = table_names("cronpilot-local")
    assert set(names) == {suffix for _, suffix in TABLES.values()}
    assert all(name == f"cronpilot-local-{key}" for key, name in names.items())


def test_store_does_not_keep_every_queried_item(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.core.common_models import BaseModel
    from moto.dynamodb.models.dynamo_type import Item

    monkeypatch.setattr(BaseModel, "__new__", BaseModel.__new__)  # restored after the test
    disable_instance_tracking()
    store.put_run("r1", LATER)
    before = len(Item.instances_tracked)  # type: ignore[attr-defined]
    for _ in range(20):
        store.call("Scan", {"TableName": store.names["runs"]})
    assert len(Item.instances_tracked) == before  # type: ignore[attr-defined]


def test_a_read_that_raced_a_write_is_read_again_with_the_same_request() -> None:
    bodies: list[bytes] = []
    failures = [RuntimeError("dictionary changed size during iteration")] * 2

    def app(environ: dict[str, Any], start: Any) -> list[bytes]:
        bodies.append(environ["wsgi.input"].read())
        if failures:
            raise failures.pop()
        start("200 OK", [])
        return [b"answer"]

    gate = WriteGate(app)
    request = b'{"TableName": "runs"}'
    assert _call(gate, "DynamoDB_20120810.Query", request) == [b"answer"]
    assert bodies == [request] * 3  # each attempt read the whole request
    # Every attempt raced: the error goes out; any other error is never retried.
    failures[:] = [RuntimeError("dictionary changed size during iteration")] * 3
    with pytest.raises(RuntimeError):
        _call(gate, "DynamoDB_20120810.Query", request)
    assert failures == []
    failures[:] = [RuntimeError("something else")]
    bodies.clear()
    with pytest.raises(RuntimeError, match="something else"):
        _call(gate, "DynamoDB_20120810.Scan", request)
    assert len(bodies) == 1
