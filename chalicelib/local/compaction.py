"""Fold finished journal segments into a new snapshot, from the files alone.

Run by the store as its own process (`python -m chalicelib.local.compaction --dir D --upto N`),
so merging a million items never holds the store's interpreter or its write gate: the store
only rotates the journal (a few milliseconds under the gate) and keeps serving. Memory stays
proportional to the segments being folded, not to the snapshot, which is streamed line by line
and copied verbatim where nothing changed. Expired items (TTL passed) are left out.

Crash safety: the new snapshot is written aside and renamed over the old one; only then are
the folded segments deleted. A compaction killed at any point leaves a state that restores to
the same items.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chalicelib.clock import Clock, SystemClock
from chalicelib.local import journal, persistence
from chalicelib.local.store_process import follow_parent

log = logging.getLogger("cronpilot-local.compaction")

Identity = tuple[bytes, bytes]


@dataclass
class CompactionReport:
    """What a compaction wrote and dropped."""

    items: int = 0
    expired: int = 0
    folded_segments: int = 0


def _changes(directory: Path, first: int, upto: int) -> tuple[dict[Identity, bytes], int]:
    """The latest line of every item touched in segments [first, upto), and how many segments."""
    latest: dict[Identity, bytes] = {}
    count = 0
    for number, path in journal.segments(directory):
        if not first <= number < upto:
            continue
        count += 1
        read = journal.ReadReport()
        bodies = journal.read_bodies(path, read)
        header = next(bodies, None)
        if header is None:
            continue
        persistence.check_header(header, journal.FORMAT)
        for body in bodies:
            table, key, _, _ = journal.split_body(body)
            latest[(table, key)] = body
    return latest, count


def _merged(
    directory: Path, latest: dict[Identity, bytes], now_s: float, report: CompactionReport
) -> Iterator[bytes]:
    snapshot = directory / persistence.SNAPSHOT
    if snapshot.exists():
        read = journal.ReadReport()
        bodies = journal.read_bodies(snapshot, read)
        next(bodies, None)  # the old header; checked by the caller
        for body in bodies:
            table, key, _, _ = journal.split_body(body)
            changed = latest.pop((table, key), None)
            yield from _keep(changed if changed is not None else body, now_s, report)
        if read.reason is not None:
            raise persistence.SnapshotError(f"{snapshot.name} is damaged ({read.reason})")
    for body in latest.values():
        yield from _keep(body, now_s, report)


def _keep(body: bytes, now_s: float, report: CompactionReport) -> Iterator[bytes]:
    _, _, expires, item = journal.split_body(body)
    if not item:
        return  # deleted
    if journal.expired(expires, now_s):
        report.expired += 1
        return
    report.items += 1
    yield journal.frame(body)


def compact(directory: Path, upto: int, clock: Clock) -> CompactionReport:
    """Fold the segments below `upto` into the snapshot and delete them."""
    report = CompactionReport()
    snapshot = directory / persistence.SNAPSHOT
    first = 1
    if snapshot.exists():
        read = journal.ReadReport()
        header = next(journal.read_bodies(snapshot, read), b"")
        first = int(persistence.check_header(header, persistence.FORMAT).get("nextSegment", 1))
    if upto <= first:
        return report
    latest, report.folded_segments = _changes(directory, first, upto)
    now = clock.now()
    lines = _merged(directory, latest, now.timestamp(), report)
    header = persistence.snapshot_header(now, upto)
    persistence.write_snapshot(directory, _prepend(header, lines))
    for number, path in journal.segments(directory):
        if number < upto:
            path.unlink()
    journal.fsync_directory(directory)
    return report


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def main(argv: list[str] | None = None) -> int:
    """Compact once; exit code 0 when the snapshot was replaced (or nothing was to do)."""
    parser = argparse.ArgumentParser(prog="chalicelib.local.compaction")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--upto", type=int, required=True)
    parser.add_argument("--parent-pid", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s store: %(message)s"
    )
    if hasattr(os, "nice"):
        # Behind the store for the CPU: its replies are waited on, this file is not.
        os.nice(10)
    if args.parent_pid is not None and not follow_parent(args.parent_pid):
        log.error("the store %s is gone; not compacting", args.parent_pid)
        return 1
    try:
        report = compact(args.dir, args.upto, SystemClock())
    except (OSError, persistence.SnapshotError, journal.FrameError) as exc:
        log.error("compaction of %s failed: %s", args.dir, exc)
        return 1
    log.info(
        "compacted %d journal segments: %d items kept, %d expired dropped",
        report.folded_segments,
        report.items,
        report.expired,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
