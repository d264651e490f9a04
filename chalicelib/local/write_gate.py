"""The store's WSGI front: one DynamoDB write at a time, journaled before it is acknowledged.

Serialising writes matters beyond the journal: moto checks a condition and then applies the
write without a lock, so two threads could both win a conditional update that DynamoDB would
let only one win. Under the gate each write is applied, the resulting image of every item it
touched is queued to the journal, and the gate is released; the reply leaves only once the
journal has synced those images (group commit: writers waiting together share one sync).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chalicelib.local import journal
from chalicelib.local.journal import Journal, JournalError, Record
from chalicelib.local.persistence import TableShape

log = logging.getLogger("cronpilot-local.store")

DYNAMODB_TARGET_PREFIX = "DynamoDB_"
SQS_TARGET_PREFIX = "AmazonSQS."
# A read that raced an in-place write is redone this many times in all (see WriteGate._read).
READ_ATTEMPTS = 3
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
# Item writes whose touched keys the request names: these are journaled.
ITEM_WRITES = frozenset(
    {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
)
# Writes whose effect cannot be journaled item by item; refused (unless PartiQL only reads)
# so that no acknowledged write can be lost at a restart.
UNJOURNALED_WRITES = frozenset(
    {
        "ExecuteStatement",
        "BatchExecuteStatement",
        "ExecuteTransaction",
        "ImportTable",
        "RestoreTableFromBackup",
        "RestoreTableToPointInTime",
    }
)
# Every other operation (CreateTable, UpdateTimeToLive, tags...) changes table definitions,
# which the store provisions from infra/ at every start: serialised, not journaled.

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Touched = list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]


def touched(operation: str, request: Mapping[str, Any]) -> Touched:
    """(table name, key, item) of every item an item write names; key or item is None."""
    found: Touched = []
    if operation == "PutItem":
        found.append((request["TableName"], None, request["Item"]))
    elif operation in ("UpdateItem", "DeleteItem"):
        found.append((request["TableName"], request["Key"], None))
    elif operation == "BatchWriteItem":
        for table, requests in request["RequestItems"].items():
            for entry in requests:
                if "PutRequest" in entry:
                    found.append((table, None, entry["PutRequest"]["Item"]))
                elif "DeleteRequest" in entry:
                    found.append((table, entry["DeleteRequest"]["Key"], None))
    elif operation == "TransactWriteItems":
        for entry in request["TransactItems"]:
            if "Put" in entry:
                found.append((entry["Put"]["TableName"], None, entry["Put"]["Item"]))
            for kind in ("Update", "Delete"):
                if kind in entry:
                    found.append((entry[kind]["TableName"], entry[kind]["Key"], None))
    return found


def partiql_reads_only(operation: str, request: Mapping[str, Any]) -> bool:
    """Whether a PartiQL request only selects."""
    if operation == "ExecuteStatement":
        statements = [request.get("Statement", "")]
    elif operation == "BatchExecuteStatement":
        statements = [s.get("Statement", "") for s in request.get("Statements", [])]
    elif operation == "ExecuteTransaction":
        statements = [s.get("Statement", "") for s in request.get("TransactStatements", [])]
    else:
        return False
    return all(str(s).lstrip().upper().startswith("SELECT") for s in statements)


def _table_name(name: str) -> str:
    return name.rpartition("/")[2] if name.startswith("arn:") else name


def _error(start_response: StartResponse, status: str, kind: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": message})
    start_response(
        status,
        [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))],
    )
    return [body.encode()]


class WriteGate:
    """WSGI wrapper around moto: serialises DynamoDB writes and journals their effect."""

    def __init__(
        self,
        app: WsgiApp,
        dynamodb: WsgiApp | None = None,
        sqs: WsgiApp | None = None,
        *,
        backend: Any = None,
        shapes: Mapping[str, TableShape] | None = None,
        log_to: Journal | None = None,
    ) -> None:
        self._app = app
        # moto's dispatcher works out the service of every request under one global lock,
        # which made it the local stack's bottleneck under concurrency (profiled: a third of
        # the store's CPU). The hot services are recognised here by their target header and
        # sent straight to their own backend app.
        self._dynamodb = dynamodb or app
        self._sqs = sqs or app
        self._backend = backend
        self._by_name = {shape.name: (key, shape) for key, shape in (shapes or {}).items()}
        self.journal = log_to
        self.lock = threading.Lock()
        self.writes = 0

    def attach(self, backend: Any, shapes: Mapping[str, TableShape], log_to: Journal) -> None:
        """Start journaling item writes (after the tables were provisioned and restored)."""
        with self.lock:
            self._backend = backend
            self._by_name = {shape.name: (key, shape) for key, shape in shapes.items()}
            self.journal = log_to

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        if target.startswith(SQS_TARGET_PREFIX):
            return self._sqs(environ, start_response)
        if not target.startswith(DYNAMODB_TARGET_PREFIX):
            return self._app(environ, start_response)
        operation = target.rpartition(".")[2]
        if operation in READ_ONLY_OPERATIONS:
            return self._read(environ, start_response)
        if self.journal is None:
            with self.lock:
                self.writes += 1
                return self._dynamodb(environ, start_response)
        return self._journaled(operation, environ, start_response)

    def _read(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """A read, retried when it raced a write.

        Reads do not take the write lock, and moto updates items in place: a Query copying an
        item while an UpdateItem changes it raises "dictionary changed size during iteration"
        before answering. Nothing was written or answered then, so the read is simply redone.
        """
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        for attempt in range(1, READ_ATTEMPTS + 1):
            environ["wsgi.input"] = io.BytesIO(raw)
            try:
                return self._dynamodb(environ, start_response)
            except RuntimeError as exc:
                if "changed size during iteration" not in str(exc) or attempt == READ_ATTEMPTS:
                    raise
                log.info("a read raced a write (%s); reading again", exc)
        raise AssertionError("unreachable")

    def _journaled(
        self, operation: str, environ: dict[str, Any], start_response: StartResponse
    ) -> Iterable[bytes]:
        assert self.journal is not None
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            request = json.loads(raw or b"{}")
        except ValueError:
            request = {}
        if operation in UNJOURNALED_WRITES:
            if partiql_reads_only(operation, request):
                return self._dynamodb(environ, start_response)
            return _error(
                start_response,
                "400 Bad Request",
                "ValidationException",
                f"{operation} writes are not supported by the local stack (its journal records "
                "item writes only); use PutItem, UpdateItem, DeleteItem, BatchWriteItem or "
                "TransactWriteItems",
            )
        if self.journal.failed is not None:
            return _error(
                start_response,
                "500 Internal Server Error",
                "InternalServerError",
                f"the local store cannot write its journal ({self.journal.failed}); "
                "fix the disk and restart the stack",
            )
        reply: list[Any] = []

        def hold(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            reply[:] = [status, headers]
            return None

        ticket: int | None = None
        with self.lock:
            self.writes += 1
            result = self._dynamodb(environ, hold)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            status = str(reply[0]) if reply else "500 Internal Server Error"
            if status.startswith("200") and operation in ITEM_WRITES:
                try:
                    lines = self._images(operation, request)
                    if lines:
                        ticket = self.journal.append(lines)
                except JournalError as exc:
                    return _error(
                        start_response, "500 Internal Server Error", "InternalServerError", str(exc)
                    )
        if ticket is not None:
            try:
                self.journal.wait_durable(ticket)
            except JournalError as exc:
                return _error(
                    start_response, "500 Internal Server Error", "InternalServerError", str(exc)
                )
        start_response(reply[0], reply[1])
        return [body]

    def _images(self, operation: str, request: Mapping[str, Any]) -> list[bytes]:
        """The framed image of every item the write touched, read back after it was applied."""
        from moto.dynamodb.models.dynamo_type import DynamoType

        lines: list[bytes] = []
        for table_name, key, item in touched(operation, request):
            known = self._by_name.get(_table_name(table_name))
            if known is None:
                continue  # not one of infra/'s tables: it would not exist after a restart
            table_key, shape = known
            if key is None and item is not None:
                key = shape.key_of(item)
            if key is None:
                continue
            table = self._backend.tables[shape.name]
            range_value = DynamoType(key[shape.range_key]) if shape.range_key else None
            current = table.get_item(DynamoType(key[shape.hash_key]), range_value)
            image = wire_image(current.to_json()["Attributes"]) if current is not None else None
            expires = shape.expires_of(image) if image is not None else None
            lines.append(journal.record_line(Record(table_key, key, expires, image)))
        return lines


def wire_image(attributes: dict[str, Any]) -> dict[str, Any]:
    """An item as DynamoDB's JSON carries it: binary values base64-encoded.

    moto's item listing leaves a top-level binary value as the bytes it decoded from the
    request (nested ones it encodes itself), which the journal's JSON cannot hold.
    """
    wired: dict[str, Any] = {}
    for name, value in attributes.items():
        if "B" in value and isinstance(value["B"], bytes | bytearray):
            value = {"B": base64.b64encode(value["B"]).decode()}
        elif "BS" in value:
            value = {
                "BS": [
                    base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else v
                    for v in value["BS"]
                ]
            }
        wired[name] = value
    return wired
