"""The OpenAPI document says what the server checks: a body the document calls valid is
accepted, one it calls invalid is refused with a 400, case by case where they used to differ."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import app  # noqa: F401 - registers the routes the document is built from
from chalicelib.api.openapi import document
from chalicelib.domain import schemas
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.schemas import URL_PATTERN, EndpointCreate, parse
from chalicelib.engine.urlguard import static_check
from tests.conftest import ENDPOINT, Api


def doc_valid(model: str, body: Any) -> bool:
    """Whether the document's schema for `model` accepts `body`."""
    # The components travel with the schema, so its `#/components/...` references resolve.
    schema = {"components": document()["components"], "$ref": f"#/components/schemas/{model}"}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return bool(validator.is_valid(body))


def server_valid(model: type[Any], body: Any) -> bool:
    try:
        parse(model, body)
    except ValidationFailed:
        return False
    return True


CASES = [
    # Integers written as whole floats are integers (JSON Schema agrees); 1.5 is not.
    ("EndpointCreate", {**ENDPOINT, "baselineIntervalMs": 60000.0}, True),
    ("EndpointCreate", {**ENDPOINT, "baselineIntervalMs": 60000.5}, False),
    ("IntervalHint", {"intervalMs": 5000, "ttlMinutes": 229.0}, True),
    ("IntervalHint", {"intervalMs": "5000"}, False),
    # name, url, method and timezone may be left out of a PATCH, not sent as null.
    ("EndpointUpdate", {"name": None}, False),
    ("EndpointUpdate", {"url": None}, False),
    ("EndpointUpdate", {"description": None}, True),
    ("JobUpdate", {"name": None}, False),
    ("JobUpdate", {"description": None}, True),
    # One of nextRunAt / nextRunInMs, non-null.
    ("OneShotHint", {}, False),
    ("OneShotHint", {"nextRunAt": None}, False),
    ("OneShotHint", {"nextRunInMs": 5000}, True),
    ("OneShotHint", {"nextRunAt": "2030-01-01T00:00:00Z", "nextRunInMs": None}, True),
    # Exactly one baseline on create; never both on update.
    ("EndpointCreate", {"name": "n", "url": "https://a.example"}, False),
    ("EndpointCreate", {**ENDPOINT, "baselineCron": "@daily"}, False),
    ("EndpointCreate", {**ENDPOINT, "baselineIntervalMs": None, "baselineCron": "@daily"}, True),
    ("EndpointUpdate", {"baselineCron": "@daily", "baselineIntervalMs": 60000}, False),
    ("EndpointUpdate", {"baselineCron": "@daily", "baselineIntervalMs": None}, True),
    # IANA zone names from the pinned tzdata; header names are HTTP tokens.
    ("EndpointUpdate", {"timezone": "Europe/Paris"}, True),
    ("EndpointUpdate", {"timezone": "0"}, False),
    ("EndpointUpdate", {"headersJson": {"X-Ok": "v"}}, True),
    ("EndpointUpdate", {"headersJson": {"bad name": "v"}}, False),
    ("EndpointUpdate", {"headersJson": {"X-Ok": "a\r\nInjected: 1"}}, False),
    # The URL pattern: "0" used to be a valid URL for the document.
    ("EndpointCreate", {**ENDPOINT, "url": "0"}, False),
    ("EndpointCreate", {**ENDPOINT, "url": "HTTP://F0.K0wC?q"}, True),
]


@pytest.mark.parametrize(("model", "body", "valid"), CASES)
def test_the_document_and_the_server_agree(model: str, body: Any, valid: bool) -> None:
    assert doc_valid(model, body) is valid
    assert server_valid(getattr(schemas, model), body) is valid


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(url=st.from_regex(re.compile(URL_PATTERN.removesuffix("$") + r"\Z"), fullmatch=True))
def test_every_url_the_pattern_allows_is_accepted(url: str) -> None:
    if len(url) > 2048:
        return
    endpoint = parse(EndpointCreate, {**ENDPOINT, "url": url})
    static_check(endpoint.url, allow_private=True)  # the service's check; raises if refused


def test_optional_bodies_404s_and_links_are_documented(api: Api) -> None:
    doc = api.get("/api/doc", key=None).body
    assert doc["paths"]["/api/api-keys"]["post"]["requestBody"]["required"] is False
    for path in ("/api/dashboard/stats", "/api/dashboard", "/api/dashboard/activity"):
        assert "404" in doc["paths"][path]["get"]["responses"]
        job_id = next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "jobId")
        assert job_id["schema"]["type"] == "string"  # a query string cannot carry null
    created = doc["paths"]["/api/jobs"]["post"]["responses"]["201"]["links"]
    assert created["GetJob"]["parameters"] == {"jobId": "$response.body#/id"}
    endpoint = doc["paths"]["/api/jobs/{jobId}/endpoints"]["post"]["responses"]["201"]["links"]
    assert {"GetEndpoint", "UpdateEndpoint", "DeleteEndpoint"} <= set(endpoint)
    operation_ids = {op["operationId"] for ops in doc["paths"].values() for op in ops.values()}
    for links in (created, endpoint):
        assert {link["operationId"] for link in links.values()} <= operation_ids
    assert "503" in doc["paths"]["/api/jobs"]["get"]["responses"]
