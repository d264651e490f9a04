"""The store's write-ahead journal: framed records, segment files, and a group-committing writer.

Every line of a journal segment or snapshot is `<crc32 hex> TAB <body> LF`, the CRC covering
the body, so a line torn by a crash or power loss is recognised and dropped. The first line of
a file is a header (a JSON object naming format and version); every other line is one item
image:

    <table key> TAB <key JSON> TAB <expires epoch s, or empty> TAB <item JSON, or empty>

The key and expiry sit outside the item so compaction can merge and expire without parsing
items; an empty item is a deletion. Compact JSON never holds a raw TAB or LF, which makes the
fields safe to split.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("cronpilot-local.journal")

FORMAT = "cronpilot-local-journal"
VERSION = 2
SEGMENT_PATTERN = re.compile(r"^journal-(\d{10})\.log$")


class JournalError(RuntimeError):
    """The journal cannot accept or make durable a write; nothing may be acknowledged."""


class FrameError(ValueError):
    """A line is not a complete, intact record."""


@dataclass(frozen=True)
class Record:
    """One item image: the item after a write, or None when the write deleted it."""

    table: str
    key: dict[str, Any]
    expires: float | None
    item: dict[str, Any] | None

    @property
    def identity(self) -> tuple[str, str]:
        """What two records of the same item share (table and canonical key)."""
        return self.table, canonical(self.key)


def canonical(key: dict[str, Any]) -> str:
    """The key as compact JSON with sorted attribute names."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def frame(body: bytes) -> bytes:
    """`body` as one CRC-checked line."""
    return b"%08x\t%s\n" % (zlib.crc32(body), body)


def unframe(line: bytes) -> bytes:
    """The body of a framed line; FrameError when the line is torn or damaged."""
    if not line.endswith(b"\n"):
        raise FrameError("line without its end (torn write)")
    crc, sep, body = line[:-1].partition(b"\t")
    if not sep or len(crc) != 8:
        raise FrameError("no checksum")
    try:
        expected = int(crc, 16)
    except ValueError:
        raise FrameError("no checksum") from None
    if zlib.crc32(body) != expected:
        raise FrameError("checksum mismatch")
    return body


def header_line(document: dict[str, Any]) -> bytes:
    """A framed header line."""
    return frame(json.dumps(document, separators=(",", ":")).encode())


def record_body(record: Record) -> bytes:
    """The unframed body of `record`."""
    expires = "" if record.expires is None else repr(record.expires)
    item = "" if record.item is None else json.dumps(record.item, separators=(",", ":"))
    key = json.dumps(record.key, sort_keys=True, separators=(",", ":"))
    return f"{record.table}\t{key}\t{expires}\t{item}".encode()


def record_line(record: Record) -> bytes:
    """`record` as one framed line."""
    return frame(record_body(record))


def split_body(body: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(table, key JSON, expires, item JSON) of a record body, without parsing JSON."""
    parts = body.split(b"\t", 3)
    if len(parts) != 4:
        raise FrameError("record without its four fields")
    return parts[0], parts[1], parts[2], parts[3]


def parse_record(body: bytes) -> Record:
    """The record a body holds; FrameError when it is not one."""
    table, key, expires, item = split_body(body)
    try:
        return Record(
            table=table.decode(),
            key=json.loads(key),
            expires=float(expires) if expires else None,
            item=json.loads(item) if item else None,
        )
    except ValueError as exc:  # includes UnicodeDecodeError and JSONDecodeError
        raise FrameError(f"unreadable record ({exc})") from None


def expired(expires: bytes, now_s: float) -> bool:
    """Whether a record's expiry field lies before `now_s`."""
    return bool(expires) and float(expires) < now_s


@dataclass
class ReadReport:
    """What reading a file found beyond its intact records."""

    dropped_bytes: int = 0
    reason: str | None = None


def read_bodies(path: Path, report: ReadReport) -> Iterator[bytes]:
    """The bodies of the intact lines of `path`, header included, up to the first bad one.

    A bad line ends the file: what follows it was written after it, and a journal write is
    acknowledged only once everything before it is durable. The dropped byte count and the
    reason go to `report`.
    """
    with path.open("rb") as handle:
        offset = 0
        for line in handle:
            try:
                body = unframe(line)
            except FrameError as exc:
                report.dropped_bytes = path.stat().st_size - offset
                report.reason = str(exc)
                return
            offset += len(line)
            yield body


def segment_name(number: int) -> str:
    """File name of journal segment `number`."""
    return f"journal-{number:010d}.log"


def segments(directory: Path) -> list[tuple[int, Path]]:
    """The journal segments in `directory`, oldest first."""
    found = []
    for path in directory.iterdir():
        match = SEGMENT_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def fsync_directory(directory: Path) -> None:
    """Make a file creation, rename or removal in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_sync = getattr(os, "fdatasync", os.fsync)


class Journal:
    """Appends framed records to the current segment; `wait_durable` returns once they are synced.

    Writers call `append` while holding the store's write gate (which fixes the order), then
    `wait_durable` after releasing it. One flusher thread writes whatever has accumulated and
    syncs it with a single fdatasync (group commit), so concurrent writers share the sync.
    After a failed write or sync the journal refuses everything: the store then answers
    errors rather than acknowledging writes it cannot keep.
    """

    def __init__(self, directory: Path, segment: int) -> None:
        self.directory = directory
        self.segment = segment
        self._cond = threading.Condition()
        # Each pending line carries the segment file it belongs to, so a rotation needs no sync
        # under the gate: lines queued before it still go to the old segment.
        self._pending: list[tuple[int, bytes]] = []
        self._appended = 0
        self._durable = 0
        self._error: OSError | None = None
        self._closing = False
        self._fd = self._open(segment)
        self._retired: list[int] = []
        self._thread = threading.Thread(target=self._flush_loop, name="journal", daemon=True)
        self._thread.start()

    def _open(self, segment: int) -> int:
        path = self.directory / segment_name(segment)
        # O_EXCL: a segment is written by one process, once; an old one is never appended to,
        # whatever its tail looks like.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            _write_all(fd, header_line({"format": FORMAT, "version": VERSION, "segment": segment}))
            os.fsync(fd)
            fsync_directory(self.directory)
        except BaseException:
            os.close(fd)
            raise
        return fd

    @property
    def failed(self) -> OSError | None:
        """The write or sync error that stopped the journal, if any."""
        return self._error

    def append(self, lines: list[bytes]) -> int:
        """Queue framed lines; the ticket to pass to `wait_durable`. Raises JournalError."""
        with self._cond:
            if self._error is not None:
                raise JournalError(f"the journal stopped after an error: {self._error}")
            if self._closing:
                raise JournalError("the journal is closed")
            fd = self._fd
            self._pending.extend((fd, line) for line in lines)
            self._appended += 1
            self._cond.notify_all()
            return self._appended

    def wait_durable(self, ticket: int) -> None:
        """Block until the lines of `ticket` are on disk; JournalError when they never will be."""
        with self._cond:
            while self._durable < ticket and self._error is None:
                self._cond.wait()
            if self._durable < ticket:
                raise JournalError(f"the journal could not be written: {self._error}")

    def prepare_rotation(self) -> tuple[int, int]:
        """Create and sync the next segment (no gate needed); pass the result to `rotate`."""
        number = self.segment + 1
        return number, self._open(number)

    def rotate(self, prepared: tuple[int, int]) -> int:
        """Send every later append to the prepared segment; the ticket that ends the old one.

        Called under the write gate, so no append races it. It only swaps a file descriptor:
        the flusher finishes the old segment on its own, and the old segment is complete
        once `wait_durable` returns for the ticket.
        """
        number, fd = prepared
        with self._cond:
            if self._error is not None:
                os.close(fd)
                raise JournalError(f"the journal stopped after an error: {self._error}")
            self._retired.append(self._fd)
            self._fd = fd
            self.segment = number
            return self._appended

    def close(self) -> None:
        """Write what is pending, then stop the flusher and close the segment."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        for fd in [*self._retired, self._fd]:
            os.close(fd)
        self._retired = []

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:
                    return
                batch, self._pending = self._pending, []
                upto = self._appended
                current = self._fd
                retired, self._retired = self._retired, []
            try:
                _flush(batch)
            except OSError as exc:
                log.error("cannot write the journal (%s); refusing further writes", exc)
                with self._cond:
                    self._error = exc
                    self._retired.extend(fd for fd in retired if fd != current)
                    self._cond.notify_all()
                return
            # Lines for a retired segment were all queued before its rotation: it is complete.
            for fd in retired:
                os.close(fd)
            with self._cond:
                self._durable = upto
                self._cond.notify_all()


def _flush(batch: list[tuple[int, bytes]]) -> None:
    """Write each run of lines to its segment, in order, and sync every segment written."""
    runs: list[tuple[int, list[bytes]]] = []
    for fd, line in batch:
        if runs and runs[-1][0] == fd:
            runs[-1][1].append(line)
        else:
            runs.append((fd, [line]))
    for fd, lines in runs:
        _write_all(fd, b"".join(lines))
        _sync(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
