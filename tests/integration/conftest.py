"""Fixtures the integration modules share: the scripted caller and the analysis queue."""

from __future__ import annotations

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from tests.integration.fakes import Recorder, StubCaller


@pytest.fixture
def stub(deps: Deps, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> StubCaller:
    """Every call the executor makes answered by a StubCaller."""
    caller = StubCaller(clock)
    monkeypatch.setattr(deps, "caller", caller)
    return caller


@pytest.fixture
def analysis_queue(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Jobs sent for analysis, recorded instead of queued."""
    recorder = Recorder()
    monkeypatch.setattr(deps, "analysis_queue", recorder)
    return recorder
