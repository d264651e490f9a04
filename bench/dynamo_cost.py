"""DynamoDB capacity per scheduled run, measured on a fixed workload, old design beside new.

Every DynamoDB request of the workload (1 000 runs over 100 endpoints with 2 KB items and 1 KB
JSON response bodies of varied values, then a dispatcher tick, a job listing and an analysis)
is recorded with botocore event hooks on the clients pynamodb builds, and priced from the
items it touched and the index projections the tables declare (DescribeTable), by the rules in
PRICING below.

The same module runs the workload twice, each in its own process on in-process moto: once on
the design of commit `--before` (default BEFORE, checked out with `git archive` into a
temporary directory, with this file copied in) and once on this checkout, so a change to the
tables is priced against what it replaces in one run. Results: bench/results/dynamo_cost.txt.
Run: `make bench-cost` (or `.venv/bin/python -m bench.dynamo_cost [--before REF]`).
"""

from __future__ import annotations

import argparse
import contextvars
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "dynamo_cost.txt"
# The last commit of the tables issue 14 replaces: the reference the new design is priced
# against. A clone without that history can pass --before HEAD (both columns are then this one).
BEFORE = "da97ff2"
T0 = datetime(2025, 1, 1, tzinfo=UTC)
ENDPOINTS = 100
ROUNDS = 10  # 100 endpoints x 10 rounds = 1 000 runs
INTERVAL_MS = 10_000
WCU_PRICE = 0.625  # $ per million write units, on demand, us-east-1
RCU_PRICE = 0.125  # $ per million read units

PRICING = """\
Pricing rules (DynamoDB on demand, as documented by AWS):
- Item size: per attribute, its name's UTF-8 bytes plus its value (string: UTF-8 bytes;
  number: 1 byte per two significant digits + 1; binary: bytes; bool/null: 1; list/map:
  3 + each element + 1 per element). An index entry is the table keys, the index keys and the
  projected attributes (ALL: the whole item; KEYS_ONLY: keys; INCLUDE: keys + the listed ones).
- Write: ceil(size / 1 KB) write units for the larger of the item before and after, at least 1
  (a put, an update or a delete, also a failed conditional write). Each index then costs: entry
  added ceil(after / 1 KB); entry removed ceil(before / 1 KB); index key changed: both; entry
  kept with a projected attribute changed: ceil(larger / 1 KB); nothing projected changed: 0.
  A failed conditional write writes no index. TransactWriteItems: twice the units.
- Read: GetItem and each BatchGetItem key ceil(size / 4 KB) read units (at least 1), halved when
  eventually consistent; Query and Scan: ceil(sum of the sizes of the items read / 4 KB) per
  page, halved when eventually consistent (index queries always are). Items read includes
  those a filter then drops (found by re-running the page without its filter).
"""


# ---- item sizes ------------------------------------------------------------------------------


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's JSON form."""
    ((kind, v),) = value.items()
    if kind == "S":
        return len(str(v).encode())
    if kind == "N":
        digits = str(v).lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v) if isinstance(v, bytes | bytearray) else math.ceil(len(str(v)) * 3 / 4)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(value_size(e) + 1 for e in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in v.items())
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(value_size({"N": n}) for n in v)
    if kind == "BS":
        return sum(value_size({"B": b}) for b in v)
    raise ValueError(kind)


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def units(size: int, per: int) -> int:
    return max(1, math.ceil(size / per))


# ---- tables and indexes ----------------------------------------------------------------------


@dataclass
class Index:
    name: str
    keys: list[str]
    projection: str
    include: list[str]


@dataclass
class Table:
    name: str
    keys: list[str]
    indexes: list[Index]

    def entry(self, index: Index, item: dict[str, Any] | None) -> dict[str, Any] | None:
        """The index entry an item makes, or None when it is not in the (sparse) index."""
        if item is None or any(k not in item for k in index.keys):
            return None
        if index.projection == "ALL":
            return item
        kept = set(self.keys) | set(index.keys)
        if index.projection == "INCLUDE":
            kept |= set(index.include)
        return {k: v for k, v in item.items() if k in kept}


def describe(client: Any, name: str) -> Table:
    t = client.describe_table(TableName=name)["Table"]
    indexes = [
        Index(
            g["IndexName"],
            [k["AttributeName"] for k in g["KeySchema"]],
            g["Projection"]["ProjectionType"],
            list(g["Projection"].get("NonKeyAttributes", [])),
        )
        for g in t.get("GlobalSecondaryIndexes", []) + t.get("LocalSecondaryIndexes", [])
    ]
    return Table(name, [k["AttributeName"] for k in t["KeySchema"]], indexes)


# ---- recording -------------------------------------------------------------------------------

PHASE: contextvars.ContextVar[str] = contextvars.ContextVar("phase", default="setup")


@dataclass
class Priced:
    phase: str
    operation: str
    table: str
    wcu: float = 0.0
    rcu: float = 0.0
    # "table" or "table/index" -> write units (the base item's under the table's own name)
    parts: dict[str, float] = field(default_factory=dict)


class Recorder:
    """Prices each DynamoDB request as it happens; a side client (no hooks) reads the images."""

    def __init__(self) -> None:
        import boto3

        self.side = boto3.client("dynamodb", region_name="us-east-1")
        self.tables: dict[str, Table] = {}
        self.priced: list[Priced] = []

    def table(self, name: str) -> Table:
        if name not in self.tables:
            self.tables[name] = describe(self.side, name)
        return self.tables[name]

    def image(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        found = self.side.get_item(TableName=table, Key=key, ConsistentRead=True)
        item: dict[str, Any] | None = found.get("Item")
        return item

    def key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        return {k: item[k] for k in self.table(table).keys}

    # botocore: before-parameter-build.dynamodb.* (params are the API parameters)
    def before(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        op = model.name
        writes: list[tuple[str, dict[str, Any]]] = []
        if op in ("PutItem",):
            writes = [(params["TableName"], self.key_of(params["TableName"], params["Item"]))]
        elif op in ("UpdateItem", "DeleteItem"):
            writes = [(params["TableName"], params["Key"])]
        elif op == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for r in requests:
                    if "PutRequest" in r:
                        writes.append((table, self.key_of(table, r["PutRequest"]["Item"])))
                    else:
                        writes.append((table, r["DeleteRequest"]["Key"]))
        elif op == "TransactWriteItems":
            for t in params["TransactItems"]:
                ((kind, body),) = t.items()
                if kind == "ConditionCheck":
                    continue
                key = body.get("Key") or self.key_of(body["TableName"], body["Item"])
                writes.append((body["TableName"], key))
        context["cost_before"] = [(t, k, self.image(t, k)) for t, k in writes]
        context["cost_params"] = json.loads(json.dumps(params, default=_plain))

    # botocore: after-call.dynamodb.*
    def after(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        op = model.name
        params = context.get("cost_params", {})
        failed = "Error" in parsed
        if op == "BatchWriteItem":
            table = next(iter(params["RequestItems"]))
        elif op == "TransactWriteItems":
            table = "+".join(
                sorted({next(iter(t.values()))["TableName"] for t in params["TransactItems"]})
            )
        elif op == "BatchGetItem":
            table = "+".join(sorted(params["RequestItems"]))
        else:
            table = params.get("TableName", "?")
        record = Priced(PHASE.get(), op, short(table))
        if op in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"):
            factor = 2 if op == "TransactWriteItems" else 1
            for name, key, before in context.get("cost_before", []):
                after = None if failed else self.image(name, key)
                self.price_write(record, name, before, after, failed, factor)
        elif op == "GetItem" and not failed:
            size = item_size(parsed.get("Item"))
            record.rcu = units(size, 4096) * (1.0 if params.get("ConsistentRead") else 0.5)
        elif op == "BatchGetItem" and not failed:
            for name, request in params["RequestItems"].items():
                weight = 1.0 if request.get("ConsistentRead") else 0.5
                for key in request["Keys"]:
                    record.rcu += units(item_size(self.image(name, key)), 4096) * weight
        elif op in ("Query", "Scan") and not failed:
            record.rcu = self.price_read_page(params, parsed)
        self.priced.append(record)

    def price_write(
        self,
        record: Priced,
        name: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        failed: bool,
        factor: int,
    ) -> None:
        table = self.table(name)
        base = units(max(item_size(before), item_size(after)), 1024) * factor
        record.wcu += base
        _add(record.parts, short(name), base)
        if failed:
            return
        for index in table.indexes:
            old, new = table.entry(index, before), table.entry(index, after)
            cost = 0.0
            if old is None and new is not None:
                cost = units(item_size(new), 1024)
            elif old is not None and new is None:
                cost = units(item_size(old), 1024)
            elif old is not None and new is not None:
                if any(old[k] != new[k] for k in index.keys):
                    cost = units(item_size(old), 1024) + units(item_size(new), 1024)
                elif old != new:
                    cost = units(max(item_size(old), item_size(new)), 1024)
            if cost:
                record.wcu += cost * factor
                _add(record.parts, f"{short(name)}/{index.name}", cost * factor)

    def price_read_page(self, params: dict[str, Any], parsed: dict[str, Any]) -> float:
        """Units for one page: the items the key condition read, before any filter."""
        consistent = bool(params.get("ConsistentRead")) and "IndexName" not in params
        factor = 1.0 if consistent else 0.5
        items = parsed.get("Items", [])
        if (
            "FilterExpression" in params
            or "QueryFilter" in params
            or "ScanFilter" in params
            or (("ProjectionExpression" in params or "AttributesToGet" in params) and items)
        ):
            items = self.unfiltered(params)
        size = sum(item_size(i) for i in items)
        return units(size, 4096) * factor

    def unfiltered(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The page again without filter or projection: what DynamoDB read to answer it."""
        request = {
            k: v
            for k, v in params.items()
            if k
            not in (
                "FilterExpression",
                "ProjectionExpression",
                "AttributesToGet",
                "Select",
                "QueryFilter",
                "ScanFilter",
                "ConditionalOperator",
                "ReturnConsumedCapacity",
            )
        }
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", request.get("KeyConditionExpression", "")))
        for part in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            if part in request:
                kept = {k: v for k, v in request[part].items() if k in used}
                if kept:
                    request[part] = kept
                else:
                    request.pop(part)
        call = (
            self.side.query
            if "KeyConditionExpression" in request or "KeyConditions" in (request)
            else self.side.scan
        )
        found: list[dict[str, Any]] = call(**request).get("Items", [])
        return found


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return value.decode("latin-1")
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value))


def _add(parts: dict[str, float], key: str, value: float) -> None:
    parts[key] = parts.get(key, 0) + value


def short(table: str) -> str:
    """`bench-endpoints-v2` -> `endpoints`: the table's role, so both designs line up."""
    name = table.split("-", 1)[1] if table.startswith("bench-") else table
    return re.sub(r"-v\d+$", "", name)


def install(recorder: Recorder) -> None:
    """Register the recorder on every DynamoDB client created from now on."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        if service_name == "dynamodb":
            client.meta.events.register("before-parameter-build.dynamodb.*", recorder.before)
            client.meta.events.register("after-call.dynamodb.*", recorder.after)
        return client

    botocore.session.Session.create_client = create_client


@contextmanager
def phase(name: str) -> Iterator[None]:
    token = PHASE.set(name)
    try:
        yield
    finally:
        PHASE.reset(token)


# ---- the workload ----------------------------------------------------------------------------


def workload(out: Path) -> None:
    """Run the fixed workload on this directory's `chalicelib` and write the priced requests."""
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "CRONPILOT_TABLE_PREFIX": "bench",
        "CRONPILOT_SECRETS_KMS_ALIAS": "alias/bench-secrets",
    }.items():
        os.environ[k] = v
    for k in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"):
        os.environ.pop(k, None)

    from moto import mock_aws

    with mock_aws():
        import boto3

        from chalicelib.infra import provision

        provision("bench", "us-east-1")
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/bench-secrets", TargetKeyId=key)
        recorder = Recorder()
        install(recorder)
        _drive()
    priced = [asdict(p) for p in recorder.priced]
    import chalicelib

    out.write_text(
        json.dumps({"source": str(Path(chalicelib.__file__).parent), "requests": priced})
    )


def _drive() -> None:
    from chalicelib.clock import ManualClock
    from chalicelib.deps import Deps
    from chalicelib.domain.schemas import EndpointCreate, JobCreate, TenantCreate
    from chalicelib.engine.caller import CallRequest, CallResult
    from chalicelib.engine.dispatch import dispatch
    from chalicelib.engine.execute import Executor
    from chalicelib.engine.queue import QueuedSlot
    from chalicelib.planner.analyze import Analyzer
    from chalicelib.planner.model import Completion, ToolCallRequest
    from chalicelib.planner.queue import JobRef
    from chalicelib.services.accounts import create_tenant
    from chalicelib.services.endpoints import create_endpoint, list_endpoints
    from chalicelib.services.jobs import create_job
    from chalicelib.settings import Settings

    clock = ManualClock(T0)
    sent: list[QueuedSlot] = []

    class Queue:
        def send(self, slots: Any, now: datetime) -> None:
            sent.extend(slots)

    # An answer like a real sync endpoint's: varied skus, quantities and prices, which
    # compress about 2.4 times (zlib), where a repeated filler would compress 10 times and
    # flatter the compressed bodies.
    rng = random.Random(14)
    body = {
        "status": "ok",
        "region": "region-042",
        "syncedAt": "2025-01-01T00:10:00.000Z",
        "batch": {"id": f"{rng.getrandbits(64):016x}", "durationMs": rng.randrange(50, 900)},
        "items": [
            {
                "sku": f"SKU-{rng.randrange(10**5):05d}",
                "qty": rng.randrange(500),
                "price": round(rng.uniform(1, 200), 2),
                "bin": f"{rng.choice('ABCDEFGH')}{rng.randrange(1, 40):02d}-{rng.randrange(1, 9)}",
            }
            for _ in range(13)
        ],
    }
    assert 1000 <= len(json.dumps(body)) <= 1024, len(json.dumps(body))

    class Caller:
        def call(self, request: CallRequest, signing_key: str | None = None) -> CallResult:
            return CallResult("success", 120, 200, body)

    deps = Deps(settings=Settings.from_env(), clock=clock, queue=Queue())
    deps.caller = Caller()  # type: ignore[assignment]
    tenant, _, _ = create_tenant(deps, TenantCreate(name="Bench", id="bench"))
    job = create_job(deps, tenant, JobCreate(name="bench", description="the cost workload"))
    for i in range(ENDPOINTS):
        request = EndpointCreate.model_validate(
            {
                "name": f"endpoint {i:03d}",
                "description": "Inventory sync for one warehouse region. " * 24,
                "url": f"https://api.example.com/warehouses/{i:03d}/sync?full=false",
                "method": "POST",
                "headersJson": {"Accept": "application/json", "X-Region": f"region-{i:03d}"},
                "bodyJson": {"mode": "incremental", "batch": 500, "fields": ["sku", "qty"]},
                "baselineIntervalMs": INTERVAL_MS,
                "timeoutMs": 10_000,
            }
        )
        create_endpoint(deps, tenant, job.id, request)
    executor = Executor(deps)
    # The first run of a tenant creates its signing key: a one-off, not a run's cost.
    with phase("warmup"):
        pending = sorted(sent, key=lambda s: s.at)
        sent.clear()
        for slot in pending:
            clock.set(max(clock.now(), slot.at))
            executor.run_slot(slot)
    with phase("runs"):
        runs = 0
        for _ in range(ROUNDS):
            pending = sorted(sent, key=lambda s: s.at)
            sent.clear()
            for slot in pending:
                clock.set(max(clock.now(), slot.at))
                assert executor.run_slot(slot) is not None
                runs += 1
        assert runs == ENDPOINTS * ROUNDS, runs
    with phase("tick"):
        dispatch(deps, Queue(), clock.now())
    with phase("listing"):
        assert len(list_endpoints(deps, tenant, job.id)) == ENDPOINTS
    submit = ToolCallRequest(
        "call_1", "submit_analysis", json.dumps({"reasoning": "Stable.", "confidence": "medium"})
    )

    class Model:
        def complete(self, messages: Any, tools: Any, tool_choice: Any) -> Completion:
            message = {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": submit.id,
                        "type": "function",
                        "function": {"name": submit.name, "arguments": submit.arguments},
                    }
                ],
            }
            return Completion(message, (submit,), "tool_calls", 1000, 100)

    with phase("analysis"):
        Analyzer(deps, Model()).analyse_job(JobRef(tenant.id, job.id))


# ---- the report ------------------------------------------------------------------------------


def summarise(requests: list[dict[str, Any]]) -> dict[str, Any]:
    by_phase: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    parts: dict[str, float] = defaultdict(float)
    ops: dict[str, int] = defaultdict(int)
    for r in requests:
        p = by_phase[r["phase"]]
        p["wcu"] += r["wcu"]
        p["rcu"] += r["rcu"]
        p["requests"] += 1
        if r["phase"] == "runs":
            ops[f"{r['operation']} {r['table']}"] += 1
            for k, v in r["parts"].items():
                parts[k] += v
    return {"phases": by_phase, "parts": parts, "ops": ops}


def report(before: dict[str, Any], after: dict[str, Any], before_ref: str) -> list[str]:
    runs = ENDPOINTS * ROUNDS
    b, a = summarise(before["requests"]), summarise(after["requests"])
    lines = [
        "# DynamoDB capacity per scheduled run, measured",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with in-process moto; every request recorded",
        "with botocore event hooks and priced by the rules below (exact, not timed).",
        f"Workload: {ENDPOINTS} endpoints (~2 KB items) created through the services, one",
        f"warm-up round (not counted), then {runs} runs ({ROUNDS} rounds, {INTERVAL_MS // 1000} s",
        "interval, 1 KB JSON response bodies of varied values, 2.4 times smaller with zlib)",
        "through Executor.run_slot, then one dispatcher",
        "tick, one job listing (services.list_endpoints) and one analysis of the job (a session",
        "per endpoint, a scripted model that submits at once).",
        f"Before: commit {before_ref} (git archive). After: this checkout.",
        "",
        PRICING,
        "## Per scheduled run (the runs phase / 1 000)",
        "",
        "| | before | after |",
        "|---|---:|---:|",
    ]
    for key, label in (("wcu", "write units"), ("rcu", "read units"), ("requests", "requests")):
        old, new = b["phases"]["runs"][key] / runs, a["phases"]["runs"][key] / runs
        lines.append(f"| {label} | {old:.2f} | {new:.2f} |")
    cost_b = (
        b["phases"]["runs"]["wcu"] / runs * WCU_PRICE
        + b["phases"]["runs"]["rcu"] / runs * RCU_PRICE
    )
    cost_a = (
        a["phases"]["runs"]["wcu"] / runs * WCU_PRICE
        + a["phases"]["runs"]["rcu"] / runs * RCU_PRICE
    )
    lines.append(f"| DynamoDB $ per million runs | {cost_b:.2f} | {cost_a:.2f} |")
    lines += [
        "",
        "Write units per run by table and index:",
        "",
        "| | before | after |",
        "|---|---:|---:|",
    ]
    for key in sorted(set(b["parts"]) | set(a["parts"])):
        lines.append(
            f"| {key} | {b['parts'].get(key, 0) / runs:.2f} | {a['parts'].get(key, 0) / runs:.2f} |"
        )
    lines += ["", "Requests per run:", "", "| | before | after |", "|---|---:|---:|"]
    for key in sorted(set(b["ops"]) | set(a["ops"])):
        lines.append(
            f"| {key} | {b['ops'].get(key, 0) / runs:.2f} | {a['ops'].get(key, 0) / runs:.2f} |"
        )
    lines += [
        "",
        "## The other parts of the workload (totals)",
        "",
        "| phase | WCU before | RCU before | requests before | WCU after | RCU after"
        " | requests after |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("setup", "warmup", "tick", "listing", "analysis"):
        pb, pa = b["phases"].get(name, {}), a["phases"].get(name, {})
        lines.append(
            f"| {name} | {pb.get('wcu', 0):g} | {pb.get('rcu', 0):g} | {pb.get('requests', 0):g}"
            f" | {pa.get('wcu', 0):g} | {pa.get('rcu', 0):g} | {pa.get('requests', 0):g} |"
        )
    lines.append("")
    return lines


def run_in(directory: Path) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        done = subprocess.run(
            [sys.executable, "-m", "bench.dynamo_cost", "--workload", str(out)],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the workload failed in {directory}:\n{done.stderr[-3000:]}")
        data: dict[str, Any] = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    if not Path(data["source"]).resolve().is_relative_to(directory.resolve()):
        raise RuntimeError(f"the workload ran {data['source']}, not {directory}")
    return data


def old_tree(target: Path, ref: str) -> None:
    """The design of commit `ref`, with this bench copied in."""
    archive = target / "old.tar"
    subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(archive), ref], cwd=ROOT, check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(target / "old", filter="data")
    archive.unlink()
    shutil.copy(Path(__file__), target / "old" / "bench" / "dynamo_cost.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--before", default=BEFORE, help=f"the commit to price against (default {BEFORE})"
    )
    args = parser.parse_args()
    if args.workload is not None:
        workload(args.workload)
        return
    with tempfile.TemporaryDirectory() as tmp:
        old_tree(Path(tmp), args.before)
        before = run_in(Path(tmp) / "old")
    after = run_in(ROOT)
    lines = report(before, after, args.before)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
