""" "A run finished": the one seam that the planner's analysis announcement, reflexes and later
notifications hang on. The executor publishes one event per settled run and knows nothing of
who listens; listeners are wired once per process (deps.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.domain.entities import Endpoint, Run

log = logging.getLogger("cronpilot.engine")


@dataclass(frozen=True, slots=True)
class RunFinished:
    """A scheduled run recorded and its endpoint settled (next slot planned, analysis marks
    written). `state_changed`: the planner's marking found news in it (domain/analysis.py)."""

    endpoint: Endpoint
    run: Run
    state_changed: bool


Listener = Callable[[RunFinished], None]


class RunFinishedHub:
    """Calls every listener in order; one that fails is logged and the rest still run, so a
    listener can never fail a run that already happened."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, event: RunFinished) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception(
                    "run-finished listener %s failed on run %s",
                    getattr(listener, "__qualname__", listener),
                    event.run.id,
                )
