"""Decision 2: nothing reads the wall clock except chalicelib/clock.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WALL_CLOCK = re.compile(r"datetime\.(now|utcnow|today)\(|\btime\.time\(|date\.today\(")


def test_only_the_clock_module_reads_the_wall_clock() -> None:
    offenders = []
    for path in [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]:
        if path.name == "clock.py" and path.parent.name == "chalicelib":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if WALL_CLOCK.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
