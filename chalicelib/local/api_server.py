"""The Chalice app (the same app.py Lambda runs) served by chalice.local on loopback.

Differences from a bare `chalice local`, each to match the deployed API:
- URLs keep the `/api` prefix (the API Gateway stage name); routes are declared without it.
- Unknown paths get a 404 in the project's error envelope; chalice.local answers them like
  API Gateway, with 403 "Missing Authentication Token".
- Bodies over 10 MB (API Gateway's own limit) are refused before being read into memory;
  chunked request bodies are accepted (chalice.local only reads Content-Length ones).
- Methods the app does not declare (TRACE, CONNECT...) get the app's 405 envelope, not
  http.server's 501 HTML page.
- Per-request access log off, Nagle off (keep-alive clients otherwise wait ~40 ms per
  response), HEAD responses without a body, and a listen backlog sized for concurrent clients.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import socketserver
import threading
import uuid
from pathlib import Path
from typing import Any

from chalice import local
from chalice.app import Chalice, Response
from chalice.config import Config

from chalicelib.api.http import envelope
from chalicelib.api.middleware import decorate
from chalicelib.domain.errors import DomainError, NotFound, PayloadTooLarge, ValidationFailed
from chalicelib.web.paths import ROOT as WEB_ROOT

log = logging.getLogger("cronpilot-local.api")

API_PREFIX = "/api"
MAX_REQUEST_BYTES = 10 * 1024 * 1024


_MAX_LINE = 65537


class _Refused(Exception):
    """A request answered without reaching the app."""

    def __init__(self, error: DomainError) -> None:
        super().__init__(error.message)
        self.error = error


def strip_prefix(path: str, prefix: str = API_PREFIX) -> str | None:
    """`path` without the stage prefix (query string kept), or None when it lacks the prefix
    or has an empty segment: API Gateway routes no empty path parameter (`/endpoints//runs`),
    where chalice's local router would hand the app an empty id."""
    route, sep, query = path.partition("?")
    if "//" in route:
        return None
    if route == prefix:
        route = "/"
    elif route.startswith(prefix + "/"):
        route = route[len(prefix) :]
    else:
        return None
    return route + sep + query


class ApiRequestHandler(local.ChaliceRequestHandler):
    """chalice.local's handler with the stage prefix, the 404 envelope and the limits above."""

    disable_nagle_algorithm = True
    path: str
    public_path = ""
    _body: bytes | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def _handle(self) -> None:
        self.public_path = self.path.partition("?")[0]
        try:
            self._body = self._read_body()
        except _Refused as refused:
            self._refuse(refused.error)
            return
        routed = strip_prefix(self.path)
        if routed is None and self.public_path == "/":
            # The dashboard is the front page of the local stack.
            self._send_http_response(302, {"Location": WEB_ROOT, "Content-Length": "0"}, b"")
            return
        if routed is None:
            self._send_envelope(self._not_found())
            return
        self.path = routed
        self._generic_handle()

    # http.server dispatches on these names.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _handle  # noqa: N815

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, made-up ones) goes to the app too, which answers
        # 405 in the envelope with `Allow`, as the deployed API does; http.server's own answer
        # is a 501 HTML page.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def _chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    def _read_body(self) -> bytes | None:
        """The whole body, read before routing so the connection stays in sync for the next
        request whatever the answer; bounded by MAX_REQUEST_BYTES."""
        if self._chunked():
            return self._read_chunked()
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            raise _Refused(ValidationFailed.field("Content-Length", "must be a number")) from None
        if length > MAX_REQUEST_BYTES:
            raise _Refused(PayloadTooLarge("Request body is larger than 10 MB"))
        return self.rfile.read(length) if length > 0 else None

    def _read_chunked(self) -> bytes:
        # chalice.local reads Content-Length bodies only; API Gateway accepts chunked ones.
        body = bytearray()
        while True:
            size_field = self.rfile.readline(_MAX_LINE).split(b";", 1)[0].strip()
            try:
                size = int(size_field, 16)
            except ValueError:
                raise _Refused(
                    ValidationFailed.field("body", "malformed chunked encoding")
                ) from None
            if size == 0:
                break
            if len(body) + size > MAX_REQUEST_BYTES:
                raise _Refused(PayloadTooLarge("Request body is larger than 10 MB"))
            body += self.rfile.read(size)
            self.rfile.readline(_MAX_LINE)  # the CRLF closing the chunk
        while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return bytes(body)

    def _parse_payload(self) -> tuple[local.HeaderType, bytes | None]:
        headers: local.HeaderType = dict(self.headers)
        if self._chunked():
            headers = {k: v for k, v in headers.items() if k.lower() != "transfer-encoding"}
            headers["Content-Length"] = str(len(self._body or b""))
        return headers, self._body

    def _not_found(self) -> DomainError:
        return NotFound(f"No such route: {self.command} {self.public_path}")

    def _send_error_response(self, error: local.LocalGatewayException) -> None:
        if isinstance(error, local.ForbiddenError):
            # The only ForbiddenError the app can cause: no route matched (it has no
            # authorizers; the API key is checked in middleware).
            self._send_envelope(self._not_found())
            return
        super()._send_error_response(error)

    def _refuse(self, error: DomainError) -> None:
        """Answer and close: the body was not (fully) read, so the stream is out of sync."""
        self.close_connection = True
        self._send_envelope(error, extra_headers={"Connection": "close"})

    def _send_envelope(
        self, error: DomainError, extra_headers: dict[str, str] | None = None
    ) -> None:
        response: Response = decorate(envelope(error), self.public_path, str(uuid.uuid4()))
        response.headers.update(extra_headers or {})
        wire = response.to_dict()
        headers = dict(wire["headers"])
        headers.update(wire["multiValueHeaders"])
        self._send_http_response(wire["statusCode"], headers, wire["body"])

    def _send_http_response_with_body(
        self, code: int, headers: local.HeaderType, body: str | bytes
    ) -> None:
        if self.command != "HEAD":
            super()._send_http_response_with_body(code, headers, body)
            return
        # A body after a HEAD response would be read as the start of the next response.
        self.send_response(code)
        data = body if isinstance(body, bytes) else body.encode()
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Type", str(headers.pop("Content-Type", "application/json")))
        self._send_headers(headers)


class ApiHTTPServer(local.ThreadedHTTPServer):
    """One thread per connection (daemon threads: an idle keep-alive client never blocks exit)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a machine with
        # slow DNS; the name is only used for CGI variables.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


def load_app(project_dir: Path, stage: str) -> tuple[Chalice, Config]:
    """Import app.py the way `chalice local` does, applying the stage's environment variables
    to this process (not to a private copy, STACK-NOTES 1.1 c)."""
    from chalice.cli.factory import CLIFactory

    factory = CLIFactory(str(project_dir), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    return app, config


class ApiServer:
    """The API on 127.0.0.1:port, served from a background thread."""

    def __init__(self, app: Chalice, config: Config, host: str, port: int) -> None:
        # What local.create_local_server does: make `current_request` thread-local, since
        # every connection has its own thread. Process-wide, and harmless for Lambda code.
        local.CustomLocalChalice.__bases__ = (local.LocalChalice, app.__class__)
        app.__class__ = local.CustomLocalChalice
        self._dev_server = local.LocalDevServer(
            app, config, host, port, handler_cls=ApiRequestHandler, server_cls=ApiHTTPServer
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self._dev_server.server.server_address[1])

    def start(self) -> None:
        """Serve in a background thread."""
        # LocalDevServer.serve_forever prints its own banner; serve the socket directly. A
        # short poll interval makes shutdown (which waits for the next poll) quick.
        serve = functools.partial(self._dev_server.server.serve_forever, poll_interval=0.1)
        self._thread = threading.Thread(target=serve, name="api-http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, close the listening socket (the port is free afterwards)."""
        if self._thread is not None:
            self._dev_server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._dev_server.server.server_close()


def port_is_free(host: str, port: int) -> bool:
    """Whether `port` can be bound now (checked early, to fail before the slow start-up)."""
    if port == 0:
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
