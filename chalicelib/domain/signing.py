"""Outbound request signing: the key, the HMAC, and the check a receiver runs.

Wire format: `X-Cronpilot-Signature: sha256=<hex>` and `X-Cronpilot-Timestamp: <unix seconds>`,
HMAC-SHA256 over `"{timestamp}.{body}"` with the body exactly as sent (empty when there is
none). The HMAC key is the ASCII text of the 64-character hex key, not its decoded bytes.
During a rotation's grace window the request is signed with both keys, newest first:
`X-Cronpilot-Signature: sha256=<new>,sha256=<old>`; a receiver accepts the request when any
listed signature matches its key. Pure: no storage, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.domain.timeutil import to_ms

SIGNATURE_HEADER = "X-Cronpilot-Signature"
TIMESTAMP_HEADER = "X-Cronpilot-Timestamp"
SIGNATURE_SCHEME = "sha256="
KEY_PREFIX = "sk_"
KEY_BYTES = 32
PREFIX_HEX_CHARS = 8
DEFAULT_TOLERANCE_S = 300
DEFAULT_GRACE = timedelta(hours=24)

_KEY = re.compile(r"[0-9a-f]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
# One signature per key in use, newest first: two during a rotation's grace window.
MAX_SIGNATURES = 2


class SigningError(ValueError):
    """A request cannot be signed (malformed key or timestamp); it must not be sent unsigned."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A tenant's signing key, and the key it replaced while that one's grace window lasts.
    The raw keys are secret: they are left out of the repr."""

    tenant_id: str
    key_hex: str = field(repr=False)
    key_prefix: str
    created_at: datetime
    rotated_at: datetime | None = None
    previous_key_hex: str | None = field(default=None, repr=False)
    previous_key_prefix: str | None = None
    # Until then requests are signed with both keys; None: no previous key.
    previous_expires_at: datetime | None = None

    def previous_active(self, now: datetime) -> bool:
        """Whether the replaced key still signs at `now` (its grace window has not ended)."""
        return (
            self.previous_key_hex is not None
            and self.previous_expires_at is not None
            and now < self.previous_expires_at
        )

    def signing_keys(self, now: datetime) -> tuple[str, ...]:
        """The raw keys to sign with at `now`: the current one, then the replaced one while
        its grace window lasts."""
        if self.previous_active(now):
            assert self.previous_key_hex is not None
            return (self.key_hex, self.previous_key_hex)
        return (self.key_hex,)


def new_key_hex() -> str:
    """A fresh key: 32 random bytes as 64 lowercase hex characters."""
    return secrets.token_hex(KEY_BYTES)


def prefix_of(key_hex: str) -> str:
    """`sk_` + the first 8 hex characters: enough to recognise a key, never to use it."""
    return KEY_PREFIX + _checked_key(key_hex)[:PREFIX_HEX_CHARS]


def unix_seconds(instant: datetime) -> int:
    """The timestamp to sign for `instant`: whole Unix seconds, rounded down."""
    return to_ms(instant) // 1000


def signature(key_hex: str, timestamp: int, body: str | bytes) -> str:
    """Lowercase hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with the ASCII hex key (a str
    body as UTF-8). Raises SigningError for a malformed key or a negative timestamp."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise SigningError(f"Signing timestamp must be non-negative Unix seconds: {timestamp!r}")
    return _hmac(_checked_key(key_hex), str(timestamp), body)


def signed_headers(keys: str | Sequence[str], timestamp: int, body: str | bytes) -> dict[str, str]:
    """Exactly the two headers to merge over a request's own headers; with several keys
    (newest first) the signature header lists one signature per key, comma-separated."""
    key_list = [keys] if isinstance(keys, str) else list(keys)
    if not key_list:
        raise SigningError("No signing key to sign with")
    return {
        SIGNATURE_HEADER: ",".join(
            SIGNATURE_SCHEME + signature(key, timestamp, body) for key in key_list
        ),
        TIMESTAMP_HEADER: str(timestamp),
    }


def verify(
    key_hex: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: str | bytes,
    now_s: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """Receiver check: True only when one of the listed signatures (one, or two during a
    rotation's grace window) is this key's signature of `body` within `tolerance_s` of `now_s`
    either way; bad or missing headers give False, a malformed key SigningError."""
    key = _checked_key(key_hex.strip())  # misconfiguration fails loudly, not as "all invalid"
    if timestamp_header is None or signature_header is None:
        return False
    stamp = timestamp_header.strip()
    parts = signature_header.split(",")
    given = [_SIGNATURE.fullmatch(part.strip()) for part in parts]
    if len(parts) > MAX_SIGNATURES or not _TIMESTAMP.fullmatch(stamp):
        return False
    if abs(now_s - int(stamp)) > tolerance_s:
        return False
    # The signed text is the header as received, so recompute over it, not over int(stamp).
    expected = _hmac(key, stamp, body)
    matches = [m is not None and hmac.compare_digest(expected, m.group(1).lower()) for m in given]
    # Every listed entry must be well formed: a malformed list is refused as a whole.
    return all(m is not None for m in given) and any(matches)


def _hmac(key_hex: str, stamp: str, body: str | bytes) -> str:
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    message = stamp.encode("ascii") + b"." + raw
    return hmac.new(key_hex.encode("ascii"), message, hashlib.sha256).hexdigest()


def _checked_key(key_hex: str) -> str:
    if not isinstance(key_hex, str) or not _KEY.fullmatch(key_hex):
        raise SigningError("Signing key must be 64 lowercase hex characters")
    return key_hex
