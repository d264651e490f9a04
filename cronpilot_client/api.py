"""The REST client both front ends use: one keep-alive httpx client, the API's error envelope
turned into ApiError, transport failures into ConnectionFailed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from cronpilot_client import __version__
from cronpilot_client.config import ClientConfig
from cronpilot_client.errors import ApiError, ConnectionFailed, InvalidInput, MissingCredential

MAX_ERROR_TEXT = 500


def api_path(template: str, **params: str) -> str:
    """Fill `{name}` segments, each percent-encoded so an id can never change the route."""
    values: dict[str, str] = {}
    for name, value in params.items():
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(
                f"{name}: must be a non-empty id", [{"field": name, "message": "required"}]
            )
        values[name] = quote(value.strip(), safe="")
    return template.format(**values)


class ApiClient:
    """Calls the Cronpilot API with the configured URL and credentials."""

    def __init__(self, config: ClientConfig, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._transport = transport
        self._http: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        # Created on first use: building the TLS context costs ~50 ms, wasted on --help.
        if self._http is None:
            self._http = httpx.Client(
                base_url=self.config.url,
                timeout=self.config.timeout_s,
                # A proxy from the environment must not intercept calls to this machine.
                trust_env=not self.config.is_loopback,
                transport=self._transport,
                headers={"User-Agent": f"cronpilot-client/{__version__}"},
            )
        return self._http

    def close(self) -> None:
        """Close the keep-alive connections."""
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _headers(self, admin: bool, authenticated: bool) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if admin:
            if not self.config.admin_token:
                raise MissingCredential(
                    "no admin token: pass --admin-token, set CRONPILOT_ADMIN_TOKEN, "
                    "or add admin_token to your profile"
                )
            headers["x-admin-token"] = self.config.admin_token
        elif authenticated:
            if not self.config.api_key:
                raise MissingCredential(
                    "no API key: pass --api-key, set CRONPILOT_API_KEY, "
                    "or add api_key to your profile"
                )
            headers["x-api-key"] = self.config.api_key
        return headers

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        admin: bool = False,
        authenticated: bool = True,
    ) -> Any:
        """Send one request; the parsed JSON answer, or None for 204."""
        headers = self._headers(admin, authenticated)
        content: bytes | None = None
        if body is not None:
            content = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self.config.url + path
        try:
            response = self._client().request(
                method, path, params=dict(query or {}), content=content, headers=headers
            )
        except httpx.ConnectError as exc:
            raise ConnectionFailed(
                f"cannot connect to {url} ({exc}). Is the API running? "
                "Start the local stack with `cronpilot local` or set CRONPILOT_URL."
            ) from None
        except httpx.TimeoutException:
            raise ConnectionFailed(
                f"no answer from {url} within {self.config.timeout_s:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"request to {url} failed: {exc}") from None
        return _parse(response)

    def get(self, path: str, query: Mapping[str, str] | None = None, **kw: Any) -> Any:
        """GET `path` with an optional query string."""
        return self.request("GET", path, query=query, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        """POST `body` (JSON) to `path`."""
        return self.request("POST", path, body=body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        """PATCH `body` (JSON) to `path`."""
        return self.request("PATCH", path, body=body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        """PUT `body` (JSON) to `path`: the resource is replaced whole."""
        return self.request("PUT", path, body=body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        """DELETE `path`."""
        return self.request("DELETE", path, **kw)


def _parse(response: httpx.Response) -> Any:
    if response.is_success and (response.status_code == 204 or not response.content):
        return None
    payload: Any = None
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if response.is_success:
        if payload is None and response.content:
            return response.text
        return payload
    error = payload.get("error") if isinstance(payload, dict) else None
    retry_after = response.headers.get("Retry-After", "")
    if isinstance(error, dict) and "code" in error:
        raise ApiError(
            response.status_code,
            str(error.get("code")),
            str(error.get("message", "")),
            error.get("details"),
            retry_after,
        )
    text = response.text.strip()[:MAX_ERROR_TEXT] or response.reason_phrase
    raise ApiError(response.status_code, f"HTTP_{response.status_code}", text, None, retry_after)
