"""Which stored request headers are secret, and how they are shown.

Secret: `Authorization`, `Cookie`, `Proxy-Authorization`, any header whose name contains
`key`, `token`, `secret` or `auth`, and any header the user marks secret (`secretHeaders`).
Names compare case-insensitively. A secret value is sealed at rest and never shown: every
output carries `MASK` instead, and a write that sends `MASK` back keeps the stored value.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

MASK = "********"
# How a sealed value starts (chalicelib/sealing/envelope.py); clients may not send one.
SEALED_PREFIX = "cpsealed:v1:"
SECRET_NAMES = frozenset({"authorization", "cookie", "proxy-authorization"})
SECRET_WORDS = ("key", "token", "secret", "auth")


def is_secret(name: str, marked: Iterable[str] = ()) -> bool:
    """Whether header `name` holds a secret, by its name or because the user marked it."""
    lower = name.lower()
    if lower in SECRET_NAMES or any(word in lower for word in SECRET_WORDS):
        return True
    return lower in {m.lower() for m in marked}


def masked_names(
    headers: Mapping[str, str] | None, marked: Iterable[str], sealed: Iterable[str] = ()
) -> list[str]:
    """The names in `headers` whose values are not shown: secret ones, and any whose value
    is sealed (a header unmarked after it was sealed stays hidden until a new value is
    sent)."""
    marks = list(marked)
    hidden = {s.lower() for s in sealed}
    return [n for n in headers or {} if is_secret(n, marks) or n.lower() in hidden]


def mask(
    headers: Mapping[str, str] | None, marked: Iterable[str], sealed: Iterable[str] = ()
) -> dict[str, str] | None:
    """`headers` as they may be shown: secret values replaced by `MASK`."""
    if headers is None:
        return None
    hidden = set(masked_names(headers, marked, sealed))
    return {name: MASK if name in hidden else value for name, value in headers.items()}


def stored_value(stored: Mapping[str, str] | None, name: str) -> str | None:
    """The stored value of header `name` (any case), or None."""
    lower = name.lower()
    for key, value in (stored or {}).items():
        if key.lower() == lower:
            return value
    return None
