"""The store keeps a client's connection open between requests, and parses each request whole."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from chalicelib.local import gc_freeze
from chalicelib.local.store_server import request_handler


def _app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    # Like a handler that answers before reading the body: what made werkzeug close.
    path = environ["PATH_INFO"]
    body = b"" if path == "/ignore" else environ["wsgi.input"].read()
    answer = f"{path} {environ['REMOTE_PORT']} {len(body)}".encode()
    start_response("200 OK", [("Content-Length", str(len(answer)))])
    return [answer]


@contextmanager
def serving(handler: type[Any]) -> Iterator[BaseWSGIServer]:
    """`_app` on a loopback port, served by `handler` until the block ends."""
    served = make_server("127.0.0.1", 0, _app, threaded=True, request_handler=handler)
    threading.Thread(
        target=served.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()


@pytest.fixture
def server() -> Iterator[BaseWSGIServer]:
    with serving(request_handler(gc_freeze.Requests())) as served:
        yield served


def _ask(connection: http.client.HTTPConnection, path: str, body: bytes) -> tuple[str, str]:
    connection.request("POST", path, body=body)
    answer = connection.getresponse()
    return answer.read().decode(), answer.getheader("Connection") or ""


def test_requests_share_one_connection_even_when_a_body_goes_unread(
    server: BaseWSGIServer,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
    try:
        first, header = _ask(connection, "/read", b'{"a": 1}')
        assert header.lower() != "close"
        second, _ = _ask(connection, "/ignore", b"x" * 5000)
        third, _ = _ask(connection, "/read", b"12345")
    finally:
        connection.close()
    ports = {first.split()[1], second.split()[1], third.split()[1]}
    assert len(ports) == 1, "each request came on a new connection"
    # The unread body of the second did not leak into the third.
    assert first.split()[2] == "8" and third.split()[0] == "/read" and third.split()[2] == "5"


def test_a_chunked_upload_still_closes_its_connection(server: BaseWSGIServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
    try:
        connection.request("POST", "/read", body=iter([b"ab", b"cd"]), encode_chunked=True)
        answer = connection.getresponse()
        assert answer.read().decode().split()[2] == "4"
        assert (answer.getheader("Connection") or "").lower() == "close"
    finally:
        connection.close()


def test_a_client_asking_to_close_gets_a_closed_connection(server: BaseWSGIServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
    try:
        connection.request("POST", "/read", body=b"x", headers={"Connection": "close"})
        answer = connection.getresponse()
        assert answer.read().decode().split()[2] == "1"
        assert answer.will_close
    finally:
        connection.close()


def test_an_idle_connection_is_closed_quietly(caplog: pytest.LogCaptureFixture) -> None:
    class Quick(request_handler(gc_freeze.Requests())):  # type: ignore[misc]
        timeout = 0.05  # the store's is IDLE_CONNECTION_S

    with (
        serving(Quick) as served,
        socket.create_connection(("127.0.0.1", served.server_port), timeout=30) as client,
    ):
        client.sendall(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
        received = b""
        while chunk := client.recv(4096):  # until the server closes: EOF, not our timeout
            received += chunk
    assert received.startswith(b"HTTP/1.1 200") and b"/read " in received
    assert b"Connection: close" not in received  # kept open, then closed for idling
    # Closing an idle connection is routine, not an error for the store's log.
    assert not [r for r in caplog.records if "timed out" in r.getMessage()]
