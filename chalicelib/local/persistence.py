"""Export and import of DynamoDB tables held by moto, and the snapshot file they live in.

The export reads moto's in-process backend rather than calling Scan over HTTP: scanning
10,000 items through the server takes about 7 s (moto re-walks the table for every page), the
backend walk about 0.3 s. The caller (the store server) holds its write gate meanwhile, so a
snapshot is consistent across tables. The same functions work under in-process `mock_aws`,
which is how they are tested.

File format (JSON, one object):
    {"format": "cronpilot-local-dynamodb", "version": 1, "savedAt": "<ISO-8601>",
     "tables": {"<table suffix>": [<item in DynamoDB JSON>, ...], ...}}
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from chalicelib.clock import Clock

log = logging.getLogger("cronpilot-local.persistence")

FORMAT = "cronpilot-local-dynamodb"
VERSION = 1

Item = dict[str, Any]
Tables = dict[str, list[Item]]


class SnapshotError(Exception):
    """The snapshot file exists but cannot be used."""


@dataclass
class ImportReport:
    """What `import_tables` did: items restored, and what it had to leave out."""

    restored: int = 0
    missing_tables: list[str] = field(default_factory=list)
    rejected_items: int = 0


def dynamodb_backend(region: str, account_id: str | None = None) -> Any:
    """moto's DynamoDB backend for `region` in this process (the default moto account)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id or DEFAULT_ACCOUNT_ID][region]


def _ttl_attribute(table: Any) -> str | None:
    ttl = getattr(table, "ttl", None) or {}
    if ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
        name = ttl.get("AttributeName")
        return str(name) if name else None
    return None


def _expired(item: Item, ttl_attribute: str | None, now_s: float) -> bool:
    if ttl_attribute is None:
        return False
    value = item.get(ttl_attribute)
    if not isinstance(value, dict) or "N" not in value:
        return False  # DynamoDB ignores TTL attributes that are not numbers
    try:
        return float(value["N"]) < now_s
    except ValueError:
        return False


def export_tables(backend: Any, names: Mapping[str, str], now_s: float) -> Tables:
    """Every item of the tables `names` (file key -> table name), in DynamoDB JSON.

    Items whose TTL attribute lies before `now_s` are left out: moto never expires them, AWS
    would have deleted them, and leaving them out keeps the local state from growing forever.
    A table that does not exist exports as empty.
    """
    tables: Tables = {}
    for key, name in names.items():
        table = backend.tables.get(name)
        if table is None:
            tables[key] = []
            continue
        ttl_attribute = _ttl_attribute(table)
        items = (item.to_json()["Attributes"] for item in table.all_items())
        tables[key] = [item for item in items if not _expired(item, ttl_attribute, now_s)]
    return tables


def import_tables(
    backend: Any, names: Mapping[str, str], tables: Mapping[str, Sequence[Item]]
) -> ImportReport:
    """Put the items of `tables` (file key -> items) into the tables `names` points to.

    Keys without a table are reported, not fatal: a table may have been renamed in infra/.
    Items moto rejects (schema changed since the save) are counted and skipped.
    """
    report = ImportReport()
    for key, items in tables.items():
        name = names.get(key)
        table = backend.tables.get(name) if name else None
        if table is None:
            report.missing_tables.append(key)
            continue
        for item in items:
            try:
                table.put_item(item, overwrite=True)
            except Exception as exc:  # moto's validation errors share no useful base class
                report.rejected_items += 1
                log.debug("rejected item for %s: %s", name, exc)
            else:
                report.restored += 1
    return report


def encode(tables: Mapping[str, Sequence[Item]], saved_at: datetime) -> bytes:
    """The snapshot file content for `tables`."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "savedAt": saved_at.isoformat(),
        "tables": tables,
    }
    return json.dumps(document, separators=(",", ":")).encode()


def decode(data: bytes) -> Tables:
    """The tables of a snapshot file's content; SnapshotError when it is not one we can read."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError("not a Cronpilot local state file")
    version = document.get("version")
    if version != VERSION:
        raise SnapshotError(f"format version {version!r}, this code reads version {VERSION}")
    raw_tables = document.get("tables")
    if not isinstance(raw_tables, dict):
        raise SnapshotError("no tables object")
    tables: Tables = {}
    for key, items in raw_tables.items():
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SnapshotError(f"table {key!r} is not a list of items")
        tables[str(key)] = items
    return tables


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file.

    The file is private (0600): it holds tenants and API key hashes.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(path: Path, clock: Clock) -> Tables | None:
    """The tables saved at `path`; None when there is no file or its content is unusable.

    An unusable file is renamed aside (`<name>.bad-<timestamp>`) with a warning, so the stack
    starts empty instead of failing, and the next save does not destroy what was there. A file
    that cannot be read at all (permissions, I/O) raises OSError: starting empty would
    overwrite it at the first save.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return decode(data)
    except SnapshotError as exc:
        stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
        aside = path.with_name(f"{path.name}.bad-{stamp}")
        os.replace(path, aside)
        log.warning(
            "local state %s is unusable (%s); kept it as %s and starting with empty tables",
            path,
            exc,
            aside,
        )
        return None
