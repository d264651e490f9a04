"""Route registration, request parsing and the one error envelope.

Every route is declared through `Router.route`, which records it for the OpenAPI document,
accepts any Content-Type (bodies are parsed as JSON whatever the header says), and turns
domain errors into `{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalice.app import Blueprint, Request, Response
from pydantic import BaseModel

from chalicelib.domain.entities import Actor, Tenant
from chalicelib.domain.errors import DomainError, RateLimited, ValidationFailed
from chalicelib.domain.schemas import parse

TENANT_KEY = "cronpilot.tenant"
KEY_ID_KEY = "cronpilot.api-key-id"
ANY_CONTENT_TYPE = ["*/*"]

M = TypeVar("M", bound=BaseModel)
View = Callable[..., Any]


@dataclass(frozen=True)
class RouteSpec:
    """What the OpenAPI document says about one route."""

    method: str
    path: str
    summary: str
    tag: str
    status: int
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    auth: str = "apiKey"
    description: str = ""
    # False where the view parses the body with required=False (an absent body is `{}`).
    body_required: bool = True


@dataclass
class Registry:
    specs: list[RouteSpec] = field(default_factory=list)


REGISTRY = Registry()


def envelope(error: DomainError) -> Response:
    """The one error shape, with Retry-After on 429."""
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after_s)
    body: dict[str, Any] = {"code": error.code, "message": error.message, "details": error.details}
    return Response(body={"error": body}, status_code=error.status, headers=headers)


class Router:
    """A Chalice blueprint plus the route specs the OpenAPI document is built from."""

    def __init__(self, import_name: str, tag: str) -> None:
        self.blueprint = Blueprint(import_name)
        self.tag = tag

    def route(
        self,
        path: str,
        method: str,
        summary: str,
        *,
        status: int = 200,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        auth: str = "apiKey",
        description: str = "",
        body_required: bool = True,
    ) -> Callable[[View], View]:
        spec = RouteSpec(
            method,
            path,
            summary,
            self.tag,
            status,
            body,
            query,
            response,
            auth,
            description,
            body_required,
        )
        REGISTRY.specs.append(spec)

        def decorate(view: View) -> View:
            @functools.wraps(view)
            def wrapped(**kwargs: Any) -> Response:
                try:
                    result = view(**kwargs)
                except DomainError as exc:
                    return envelope(exc)
                if isinstance(result, Response):
                    return result
                if result is None:
                    return Response(body="", status_code=status)
                return Response(
                    body=result, status_code=status, headers={"Content-Type": "application/json"}
                )

            self.blueprint.route(path, methods=[method], content_types=ANY_CONTENT_TYPE)(wrapped)
            return view

        return decorate

    @property
    def request(self) -> Request:
        request = self.blueprint.current_request
        assert request is not None
        return request

    def tenant(self) -> Tenant:
        """The tenant the middleware resolved from the API key."""
        tenant = self.request.context.get(TENANT_KEY)
        assert isinstance(tenant, Tenant)
        return tenant

    def actor(self) -> Actor:
        """The person acting: the API key the request was made with."""
        key_id = self.request.context.get(KEY_ID_KEY)
        assert isinstance(key_id, str)
        return Actor("apiKey", key_id)

    def json_body(self, required: bool = True) -> dict[str, Any]:
        """The body parsed as a JSON object whatever the Content-Type; 400 when missing or
        malformed. An absent optional body reads as `{}`."""
        raw = self.request.raw_body
        if not raw or not raw.strip():
            if required:
                raise ValidationFailed.field("body", "Request body must be a JSON object")
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ValidationFailed.field("body", "Request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ValidationFailed.field("body", "Request body must be a JSON object")
        return data

    def body(self, model: type[M], required: bool = True) -> M:
        """Parse and validate the JSON body into `model`."""
        return parse(model, self.json_body(required))

    def query(self, model: type[M]) -> M:
        """Validate the query string into `model` (digits coerced to ints)."""
        params: dict[str, str] = dict(self.request.query_params or {})
        return parse(model, params)
