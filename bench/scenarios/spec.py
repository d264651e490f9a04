"""The vocabulary of a planner scenario: simulated endpoints, phases, rules and expectations.

Pure definitions, shared by the simulator, the model evaluation and the end-to-end tests. An
endpoint's response body is a function of virtual time and of what ran before (`Moment`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bench.scenarios.scripted import Rule

T0 = datetime(2025, 1, 1, tzinfo=UTC)
# The reference's "paused until 2099" for endpoints that only run when the planner says so.
FOREVER = datetime(2099, 1, 1, tzinfo=UTC)

Action = Literal["run", "pause", "resume", "tighten", "relax", "none"]
Decision = Literal["run", "pause", "resume", "tighten", "relax", "keep"]

# Which decisions count as doing what an expectation asks; "keep" is never wrong.
ACCEPTS: dict[Action, frozenset[Decision]] = {
    "run": frozenset({"run", "resume"}),
    "pause": frozenset({"pause"}),
    "resume": frozenset({"resume"}),
    "tighten": frozenset({"tighten"}),
    "relax": frozenset({"relax"}),
    "none": frozenset(),
}


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


@dataclass(frozen=True)
class Reply:
    """What a simulated endpoint answers; a body function may return one or a bare body."""

    body: Any
    ok: bool = True
    status_code: int = 200
    duration_ms: int = 150


@dataclass(frozen=True)
class Response:
    """One earlier run of an endpoint, as the world remembers it."""

    at: timedelta
    body: Any


History = Mapping[str, Sequence[Response]]


@dataclass(frozen=True)
class Moment:
    """What a body function sees: the time and every endpoint's earlier runs (oldest first)."""

    at: timedelta
    now: datetime
    history: History

    @property
    def minute(self) -> int:
        return int(self.at.total_seconds() // 60)

    def runs(self, key: str) -> Sequence[Response]:
        return self.history.get(key, ())

    def last(self, key: str) -> Response | None:
        runs = self.runs(key)
        return runs[-1] if runs else None


Body = Callable[[Moment], Any]


@dataclass(frozen=True)
class EndpointSpec:
    """A simulated endpoint: its configuration as the API takes it, and its behaviour."""

    key: str
    name: str
    body: Body
    description: str | None = None
    interval_ms: int | None = None
    cron: str | None = None
    min_ms: int | None = None
    max_ms: int | None = None
    method: str = "GET"
    paused: bool = False  # created paused until FOREVER: runs only when the planner resumes it
    job: str = "main"
    tier: str = ""

    def api_fields(self, url: str) -> dict[str, Any]:
        """The body of `POST /api/jobs/{id}/endpoints` for this endpoint."""
        fields: dict[str, Any] = {"name": self.name, "url": url, "method": self.method}
        optional = {
            "description": self.description,
            "baselineIntervalMs": self.interval_ms,
            "baselineCron": self.cron,
            "minIntervalMs": self.min_ms,
            "maxIntervalMs": self.max_ms,
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        return fields


@dataclass(frozen=True)
class JobSpec:
    key: str
    name: str
    description: str | None = None


@dataclass(frozen=True)
class Phase:
    name: str
    start: timedelta
    end: timedelta

    def holds(self, at: timedelta) -> bool:
        return self.start <= at < self.end

    @property
    def label(self) -> str:
        return f"{self.name} {_span(self.start)}-{_span(self.end)}"


def _span(value: timedelta) -> str:
    """`0m`, `20m20s`, `2h`, `26h30m`."""
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    mins, secs = divmod(rest, 60)
    if hours >= 2:
        return f"{hours}h" + (f"{mins:02d}m" if mins or secs else "")
    return f"{hours * 60 + mins}m" + (f"{secs:02d}s" if secs else "")


# A time fixed in advance, or found in the run history (a signal a run caused).
Timing = timedelta | Callable[[History], timedelta | None]


@dataclass(frozen=True)
class Expect:
    """A signal and the action it calls for on one endpoint, to take effect within `within`.

    The action takes effect when: `run`/`resume` the endpoint runs after the signal was seen;
    `pause` a pause is in force; `tighten` two runs come at most `gap` apart; `relax` a run is
    followed by a gap of at least `gap`; `none` the planner takes no action until `until`.
    """

    endpoint: str
    action: Action
    at: Timing
    within: timedelta
    signal: str
    source: str | None = None  # the endpoint whose body carries the signal
    gap: timedelta | None = None
    until: Timing | None = None  # default: the endpoint's next expectation, or the end

    def when(self, history: History) -> timedelta | None:
        return self.at if isinstance(self.at, timedelta) else self.at(history)

    def ends(self, history: History) -> timedelta | None:
        if self.until is None or isinstance(self.until, timedelta):
            return self.until
        return self.until(history)


@dataclass(frozen=True)
class Check:
    """A scenario-specific assertion over the run history (the reference's §12.6 list)."""

    label: str
    holds: Callable[[History], bool]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    summary: str
    duration: timedelta
    jobs: tuple[JobSpec, ...]
    endpoints: tuple[EndpointSpec, ...]
    phases: tuple[Phase, ...]
    rules: Mapping[str, Rule]  # endpoint name -> scripted rule
    expects: tuple[Expect, ...]
    wasted: Callable[[str, Response, History], bool]
    wasted_means: str
    checks: tuple[Check, ...] = ()
    start: datetime = T0
    notes: tuple[str, ...] = field(default_factory=tuple)
    # The reflex policy: endpoint name -> a rule that sets reflexes equivalent to its scripted
    # rule on its first session and leaves what they cover to them; other endpoints keep theirs.
    reflex_rules: Mapping[str, Rule] = field(default_factory=dict)
    reflex_notes: tuple[str, ...] = field(default_factory=tuple)

    def endpoint(self, key: str) -> EndpointSpec:
        for spec in self.endpoints:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def job(self, key: str) -> JobSpec:
        for spec in self.jobs:
            if spec.key == key:
                return spec
        raise KeyError(key)
