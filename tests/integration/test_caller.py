"""The HTTP caller against loopback servers: results, error kinds, caps, redirects, pinning,
signing. Real sockets on 127.0.0.1 only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.domain.signing import verify
from chalicelib.engine.caller import Caller, CallRequest

Handler = Callable[[BaseHTTPRequestHandler], None]
NOW_S = 1_735_689_600


class Target:
    """A loopback HTTP server whose answer each test sets; it records what it received."""

    def __init__(self) -> None:
        self.answer: Handler = lambda h: _send(h, 200, b"{}", "application/json")
        self.received: list[dict[str, Any]] = []
        target = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                target.received.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length).decode(),
                    }
                )
                target.answer(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _send(h: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str, **headers: str) -> None:
    h.send_response(code)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        h.send_header(name.replace("_", "-"), value)
    h.end_headers()
    h.wfile.write(body)


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


@pytest.fixture
def caller() -> Caller:
    return Caller(allow_private=True, now_s=lambda: NOW_S)


def test_json_success(target: Target, caller: Caller) -> None:
    target.answer = lambda h: _send(h, 200, b'{"status": "healthy"}', "application/json")
    result = caller.call(CallRequest(url=target.url + "/health?x=1"))
    assert result.status == "success" and result.status_code == 200
    assert result.response_body == {"status": "healthy"}
    assert result.error_kind is None and result.duration_ms >= 0
    assert target.received[0]["path"] == "/health?x=1"
    assert target.received[0]["headers"]["Host"] == f"127.0.0.1:{target.port}"


def test_text_body_and_http_failure(target: Target, caller: Caller) -> None:
    target.answer = lambda h: _send(h, 503, b"down for maintenance", "text/plain")
    result = caller.call(CallRequest(url=target.url))
    assert result.status == "failed"
    assert result.error_kind == "http_status"
    assert result.error_message == "HTTP 503 Service Unavailable"
    assert result.response_body == "down for maintenance"


def test_post_sends_compact_json_with_content_type(target: Target, caller: Caller) -> None:
    request = CallRequest(
        url=target.url, method="POST", body_json={"a": [1, 2], "é": True}, headers={"X-K": "v"}
    )
    caller.call(request)
    got = target.received[0]
    assert got["method"] == "POST"
    assert got["body"] == '{"a":[1,2],"é":true}'
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["headers"]["X-K"] == "v"


def test_get_never_sends_a_body(target: Target, caller: Caller) -> None:
    caller.call(CallRequest(url=target.url, body_json={"a": 1}))
    assert target.received[0]["body"] == ""


def test_signed_request_verifies_at_the_receiver(target: Target, caller: Caller) -> None:
    key = "ab" * 32
    caller.call(CallRequest(url=target.url, method="POST", body_json={"n": 1}), signing_key=key)
    got = target.received[0]
    ts = got["headers"]["X-Cronpilot-Timestamp"]
    assert ts == str(NOW_S)
    assert verify(key, ts, got["headers"]["X-Cronpilot-Signature"], got["body"], now_s=NOW_S)
    assert not verify(
        "cd" * 32, ts, got["headers"]["X-Cronpilot-Signature"], got["body"], now_s=NOW_S
    )


def test_hanging_target_times_out(target: Target, caller: Caller) -> None:
    def hang(h: BaseHTTPRequestHandler) -> None:
        time.sleep(1.6)
        _send(h, 200, b"{}", "application/json")

    target.answer = hang
    result = caller.call(CallRequest(url=target.url, timeout_ms=100))
    assert result.status == "failed" and result.error_kind == "timeout"
    assert result.error_message == "Request timed out after 1000ms"  # clamped to the minimum
    assert 900 <= result.duration_ms < 1600


def test_huge_body_is_capped_and_flagged(target: Target, caller: Caller) -> None:
    ten_mb = b"x" * (10 * 1024 * 1024)
    target.answer = lambda h: _send(h, 200, ten_mb, "text/plain")
    result = caller.call(CallRequest(url=target.url, max_response_kb=64))
    assert result.status == "success"
    assert result.truncated is True and result.error_kind == "too_large"
    assert isinstance(result.response_body, str) and len(result.response_body) == 64 * 1024


def test_redirects_are_followed_and_rechecked(target: Target, caller: Caller) -> None:
    def answer(h: BaseHTTPRequestHandler) -> None:
        if h.path == "/start":
            _send(h, 302, b"", "text/plain", Location="/end")
        elif h.path == "/end":
            _send(h, 200, b'{"ok": 1}', "application/json")
        else:
            _send(h, 301, b"", "text/plain", Location="http://169.254.169.254/latest/meta-data/")

    target.answer = answer
    ok = caller.call(CallRequest(url=target.url + "/start", method="POST", body_json={"a": 1}))
    assert ok.status == "success" and ok.response_body == {"ok": 1}
    assert [r["method"] for r in target.received] == ["POST", "GET"]
    blocked = caller.call(CallRequest(url=target.url + "/evil"))
    assert blocked.status == "failed" and blocked.error_kind == "blocked"
    assert blocked.error_message is not None and "169.254.169.254" in blocked.error_message


def test_private_targets_need_the_setting(target: Target) -> None:
    # A frozen monotonic clock: the check's own time under a loaded machine is not the point.
    strict = Caller(allow_private=False, now_s=lambda: NOW_S, monotonic=lambda: 100.0)
    result = strict.call(CallRequest(url=target.url))
    assert result.error_kind == "blocked" and result.duration_ms == 0
    assert target.received == []


def test_connection_goes_to_the_checked_address(target: Target) -> None:
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return {"svc.internal.test": ["127.0.0.1"]}[host]

    caller = Caller(allow_private=True, now_s=lambda: NOW_S, resolver=resolver)
    result = caller.call(CallRequest(url=f"http://svc.internal.test:{target.port}/x"))
    assert result.status == "success"
    assert resolved == ["svc.internal.test"]
    assert target.received[0]["headers"]["Host"] == f"svc.internal.test:{target.port}"


def test_dns_failure_and_refused_connection(target: Target) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    dns = Caller(allow_private=True, now_s=lambda: NOW_S, resolver=resolver)
    assert dns.call(CallRequest(url="http://nowhere.test/")).error_kind == "dns"
    port = target.port
    target.close()
    refused = Caller(allow_private=True, now_s=lambda: NOW_S).call(
        CallRequest(url=f"http://127.0.0.1:{port}/")
    )
    assert refused.status == "failed" and refused.error_kind == "connection"


def test_tls_error_is_classified(target: Target, caller: Caller) -> None:
    result = caller.call(CallRequest(url=f"https://127.0.0.1:{target.port}/"))
    assert result.status == "failed" and result.error_kind == "tls"


def test_invalid_json_with_json_type_is_kept_as_text(target: Target, caller: Caller) -> None:
    target.answer = lambda h: _send(h, 200, b"{not json", "application/json; charset=utf-8")
    result = caller.call(CallRequest(url=target.url))
    assert result.status == "success" and result.response_body == "{not json"


@pytest.mark.parametrize(
    ("raw", "expected"), [(b"null", None), (b"42", 42), (b'"s"', "s"), (b"[1, {}]", [1, {}])]
)
def test_json_values_are_stored_as_is(
    target: Target, caller: Caller, raw: bytes, expected: Any
) -> None:
    def answer(h: BaseHTTPRequestHandler) -> None:
        _send(h, 200, raw, "application/json")

    target.answer = answer
    assert caller.call(CallRequest(url=target.url)).response_body == expected


def test_a_bad_signing_key_fails_the_run_without_sending(target: Target, caller: Caller) -> None:
    result = caller.call(CallRequest(url=target.url), signing_key="not-hex")
    assert result.status == "failed" and result.error_kind == "signing"
    assert result.error_message is not None and "not sent" in result.error_message
    assert target.received == []


SECRET_HEADERS = {"Authorization": "Bearer test-fake-token", "X-Api-Key": "test-fake-key"}


def test_cross_origin_redirect_goes_bare(target: Target, caller: Caller) -> None:
    """Stored headers and the signature stay with the endpoint's origin: the other origin
    (another port is another origin) gets the hop without them, and so does every hop after."""
    other = Target()
    try:
        other.answer = lambda h: (
            _send(h, 302, b"", "text/plain", Location=f"{target.url}/back")
            if h.path == "/away"
            else _send(h, 200, b"{}", "application/json")
        )
        target.answer = lambda h: (
            _send(h, 302, b"", "text/plain", Location=f"{other.url}/away")
            if h.path == "/start"
            else _send(h, 200, b'{"ok": 1}', "application/json")
        )
        key = "ab" * 32
        result = caller.call(
            CallRequest(url=target.url + "/start", headers=SECRET_HEADERS), signing_key=key
        )
    finally:
        other.close()
    assert result.status == "success" and result.response_body == {"ok": 1}
    first, back = target.received
    assert first["headers"]["Authorization"] == "Bearer test-fake-token"
    assert "X-Cronpilot-Signature" in first["headers"]
    for hop in [*other.received, back]:
        names = {name.lower() for name in hop["headers"]}
        assert not names & {"authorization", "x-api-key", "x-cronpilot-signature"}, hop
        assert "x-cronpilot-timestamp" not in names
    assert [r["path"] for r in other.received] == ["/away"]


def test_same_origin_redirect_keeps_headers(target: Target, caller: Caller) -> None:
    target.answer = lambda h: (
        _send(h, 307, b"", "text/plain", Location="/end")
        if h.path == "/start"
        else _send(h, 200, b"{}", "application/json")
    )
    result = caller.call(
        CallRequest(url=target.url + "/start", method="PUT", headers=SECRET_HEADERS, body_json=[1])
    )
    assert result.status == "success"
    end = target.received[1]
    assert end["method"] == "PUT" and end["body"] == "[1]"
    assert end["headers"]["X-Api-Key"] == "test-fake-key"


def test_cross_origin_redirect_that_keeps_the_body_is_refused(
    target: Target, caller: Caller
) -> None:
    other = Target()
    try:
        target.answer = lambda h: _send(h, 308, b"", "text/plain", Location=f"{other.url}/x")
        result = caller.call(
            CallRequest(url=target.url, method="POST", headers=SECRET_HEADERS, body_json={"a": 1})
        )
    finally:
        other.close()
    assert result.status == "failed" and result.error_kind == "blocked"
    assert result.error_message is not None and "another origin" in result.error_message
    assert other.received == []


def test_cross_origin_303_after_a_post_is_followed_bare(target: Target, caller: Caller) -> None:
    other = Target()
    try:
        target.answer = lambda h: _send(h, 303, b"", "text/plain", Location=f"{other.url}/done")
        result = caller.call(
            CallRequest(url=target.url, method="POST", headers=SECRET_HEADERS, body_json={"a": 1})
        )
    finally:
        other.close()
    assert result.status == "success"
    (hop,) = other.received
    assert hop["method"] == "GET" and hop["body"] == ""
    assert "Authorization" not in hop["headers"] and "X-Api-Key" not in hop["headers"]
