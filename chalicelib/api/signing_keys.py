"""Signing keys: the secret Cronpilot signs every outbound request of the tenant with."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib import deps
from chalicelib.api.http import Router
from chalicelib.domain.responses import SigningKeyCreated, SigningKeyInfo
from chalicelib.domain.schemas import SigningKeyRotate
from chalicelib.services import signing_keys

api = Router(__name__, "Signing keys")

SIGNING_NOTE = (
    "Requests are signed with X-Cronpilot-Signature: sha256=<hex> and X-Cronpilot-Timestamp: "
    '<unix seconds>, an HMAC-SHA256 over "{timestamp}.{body}" keyed with the text of the raw key. '
    "During a rotation's grace window the signature header lists both keys' signatures, "
    "newest first: sha256=<new>,sha256=<old>."
)


@api.route(
    "/signing-keys",
    "GET",
    "Signing key info (never the raw key)",
    response=SigningKeyInfo,
    description="hasKey false and null fields until a key is created. " + SIGNING_NOTE,
)
def get_key() -> dict[str, Any]:
    d = deps.get()
    return SigningKeyInfo.of(signing_keys.get_key(d, api.tenant()), d.clock.now()).wire()


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
    d = deps.get()
    return SigningKeyCreated.of(signing_keys.create_key(d, api.tenant()), d.clock.now()).wire()


@api.route(
    "/signing-keys/rotate",
    "POST",
    "Rotate the signing key",
    body=SigningKeyRotate,
    body_required=False,
    response=SigningKeyCreated,
    description="Replaces the key. The body is optional: during `graceMinutes` (default 1440 "
    "= 24 h, 0 = none) the replaced key signs alongside the new one, so receivers that know "
    "either key keep verifying; rotating again ends an earlier grace window. 404 NOT_FOUND "
    "when there is no key yet.",
)
def rotate_key() -> dict[str, Any]:
    request = api.body(SigningKeyRotate, required=False)
    d = deps.get()
    grace = timedelta(minutes=request.grace_minutes)
    key = signing_keys.rotate_key(d, api.tenant(), grace)
    return SigningKeyCreated.of(key, d.clock.now()).wire()
