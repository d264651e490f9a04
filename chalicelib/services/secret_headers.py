"""Secret header values on their way in (sealed before they are stored) and out (opened only
for the call itself). Rules and masking: chalicelib/domain/secret_headers.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from chalicelib.deps import Deps
from chalicelib.domain.entities import Endpoint
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.redirects import describe, origin_of
from chalicelib.domain.secret_headers import MASK, is_secret, stored_value
from chalicelib.engine.outbound import context_of
from chalicelib.sealing.envelope import is_sealed


def protect(
    deps: Deps,
    endpoint: Endpoint,
    stored: Mapping[str, str] | None,
    *,
    headers_sent: bool = True,
    stored_url: str | None = None,
) -> Endpoint:
    """`endpoint` as it may be stored: a `MASK` value takes the `stored` value of that header
    (400 when there is none), and every secret value in clear is sealed. Asks the keyring only
    when something is to be sealed.

    A stored secret (kept by `MASK`, or because the request sent no headers) may not follow
    the URL to another origin than `stored_url`'s: whoever can change the URL could otherwise
    have the secret sent to a host of their choice without ever seeing it. Such a move must
    send the secret values again (400 otherwise)."""
    headers = endpoint.headers_json
    if headers is None:
        return endpoint
    marked = endpoint.secret_headers or ()
    moved = stored_url is not None and origin_of(stored_url) != origin_of(endpoint.url)
    kept: dict[str, str] = {}
    clear: dict[str, str] = {}
    for name, value in headers.items():
        carried = not headers_sent or value == MASK
        if value == MASK:
            previous = stored_value(stored, name)
            if previous is None:
                raise ValidationFailed.field(
                    f"headersJson.{name}",
                    f"{MASK!r} stands for a stored secret, and this header has none: "
                    "send the value itself",
                )
            value = previous
        if moved and carried and (is_secret(name, marked) or is_sealed(value)):
            raise ValidationFailed.field(
                f"headersJson.{name}",
                f"the URL moves to another origin ({describe(origin_of(endpoint.url))}): "
                "send this secret header's value again, or remove the header",
            )
        if is_secret(name, marked) and not is_sealed(value):
            clear[name] = value
        else:
            kept[name] = value
    sealed = deps.sealer.seal(clear, context_of(endpoint)) if clear else {}
    result = {name: sealed[name] if name in sealed else kept[name] for name in headers}
    return replace(endpoint, headers_json=result)
