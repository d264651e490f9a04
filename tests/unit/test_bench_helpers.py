"""The benchmarks' own pure parts: the soak's preloaded history and results files' notes."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from bench.local_soak import history
from bench.notes import write_keeping_notes


def test_history_expires_each_endpoints_runs_at_its_own_interval() -> None:
    endpoints = [("fast", 2.0), ("mid", 5.0), ("slow", 10.0)]
    found = history(endpoints, 340, first_expiry_s=1_000.0)

    assert len(found) == 340
    assert [at for at, _ in found] == sorted(at for at, _ in found)
    assert all(at >= 1_000.0 for at, _ in found)
    for endpoint, interval in endpoints:
        times = [at for at, e in found if e == endpoint]
        assert all(b - a == pytest.approx(interval) for a, b in pairwise(times))
    # Shares follow the rates (1/2 : 1/5 : 1/10 = 5 : 2 : 1), as a stack at its limit holds them.
    counts = {e: sum(1 for _, x in found if x == e) for e, _ in endpoints}
    assert counts == {
        "fast": pytest.approx(212, abs=2),
        "mid": pytest.approx(85, abs=2),
        "slow": pytest.approx(43, abs=2),
    }


def test_a_rerun_rewrites_the_measured_part_and_keeps_the_notes(tmp_path: Path) -> None:
    results = tmp_path / "results" / "bench.txt"
    write_keeping_notes(results, "# Bench\n\nfirst figures\n")
    assert results.read_text() == "# Bench\n\nfirst figures\n"

    results.write_text(results.read_text() + "\n## Notes\n\nwhy the figures moved\n")
    write_keeping_notes(results, "# Bench\n\nsecond figures")

    assert results.read_text() == "# Bench\n\nsecond figures\n\n## Notes\n\nwhy the figures moved\n"


def test_notes_can_start_at_a_named_heading_below_the_reports_own(tmp_path: Path) -> None:
    results = tmp_path / "lateness.txt"
    results.write_text("# Bench\n\n## Generated part\nold\n\n## Earlier runs\n\n| a row |\n")

    write_keeping_notes(results, "# Bench\n\n## Generated part\nnew\n", heading="## Earlier runs")

    assert results.read_text() == (
        "# Bench\n\n## Generated part\nnew\n\n## Earlier runs\n\n| a row |\n"
    )
