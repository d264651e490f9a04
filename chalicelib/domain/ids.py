"""Identifier formats. Run and session ids sort by time so a key range is a time range."""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime

from chalicelib.domain.timeutil import from_ms, to_ms

_BASE36 = string.digits + string.ascii_lowercase
_URL_SAFE = string.ascii_letters + string.digits + "_-"


def _random(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def job_id(now: datetime) -> str:
    """`job_<epoch-ms>_<7 base36>` as the reference writes them."""
    return f"job_{to_ms(now)}_{_random(_BASE36, 7)}"


def endpoint_id() -> str:
    """21 URL-safe characters (nanoid-sized)."""
    return _random(_URL_SAFE, 21)


def run_id(started_at: datetime) -> str:
    """`run_<13-digit epoch-ms>_<10 base36>`: lexical order is start order."""
    return f"run_{to_ms(started_at):013d}_{_random(_BASE36, 10)}"


_RUN_ID = re.compile(r"run_(\d{13})_[0-9a-z]{10}")


def run_started_at(value: str) -> datetime | None:
    """When the run of id `value` started (to the millisecond); None when `value` is not a
    run id (a claim token of the release before, say)."""
    match = _RUN_ID.fullmatch(value)
    return from_ms(int(match.group(1))) if match else None


def session_id(analyzed_at: datetime) -> str:
    return f"session_{to_ms(analyzed_at):013d}_{_random(_BASE36, 10)}"


def reflex_id() -> str:
    return f"rfx_{_random(_BASE36, 16)}"


def key_id() -> str:
    return f"key_{_random(_BASE36, 16)}"


def tenant_id() -> str:
    return f"tnt_{_random(_BASE36, 12)}"


def raw_api_key() -> str:
    """A new secret API key: `cp_` + 43 URL-safe characters (256 bits)."""
    return "cp_" + secrets.token_urlsafe(32)
