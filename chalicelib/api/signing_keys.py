"""Signing keys: the secret Cronpilot signs every outbound request of the tenant with."""

from __future__ import annotations

from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.responses import SigningKeyCreated, SigningKeyInfo
from chalicelib.services import signing_keys

api = Router(__name__, "Signing keys")

SIGNING_NOTE = (
    "Requests are signed with X-Cronpilot-Signature: sha256=<hex> and X-Cronpilot-Timestamp: "
    '<unix seconds>, an HMAC-SHA256 over "{timestamp}.{body}" keyed with the text of the raw key.'
)


@api.route(
    "/signing-keys",
    "GET",
    "Signing key info (never the raw key)",
    response=SigningKeyInfo,
    description="hasKey false and null fields until a key is created. " + SIGNING_NOTE,
)
def get_key() -> dict[str, Any]:
    key = signing_keys.get_key(deps.get(), api.tenant())
    return SigningKeyInfo.of(key).wire()


@api.route(
    "/signing-keys",
    "POST",
    "Create the signing key",
    status=201,
    response=SigningKeyCreated,
    description="One key per tenant: 409 when it already has one (rotate it instead). "
    "The raw key is returned here and by rotation only.",
)
def create_key() -> dict[str, Any]:
    key = signing_keys.create_key(deps.get(), api.tenant())
    return SigningKeyCreated.of(key).wire()


@api.route(
    "/signing-keys/rotate",
    "POST",
    "Rotate the signing key",
    response=SigningKeyCreated,
    description="Replaces the key at once: requests signed with the old key stop verifying, "
    "with no grace period. 404 NOT_FOUND when there is no key yet.",
)
def rotate_key() -> dict[str, Any]:
    key = signing_keys.rotate_key(deps.get(), api.tenant())
    return SigningKeyCreated.of(key).wire()
