"""The store's state folder: snapshot plus journal segments, restored into moto at start.

Layout of `<CRONPILOT_HOME>/dynamodb-<prefix>/` (format version 2):

    snapshot.jsonl            header {"format", "version", "savedAt", "nextSegment"}, then one
                              line per live item (framing: journal.py)
    journal-NNNNNNNNNN.log    header {"format", "version", "segment"}, then one line per item
                              image written since; segments below `nextSegment` are already
                              folded into the snapshot and are deleted

Restoring reads the snapshot, then replays every segment from `nextSegment` on, in order.
Today's format until version 1 was one JSON file, `dynamodb-<prefix>.json`; `upgrade_legacy`
turns it into a version 2 snapshot once and keeps the old file as `<name>.v1`.

moto's in-process backend is written directly rather than through its HTTP API: replaying
through the server would cost its 5 ms request dispatch per item.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from chalicelib.clock import Clock
from chalicelib.local import journal
from chalicelib.local.journal import Record

log = logging.getLogger("cronpilot-local.persistence")

FORMAT = "cronpilot-local-dynamodb"
VERSION = 2
LEGACY_VERSION = 1
SNAPSHOT = "snapshot.jsonl"

Item = dict[str, Any]
Tables = dict[str, list[Item]]


class SnapshotError(Exception):
    """Saved state exists but cannot be used (damaged, or written by a newer version)."""


@dataclass
class ImportReport:
    """What a restore did: items restored, and what it had to leave out."""

    restored: int = 0
    missing_tables: list[str] = field(default_factory=list)
    rejected_items: int = 0
    replayed_records: int = 0
    torn_segments: list[str] = field(default_factory=list)
    next_segment: int = 1


@dataclass(frozen=True)
class TableShape:
    """What persistence needs to know about a table: its key and TTL attributes."""

    name: str
    hash_key: str
    range_key: str | None
    ttl_attribute: str | None

    def key_of(self, item: Item) -> dict[str, Any]:
        """The key attributes of `item`; KeyError when one is missing."""
        key = {self.hash_key: item[self.hash_key]}
        if self.range_key is not None:
            key[self.range_key] = item[self.range_key]
        return key

    def expires_of(self, item: Item) -> float | None:
        """The item's TTL in epoch seconds; None when it has none DynamoDB would honour."""
        if self.ttl_attribute is None:
            return None
        value = item.get(self.ttl_attribute)
        if not isinstance(value, dict) or "N" not in value:
            return None  # DynamoDB ignores TTL attributes that are not numbers
        try:
            return float(value["N"])
        except ValueError:
            return None

    def record(self, table_key: str, item: Item) -> Record:
        """The journal record that puts `item`."""
        return Record(table_key, self.key_of(item), self.expires_of(item), item)


def dynamodb_backend(region: str, account_id: str | None = None) -> Any:
    """moto's DynamoDB backend for `region` in this process (the default moto account)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account_id or DEFAULT_ACCOUNT_ID][region]


def ttl_attribute(table: Any) -> str | None:
    """The TTL attribute of a moto table, when TTL is on."""
    ttl = getattr(table, "ttl", None) or {}
    if ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"}:
        name = ttl.get("AttributeName")
        return str(name) if name else None
    return None


def shapes(backend: Any, names: Mapping[str, str]) -> dict[str, TableShape]:
    """Table key -> shape, for the tables of `names` that exist in `backend`."""
    found: dict[str, TableShape] = {}
    for key, name in names.items():
        table = backend.tables.get(name)
        if table is not None:
            found[key] = TableShape(
                name, table.hash_key_attr, table.range_key_attr, ttl_attribute(table)
            )
    return found


# --- snapshot file ---------------------------------------------------------------------------


def snapshot_header(saved_at: datetime, next_segment: int) -> bytes:
    """The framed first line of a snapshot."""
    return journal.header_line(
        {
            "format": FORMAT,
            "version": VERSION,
            "savedAt": saved_at.isoformat(),
            "nextSegment": next_segment,
        }
    )


# A snapshot is synced every this many bytes rather than once at the end: a gigabyte of dirty
# pages flushed at once stalls the store's journal syncs behind it for most of a second, while
# a few megabytes at a time keep each stall short.
SYNC_EVERY = 8 << 20


def _sync_part(handle: BinaryIO, synced: int, written: int) -> int:
    """Make bytes [synced, written) durable and drop them from the page cache; `written`."""
    handle.flush()
    getattr(os, "fdatasync", os.fsync)(handle.fileno())
    if hasattr(os, "posix_fadvise"):
        # A snapshot is not read again by this process: leave the memory to the store.
        os.posix_fadvise(handle.fileno(), synced, written - synced, os.POSIX_FADV_DONTNEED)
    return written


def write_snapshot(directory: Path, lines: Iterable[bytes]) -> None:
    """Replace the snapshot with `lines` (header first) so a crash leaves the old or the new.

    The file is private (0600): it holds tenants and API key hashes.
    """
    path = directory / SNAPSHOT
    tmp = directory / f".{SNAPSHOT}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
            synced = written = 0
            for line in lines:
                handle.write(line)
                written += len(line)
                if written - synced >= SYNC_EVERY:
                    synced = _sync_part(handle, synced, written)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        journal.fsync_directory(directory)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_header(body: bytes, expected_format: str) -> dict[str, Any]:
    """The header object of a file; SnapshotError when it is not ours or not this version."""
    try:
        header = json.loads(body)
    except ValueError:
        raise SnapshotError("header is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != expected_format:
        raise SnapshotError(f"not a {expected_format} file")
    if header.get("version") != VERSION:
        raise SnapshotError(
            f"format version {header.get('version')!r}, this code reads version {VERSION}"
        )
    return header


# --- restore -----------------------------------------------------------------------------------


def _apply(
    backend: Any,
    shaped: Mapping[str, TableShape],
    body: bytes,
    now_s: float,
    report: ImportReport,
) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    record = journal.parse_record(body)
    shape = shaped.get(record.table)
    if shape is None:
        if record.table not in report.missing_tables:
            report.missing_tables.append(record.table)
        return
    table = backend.tables[shape.name]
    if record.item is None or (record.expires is not None and record.expires < now_s):
        hash_value = DynamoType(record.key[shape.hash_key])
        range_value = DynamoType(record.key[shape.range_key]) if shape.range_key else None
        table.delete_item(hash_value, range_value)
        return
    try:
        _insert(table, record.item)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        report.rejected_items += 1
        log.debug("rejected item for %s: %s", shape.name, exc)


def _insert(table: Any, attributes: Item) -> None:
    """Put an item straight into a moto table.

    moto's put_item validates every attribute again and its item constructor re-measures the
    whole item for each attribute it adds (quadratic in the attributes: 2 ms for a 1 KB run
    on a busy machine), which made restoring large tables take minutes. These items passed
    that validation when first written; only the key is checked, since a table's key schema
    may have changed since.
    """
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.dynamo_type import Item as MotoItem

    hash_value = DynamoType(attributes[table.hash_key_attr])
    if hash_value.type != table.hash_key_type:
        raise TypeError(f"{table.hash_key_attr} is {hash_value.type}, not {table.hash_key_type}")
    range_value = None
    if table.range_key_attr is not None:
        range_value = DynamoType(attributes[table.range_key_attr])
        if range_value.type != table.range_key_type:
            raise TypeError(
                f"{table.range_key_attr} is {range_value.type}, not {table.range_key_type}"
            )
    item = cast(MotoItem, MotoItem.__new__(MotoItem))  # skips the quadratic constructor
    item.hash_key = hash_value
    item.range_key = range_value
    item.attrs = LimitedSizeDict()
    dict.update(item.attrs, {name: DynamoType(value) for name, value in attributes.items()})
    if range_value is None:
        table.items[hash_value] = item
    else:
        table.items[hash_value][range_value] = item


def restore(directory: Path, backend: Any, names: Mapping[str, str], now_s: float) -> ImportReport:
    """Load the snapshot and replay the journal into `backend`; what was done.

    Raises SnapshotError when the snapshot or a segment header is unusable, OSError when the
    folder cannot be read. A torn segment tail is dropped with a warning: nothing in it was
    acknowledged.
    """
    shaped = shapes(backend, names)
    report = ImportReport()
    (directory / f".{SNAPSHOT}.tmp").unlink(missing_ok=True)  # an interrupted compaction
    snapshot = directory / SNAPSHOT
    if snapshot.exists():
        read = journal.ReadReport()
        bodies = journal.read_bodies(snapshot, read)
        header = check_header(next(bodies, b""), FORMAT)
        report.next_segment = int(header.get("nextSegment", 1))
        for body in bodies:
            _apply(backend, shaped, body, now_s, report)
            report.restored += 1
        if read.reason is not None:
            raise SnapshotError(f"{snapshot.name} is damaged ({read.reason})")
    last = report.next_segment - 1
    for number, path in journal.segments(directory):
        if number < report.next_segment:
            path.unlink()  # folded into the snapshot by a compaction that stopped before cleanup
            continue
        read = journal.ReadReport()
        bodies = journal.read_bodies(path, read)
        first = next(bodies, None)
        if first is not None:
            check_header(first, journal.FORMAT)
            for body in bodies:
                _apply(backend, shaped, body, now_s, report)
                report.replayed_records += 1
        if read.reason is not None:
            report.torn_segments.append(path.name)
            log.warning(
                "dropped a torn end of %s (%d bytes, %s): a write interrupted before it was "
                "acknowledged",
                path.name,
                read.dropped_bytes,
                read.reason,
            )
        last = number
    report.restored += report.replayed_records
    report.next_segment = last + 1
    return report


def set_aside(directory: Path, clock: Clock) -> Path:
    """Rename an unusable state folder out of the way; the new name."""
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    aside = directory.with_name(f"{directory.name}.bad-{stamp}")
    os.replace(directory, aside)
    return aside


# --- version 1: one JSON file ----------------------------------------------------------------


def decode_legacy(data: bytes) -> Tables:
    """The tables of a version 1 state file; SnapshotError when it is not one."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"not valid JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SnapshotError("not a Cronpilot local state file")
    version = document.get("version")
    if version != LEGACY_VERSION:
        raise SnapshotError(f"format version {version!r} in a version 1 file name")
    raw_tables = document.get("tables")
    if not isinstance(raw_tables, dict):
        raise SnapshotError("no tables object")
    tables: Tables = {}
    for key, items in raw_tables.items():
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise SnapshotError(f"table {key!r} is not a list of items")
        tables[str(key)] = items
    return tables


def _legacy_lines(
    tables: Mapping[str, Sequence[Item]], shaped: Mapping[str, TableShape], now_s: float
) -> Iterator[bytes]:
    for key, items in tables.items():
        shape = shaped.get(key)
        if shape is None:
            log.warning("version 1 state has table %r, which no longer exists; left out", key)
            continue
        for item in items:
            try:
                record = shape.record(key, item)
            except KeyError:
                log.warning("a version 1 item of %r has no key; left out", key)
                continue
            if record.expires is None or record.expires >= now_s:
                yield journal.record_line(record)


def upgrade_legacy(
    legacy: Path, directory: Path, backend: Any, names: Mapping[str, str], clock: Clock
) -> bool:
    """Turn a version 1 file into the folder's snapshot; True when there was one to upgrade.

    The snapshot is written before the old file is renamed to `<name>.v1`, so an interruption
    leaves one of them usable. An unusable old file is renamed to `<name>.bad-<timestamp>`
    with a warning, as version 1 did. A file that cannot be read at all raises OSError.
    """
    try:
        data = legacy.read_bytes()
    except FileNotFoundError:
        return False
    if (directory / SNAPSHOT).exists():
        log.info("%s was already upgraded; keeping it as %s.v1", legacy, legacy.name)
        os.replace(legacy, legacy.with_name(f"{legacy.name}.v1"))
        return False
    now = clock.now()
    try:
        tables = decode_legacy(data)
    except SnapshotError as exc:
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        aside = legacy.with_name(f"{legacy.name}.bad-{stamp}")
        os.replace(legacy, aside)
        log.warning("local state %s is unusable (%s); kept it as %s", legacy, exc, aside)
        return False
    shaped = shapes(backend, names)
    lines = _legacy_lines(tables, shaped, now.timestamp())
    write_snapshot(directory, _with_header(snapshot_header(now, 1), lines))
    os.replace(legacy, legacy.with_name(f"{legacy.name}.v1"))
    log.info("upgraded %s to the version %d folder %s", legacy.name, VERSION, directory)
    return True


def _with_header(header: bytes, lines: Iterable[bytes]) -> Iterator[bytes]:
    yield header
    yield from lines


def ensure_folder(directory: Path) -> None:
    """Create the state folder (private) when missing."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
