"""Stand-ins the integration tests put into `Deps`: a scripted caller and a job recorder."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from chalicelib.clock import ManualClock
from chalicelib.engine.caller import CallRequest, CallResult
from chalicelib.planner.queue import JobRef


class StubCaller:
    """Answers each call with the next scripted result; can act during the call."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.results: list[CallResult] = []
        self.during: Any = None
        self.calls: list[CallRequest] = []
        self.duration = timedelta(milliseconds=200)

    def call(
        self, request: CallRequest, signing_key: str | Sequence[str] | None = None
    ) -> CallResult:
        self.calls.append(request)
        if self.during is not None:
            self.during()
        self.clock.advance(self.duration)
        return self.results.pop(0) if self.results else CallResult("success", 200, 200, {"ok": 1})


class Recorder:
    """An analysis queue that keeps what was sent, with each message's delay."""

    def __init__(self) -> None:
        self.sent: list[tuple[JobRef, int]] = []

    def send(self, jobs: Any, delay_s: int = 0) -> None:
        self.sent.extend((j, delay_s) for j in jobs)
