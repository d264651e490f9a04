"""Results files keep their hand-written notes: what follows the first `## ` heading survives
a re-run, which rewrites only the measured part above it."""

from __future__ import annotations

from pathlib import Path


def kept_notes(path: Path, heading: str = "## ") -> list[str]:
    """What follows the first line starting with `heading` in an earlier results file."""
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    for index, line in enumerate(lines):
        if line.startswith(heading):
            return lines[index:]
    return []


def write_keeping_notes(path: Path, report: str, heading: str = "## ") -> None:
    """Write `report` to `path`, then the notes it held from `heading` on (the report has no
    line starting with `heading` of its own)."""
    notes = kept_notes(path, heading)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.rstrip("\n") + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else ""))
