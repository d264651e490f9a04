"""Following a redirect: which method and body the next hop carries, and whether it may carry
the endpoint's own headers.

Policy for a hop to another origin (scheme, host or port differs from the endpoint's URL):
follow it bare. The endpoint's stored headers (often `Authorization` or an API key), the
signature headers and the body stay with the endpoint's own origin; they are never sent to a
host the redirect names. Once bare, the rest of the chain stays bare, even back on the
endpoint's origin (a foreign host must not be able to steer credentials to a path of its
choice). A 307/308 to another origin with a body is refused instead: following it bare would
send a different request (the method without its body). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

REDIRECTS = frozenset({301, 302, 303, 307, 308})

Origin = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Hop:
    """The next request of a redirect chain."""

    method: str
    body: str | None
    bare: bool  # True: without stored headers, signature or body


@dataclass(frozen=True, slots=True)
class Refused:
    """A redirect not followed, and why (the run fails with this message)."""

    reason: str


def next_hop(
    status: int, method: str, body: str | None, *, bare: bool, origin: Origin, home: Origin
) -> Hop | Refused:
    """The hop after a `status` redirect to `origin`, from a request (`method`, `body`) that
    was `bare` or not; `home` is the endpoint's own origin."""
    # As browsers do: 303 always, and 301/302 after a POST, continue with a GET and no body.
    if status == 303 or (status in {301, 302} and method == "POST"):
        method, body = "GET", None
    if bare or origin != home:
        if body is not None:
            return Refused(
                f"Redirect to another origin ({describe(origin)}) not followed: a {status} "
                "would resend the request body there"
            )
        return Hop(method, None, bare=True)
    return Hop(method, body, bare=False)


def origin_of(url: str) -> Origin:
    """(scheme, host, port) of a URL as written, default ports filled in; an unparsable URL
    gets an origin that matches no other."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme, -1)
        return (scheme, (parts.hostname or "").rstrip("."), port)
    except ValueError:
        return ("", url, -1)


def describe(origin: Origin) -> str:
    """`scheme://host:port` for messages."""
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"
