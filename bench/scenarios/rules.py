"""Building blocks for scripted rules: read what a session saw, and phrase the tool calls.

The endpoint's own schedule (baseline, pause, active hints) is read from the prompt, exactly
as a model would read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.scenarios.scripted import Call, Observation
from chalicelib.domain.timeutil import iso, parse_instant

INCIDENT = timedelta(minutes=5)
WATCH = timedelta(minutes=15)
CALM = timedelta(hours=1)
QUIET = timedelta(hours=4)

_BASELINE = re.compile(r"^- Baseline: interval (\d+)ms$", re.MULTILINE)
_PAUSED = re.compile(r"^- Status: Paused until (\S+)$", re.MULTILINE)
_HINT = re.compile(r"^- Active hints: .*?interval (\d+)ms", re.MULTILINE)


def paused(o: Observation) -> bool:
    return _PAUSED.search(o.prompt) is not None


def hint_interval(o: Observation) -> int | None:
    found = _HINT.search(o.prompt)
    return int(found.group(1)) if found else None


def effective_interval(o: Observation) -> int | None:
    """The interval the endpoint runs at now: its interval hint, else its baseline."""
    hinted = hint_interval(o)
    if hinted is not None:
        return hinted
    found = _BASELINE.search(o.prompt)
    return int(found.group(1)) if found else None


def get(body: Any, *path: str) -> Any:
    """`body[a][b]...`, or None when any step is missing or not an object."""
    value = body
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def sibling(o: Observation, name: str, *path: str) -> Any:
    return get(o.siblings.get(name), *path)


def interval(ms: int, reason: str, ttl: timedelta = timedelta(hours=1)) -> Call:
    return (
        "propose_interval",
        {"intervalMs": ms, "ttlMinutes": ttl.total_seconds() / 60, "reason": reason},
    )


def retune(o: Observation, ms: int, reason: str, ttl: timedelta = timedelta(hours=1)) -> list[Call]:
    """An interval hint, unless the endpoint already runs at that interval."""
    return [] if effective_interval(o) == ms else [interval(ms, reason, ttl)]


def run_now(o: Observation, reason: str, ttl: timedelta = timedelta(minutes=30)) -> Call:
    return (
        "propose_next_time",
        {"nextRunAtIso": iso(o.now), "ttlMinutes": ttl.total_seconds() / 60, "reason": reason},
    )


def pause_until(until: datetime, reason: str) -> Call:
    return ("pause_until", {"untilIso": iso(until), "reason": reason})


def resume(reason: str) -> Call:
    return ("pause_until", {"untilIso": None, "reason": reason})


def clear(reason: str) -> Call:
    return ("clear_hints", {"reason": reason})


def finish(calls: list[Call], look_again: timedelta, reasoning: str = "") -> list[Call]:
    """The actions, then submit_analysis asking to look again after `look_again`."""
    names = [name for name, _ in calls]
    text = reasoning or (f"Applied the rules: {', '.join(names)}" if names else "No action needed")
    submit: Call = (
        "submit_analysis",
        {
            "reasoning": text,
            "actions_taken": names,
            "confidence": "high",
            "next_analysis_in_ms": int(look_again.total_seconds() * 1000),
        },
    )
    return [*calls, submit]


# Reflexes --------------------------------------------------------------------------------

# One line of the prompt's "This endpoint's reflexes" list (chalicelib/planner/prompt.py).
_REFLEX = re.compile(
    r"^- (\S+) \(yours\): when .* cooldown \d+ms, (?:expires (\S+)|no expiry), .*?"
    r"\. Reason: (.*)$",
    re.MULTILINE,
)
_HINT_EXPIRES = re.compile(r"^- Active hints: .*?expires ([^\s,]+)", re.MULTILINE)


@dataclass(frozen=True)
class Held:
    """A reflex of the endpoint's own, as its prompt lists it."""

    id: str
    expires: datetime | None
    reason: str


def held_reflexes(o: Observation) -> list[Held]:
    """The endpoint's live reflexes that a session set (people's are not the policy's)."""
    return [
        Held(m.group(1), parse_instant(m.group(2)) if m.group(2) else None, m.group(3).strip())
        for m in _REFLEX.finditer(o.prompt)
    ]


def hint_expires(o: Observation) -> datetime | None:
    found = _HINT_EXPIRES.search(o.prompt)
    return parse_instant(found.group(1)) if found else None


_NO_VALUE = object()


def when(path: str, op: str, value: Any = _NO_VALUE, endpoint: str = "self") -> dict[str, Any]:
    """One clause; without `value` for `changed` and a plain `exists`."""
    clause: dict[str, Any] = {"endpoint": endpoint, "path": path, "op": op}
    if value is not _NO_VALUE:
        clause["value"] = value
    return clause


def every(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"all": list(conditions)}


def some(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"any": list(conditions)}


def reflex(
    condition: dict[str, Any], do: dict[str, Any], reason: str, cooldown: timedelta
) -> dict[str, Any]:
    """A reflex as manage_reflexes takes it. `reason` names it: the policy finds its own
    reflexes again by reason, so each reason is unique on its endpoint."""
    return {
        "when": condition,
        "do": do,
        "reason": reason,
        "cooldownMs": int(cooldown.total_seconds() * 1000),
    }


def keep_reflexes(
    o: Observation, wanted: list[dict[str, Any]], renew_within: timedelta = timedelta(hours=6)
) -> list[Call]:
    """manage_reflexes for the wanted reflexes the endpoint lacks, and for those expiring within
    `renew_within` (renewed in place with replaceId); nothing when all are in force."""
    held = {h.reason: h for h in held_reflexes(o)}
    items: list[dict[str, Any]] = []
    for spec in wanted:
        mine = held.get(spec["reason"])
        if mine is None:
            items.append(spec)
        elif mine.expires is not None and mine.expires - o.now <= renew_within:
            items.append({**spec, "replaceId": mine.id})
    return [("manage_reflexes", {"set": items})] if items else []
