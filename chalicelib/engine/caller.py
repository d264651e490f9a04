"""The HTTP caller: one endpoint execution, safely.

Every hop is checked by the URL guard and the connection goes to the address that was checked
(no DNS rebinding window); redirects are followed by hand so each target is checked again, and
a hop to another origin goes bare (no stored headers, signature or body: see
chalicelib/domain/redirects.py); the body is streamed and capped; outbound requests are signed
when the tenant has a signing key. Endpoint failures are results, never exceptions.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urljoin

import httpx

from chalicelib.domain.claim import effective_timeout_ms
from chalicelib.domain.redirects import REDIRECTS, Origin, Refused, next_hop
from chalicelib.domain.signing import SigningError, signed_headers
from chalicelib.engine.urlguard import (
    ParsedTarget,
    ResolvedTarget,
    UrlNotAllowed,
    resolve_and_check,
    static_check,
)

ErrorKind = Literal[
    "timeout",
    "connection",
    "dns",
    "tls",
    "http_status",
    "too_large",
    "blocked",
    "signing",
    "secret",
]
MAX_REDIRECTS = 10
DEFAULT_MAX_RESPONSE_KB = 100
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class CallRequest:
    """What to send: the endpoint's execution configuration."""

    url: str
    method: str = "GET"
    # Opened secret values: kept out of the repr so no log line can show them.
    headers: dict[str, str] | None = field(default=None, repr=False)
    body_json: Any = None
    timeout_ms: int | None = None
    max_response_kb: int | None = None
    # False: a redirect is answered as a failure, never followed (alert webhooks).
    follow_redirects: bool = True


@dataclass(frozen=True, slots=True)
class CallResult:
    """What happened; `status` follows the final HTTP status (2xx is success)."""

    status: Literal["success", "failed"]
    duration_ms: int
    status_code: int | None = None
    response_body: Any = None
    truncated: bool = False
    error_message: str | None = None
    error_kind: ErrorKind | None = None


def encode_body(body_json: Any) -> str | None:
    """Compact JSON exactly as sent and signed (None: no body)."""
    if body_json is None:
        return None
    return json.dumps(body_json, separators=(",", ":"), ensure_ascii=False)


def _pinned_url(resolved: ResolvedTarget) -> str:
    target = resolved.target
    host = f"[{resolved.pinned}]" if ":" in resolved.pinned else resolved.pinned
    return f"{target.scheme}://{host}:{target.port}{target.path_and_query}"


def _origin(target: ParsedTarget) -> Origin:
    return (target.scheme, target.host, target.port)


# Deeper JSON is kept as text: every later step (storage, the planner's view, reflexes)
# stays far from Python's recursion limit, which a hostile target could otherwise reach.
MAX_BODY_DEPTH = 64


def _depth_at_most(value: Any, limit: int) -> bool:
    """Whether `value` nests no deeper than `limit`, checked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return True


def parse_body(raw: bytes, content_type: str, encoding: str | None) -> Any:
    """A response body as stored: parsed JSON when it says it is JSON and parses within
    MAX_BODY_DEPTH levels, else its text (None when empty)."""
    text = raw.decode(encoding or "utf-8", errors="replace")
    if "json" in content_type.lower():
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):
            return text
        return parsed if _depth_at_most(parsed, MAX_BODY_DEPTH) else text
    return text if text else None


@dataclass(frozen=True, slots=True)
class _Received:
    status_code: int
    location: str | None
    raw: bytes
    too_large: bool
    timed_out: bool
    content_type: str
    encoding: str | None


def _classify(exc: httpx.HTTPError) -> ErrorKind:
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    text = f"{exc!r} {exc}".lower()
    if "ssl" in text or "certificate" in text or "tls" in text:
        return "tls"
    return "connection"


class Caller:
    """Executes requests; one instance (and one connection pool) per process."""

    def __init__(
        self,
        *,
        allow_private: bool,
        now_s: Callable[[], float],
        resolver: Callable[[str, int], list[str]] | None = None,
        client: httpx.Client | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._allow_private = allow_private
        self._now_s = now_s
        self._resolver = resolver
        # Redirects are followed by hand (each hop checked); env proxies would bypass pinning.
        self._client = client or httpx.Client(follow_redirects=False, trust_env=False)
        self._monotonic = monotonic

    def call(
        self, request: CallRequest, signing_key: str | Sequence[str] | None = None
    ) -> CallResult:
        """Run `request`, signed with `signing_key` (or several keys, newest first, during a
        rotation's grace window); every failure becomes a failed result with an error kind."""
        timeout_ms = effective_timeout_ms(request.timeout_ms)
        cap = (request.max_response_kb or DEFAULT_MAX_RESPONSE_KB) * 1024
        started = self._monotonic()
        deadline = started + timeout_ms / 1000

        def elapsed_ms() -> int:
            return round((self._monotonic() - started) * 1000)

        method = request.method.upper()
        body = encode_body(request.body_json) if method not in {"GET", "HEAD"} else None
        url = request.url
        home: Origin | None = None
        bare = False
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                resolved = resolve_and_check(
                    url, allow_private=self._allow_private, resolver=self._resolver
                )
            except UrlNotAllowed as exc:
                kind: ErrorKind = "dns" if "DNS resolution failed" in exc.reason else "blocked"
                return CallResult("failed", elapsed_ms(), error_message=str(exc), error_kind=kind)
            home = home or _origin(resolved.target)
            try:
                headers = self._headers(
                    request, resolved, body, None if bare else signing_key, bare
                )
            except SigningError as exc:
                # Never send unsigned what should have been signed.
                message = f"Request not sent: signing failed ({exc})"
                return CallResult(
                    "failed", elapsed_ms(), error_message=message, error_kind="signing"
                )
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                return self._timed_out(elapsed_ms(), timeout_ms)
            try:
                outcome = self._send(method, resolved, headers, body, remaining, cap, deadline)
            except httpx.HTTPError as exc:
                kind = _classify(exc)
                if kind == "timeout":
                    return self._timed_out(elapsed_ms(), timeout_ms)
                message = str(exc) or type(exc).__name__
                return CallResult("failed", elapsed_ms(), error_message=message, error_kind=kind)
            if outcome.timed_out:
                return self._timed_out(elapsed_ms(), timeout_ms)
            if outcome.status_code in REDIRECTS and not request.follow_redirects:
                message = f"HTTP {outcome.status_code}: redirects are not followed"
                return CallResult(
                    "failed",
                    elapsed_ms(),
                    status_code=outcome.status_code,
                    error_message=message,
                    error_kind="http_status",
                )
            if outcome.status_code in REDIRECTS and outcome.location:
                url = urljoin(url, outcome.location)
                try:
                    target = static_check(url, allow_private=self._allow_private)
                except UrlNotAllowed as exc:
                    return CallResult(
                        "failed", elapsed_ms(), error_message=str(exc), error_kind="blocked"
                    )
                hop = next_hop(
                    outcome.status_code, method, body, bare=bare, origin=_origin(target), home=home
                )
                if isinstance(hop, Refused):
                    return CallResult(
                        "failed", elapsed_ms(), error_message=hop.reason, error_kind="blocked"
                    )
                method, body, bare = hop.method, hop.body, hop.bare
                continue
            return self._result(outcome, elapsed_ms(), cap)
        return CallResult(
            "failed",
            elapsed_ms(),
            error_message=f"Too many redirects (more than {MAX_REDIRECTS})",
            error_kind="connection",
        )

    def _headers(
        self,
        request: CallRequest,
        resolved: ResolvedTarget,
        body: str | None,
        signing_key: str | Sequence[str] | None,
        bare: bool,
    ) -> dict[str, str]:
        stored = {} if bare else (request.headers or {})
        headers = {k: v for k, v in stored.items() if k.lower() != "host"}
        if body is not None and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
        headers["Host"] = resolved.target.host_header
        if signing_key is not None:
            headers.update(signed_headers(signing_key, int(self._now_s()), body or ""))
        return headers

    def _send(
        self,
        method: str,
        resolved: ResolvedTarget,
        headers: dict[str, str],
        body: str | None,
        remaining_s: float,
        cap: int,
        deadline: float,
    ) -> _Received:
        target = resolved.target
        # TLS checks the certificate against the name the user gave, not the pinned address
        # (an IP literal has no name to send).
        named_tls = target.scheme == "https" and target.literal_ip is None
        extensions = {"sni_hostname": target.host} if named_tls else {}
        with self._client.stream(
            method,
            _pinned_url(resolved),
            headers=headers,
            content=body.encode() if body is not None else None,
            timeout=httpx.Timeout(remaining_s),
            extensions=extensions,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            too_large = timed_out = False
            for chunk in response.iter_raw(CHUNK):
                chunks.append(chunk)
                size += len(chunk)
                if size > cap:
                    too_large = True  # stop reading: the rest is never downloaded
                    break
                if self._monotonic() > deadline:
                    timed_out = True  # the timeout covers the body, not only the headers
                    break
            return _Received(
                status_code=response.status_code,
                location=response.headers.get("location"),
                raw=b"".join(chunks)[:cap],
                too_large=too_large,
                timed_out=timed_out,
                content_type=response.headers.get("content-type", ""),
                encoding=response.charset_encoding,
            )

    @staticmethod
    def _timed_out(duration_ms: int, timeout_ms: int) -> CallResult:
        return CallResult(
            "failed",
            duration_ms,
            error_message=f"Request timed out after {timeout_ms}ms",
            error_kind="timeout",
        )

    @staticmethod
    def _result(received: _Received, duration_ms: int, cap: int) -> CallResult:
        body = parse_body(received.raw, received.content_type, received.encoding)
        code = received.status_code
        ok = 200 <= code < 300
        message: str | None = None
        kind: ErrorKind | None = None
        if not ok:
            message = f"HTTP {code} {httpx.codes.get_reason_phrase(code)}".strip()
            kind = "http_status"
        elif received.too_large:
            # The call worked; only the stored body is cut. Flagged, not failed.
            kind = "too_large"
            message = f"Response body larger than {cap // 1024} KB; kept the first {cap // 1024} KB"
        return CallResult(
            "success" if ok else "failed",
            duration_ms,
            status_code=code,
            response_body=body,
            truncated=received.too_large,
            error_message=message,
            error_kind=kind,
        )
