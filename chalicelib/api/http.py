"""Route registration, request parsing and the one error envelope.

Every route is declared through `Router.route`, which records it for the OpenAPI document,
accepts any Content-Type (bodies are parsed as JSON whatever the header says), and turns
domain errors into `{"error": {"code", "message", "details"}}`.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalice.app import Blueprint, Request, Response
from pydantic import BaseModel

from chalicelib.domain.entities import Actor, Tenant
from chalicelib.domain.errors import DomainError, RateLimited, StorageBusy, ValidationFailed
from chalicelib.domain.schemas import parse
from chalicelib.store.overload import RETRY_AFTER_S, is_overload

log = logging.getLogger("cronpilot.api")

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
    # False when the body may be omitted (read as `{}`).
    body_required: bool = True
    # A 404 the path alone does not imply (e.g. an unknown `jobId` filter).
    not_found: bool = False


@dataclass
class Registry:
    specs: list[RouteSpec] = field(default_factory=list)


REGISTRY = Registry()


def envelope(error: DomainError) -> Response:
    """The one error shape, with Retry-After on 429 and 503."""
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if isinstance(error, RateLimited | StorageBusy):
        headers["Retry-After"] = str(error.retry_after_s)
    body: dict[str, Any] = {"code": error.code, "message": error.message, "details": error.details}
    return Response(body={"error": body}, status_code=error.status, headers=headers)


def busy() -> Response:
    """503 with Retry-After: storage timed out or throttled."""
    return envelope(StorageBusy(RETRY_AFTER_S))


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
        not_found: bool = False,
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
            not_found,
        )
        REGISTRY.specs.append(spec)

        def decorate(view: View) -> View:
            @functools.wraps(view)
            def wrapped(**kwargs: Any) -> Response:
                try:
                    result = view(**kwargs)
                except DomainError as exc:
                    return envelope(exc)
                except Exception as exc:
                    if is_overload(exc):
                        log.warning("storage overloaded in %s: %s", view.__name__, exc)
                        return busy()
                    raise
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
