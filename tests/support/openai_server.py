"""A loopback OpenAI-compatible Chat Completions server for tests.

It answers `POST /v1/chat/completions` from a `ChatModel` "brain" (a scripted model), so the
planner's real `openai` client, HTTP and JSON handling are exercised end to end. Failures can
be queued: an HTTP status to answer with, raw JSON, or a delay longer than the client's
timeout.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.planner.model import ChatModel


@dataclass
class Fault:
    """One injected answer instead of the brain's: a status (with optional headers) or a
    stall of `delay_s` seconds before answering normally."""

    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    body: dict[str, Any] | None = None


@dataclass
class FakeOpenAI:
    brain: ChatModel
    faults: deque[Fault] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, payload: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            self.requests.append(payload)
            fault = self.faults.popleft() if self.faults else None
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)  # a stalled provider, outlasting the client's timeout
        elif fault is not None:
            body = fault.body or {"error": {"message": f"injected {fault.status}", "type": "x"}}
            return fault.status, fault.headers, body
        completion = self.brain.complete(
            payload["messages"], payload.get("tools", []), payload.get("tool_choice", "auto")
        )
        return (
            200,
            {},
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 0,
                "model": payload.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": completion.finish_reason or "stop",
                        "message": {"role": "assistant", "content": None, **completion.message},
                    }
                ],
                "usage": {
                    "prompt_tokens": completion.input_tokens,
                    "completion_tokens": completion.output_tokens,
                    "total_tokens": completion.input_tokens + completion.output_tokens,
                },
            },
        )


Answer = Callable[[dict[str, Any]], tuple[int, dict[str, str], dict[str, Any]]]


def listen(answer: Answer) -> tuple[ThreadingHTTPServer, str]:
    """Serve `POST .../chat/completions` on 127.0.0.1 from `answer` in a daemon thread; the
    server (shut it down when done) and its base URL (`.../v1`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            payload = json.loads(self.rfile.read(length) or b"{}")
            headers: dict[str, str] = {}
            if not self.path.endswith("/chat/completions"):
                status, body = 404, {"error": {"message": "not found"}}
            else:
                status, headers, body = answer(payload)
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@contextmanager
def serve(brain: ChatModel) -> Iterator[FakeOpenAI]:
    """Run a fake provider on 127.0.0.1 for the duration of the block."""
    fake = FakeOpenAI(brain)
    server, fake.url = listen(fake.answer)
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
