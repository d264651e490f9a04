"""How a change to an endpoint moves its next run: the instructions the scheduling chokepoint
(engine/scheduling.py) carries out after applying the change. Pure values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.entities import Cause, Endpoint, ScheduleSource


@dataclass(frozen=True, slots=True)
class Keep:
    """Leave nextRunAt (and its cause) as it is."""


@dataclass(frozen=True, slots=True)
class Replan:
    """nextRunAt = the governor's answer for the new state, from now."""


@dataclass(frozen=True, slots=True)
class FromLastRun:
    """nextRunAt = what the governor gives for the new state counted from the last run (now if
    that has passed): clearing hints hands the endpoint back to its baseline as if it had
    been planned without them."""


@dataclass(frozen=True, slots=True)
class Nudge:
    """Move nextRunAt earlier to `when`, held within the min/max limits; never later; no-op while
    paused. `source` names the rule that asked, for the slot's cause."""

    when: datetime
    source: ScheduleSource


@dataclass(frozen=True, slots=True)
class RunAt:
    """nextRunAt = min(current, when), for `cause`: resume runs an overdue endpoint at once."""

    when: datetime
    cause: Cause


@dataclass(frozen=True, slots=True)
class Settled:
    """nextRunAt as a finished run computed it (domain/afterrun.py)."""


Timing = Keep | Replan | FromLastRun | Nudge | RunAt | Settled
Change = tuple[Endpoint, Timing]
