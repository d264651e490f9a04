"""Check input with the API's own request models before sending it, so a mistake is reported
with the API's wording and nothing is sent (or changed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.reflex_rules import parse_reflex
from chalicelib.domain.reflex_rules import to_json as reflex_json
from chalicelib.domain.schemas import parse
from cronpilot_client.errors import InvalidInput


def checked_body(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate `data` (wire names) with `model`; return only the fields given, JSON-ready."""
    try:
        validated = parse(model, dict(data))
    except ValidationFailed as exc:
        raise InvalidInput(exc.message, exc.details) from None
    body: dict[str, Any] = validated.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return body


def checked_query(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, str]:
    """Validate query parameters with `model`; return the ones given as query-string text."""
    given = {name: value for name, value in data.items() if value is not None}
    return {name: _text(value) for name, value in checked_body(model, given).items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def checked_reflex(data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a reflex rule with the parser the API uses (so errors name `when.all.0.op` as
    the API would); return its canonical JSON, limited to the fields given.

    Not `checked_body`: its dump would send a `changed` clause with `"value": null`, which the
    API refuses (`changed` takes no value); the API's own `to_json` leaves it out.
    """
    try:
        spec = parse_reflex(dict(data))
    except ValidationFailed as exc:
        raise InvalidInput(exc.message, exc.details) from None
    return {name: value for name, value in reflex_json(spec).items() if name in data}
