"""A receiver that only knows the old key, through a rotation: it keeps verifying Cronpilot's
requests during the grace window and stops when the window ends. The receiver is the README's
snippet, behind a loopback server; the requests are real test runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from chalicelib.clock import ManualClock
from chalicelib.deps import Deps
from chalicelib.engine.caller import Caller
from tests.conftest import ENDPOINT, Api
from tests.integration.test_caller import Target, _send
from tests.unit.test_readme_receiver import _snippet


class Receiver:
    """Answers 200 when the README check passes with the key it knows, 401 otherwise."""

    def __init__(self, target: Target, clock: ManualClock) -> None:
        self.key = ""
        check = _snippet()

        def answer(h: BaseHTTPRequestHandler) -> None:
            seen = target.received[-1]
            ok = check(
                self.key, seen["headers"], seen["body"].encode(), now=clock.now().timestamp()
            )
            _send(h, 200 if ok else 401, b"{}", "application/json")

        target.answer = answer


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


@pytest.fixture
def endpoint(deps: Deps, api: Api, job: dict[str, Any], target: Target, clock: ManualClock) -> str:
    deps.settings = replace(deps.settings, allow_private_targets=True)
    deps.caller = Caller(allow_private=True, now_s=lambda: clock.now().timestamp())
    body = {**ENDPOINT, "url": target.url + "/hook", "method": "POST", "bodyJson": {"x": 1}}
    reply = api.post(f"/api/jobs/{job['id']}/endpoints", body)
    assert reply.status == 201, reply.body
    return str(reply.body["id"])


def _status(api: Api, endpoint_id: str) -> int:
    reply = api.post(f"/api/endpoints/{endpoint_id}/test")
    assert reply.status == 200, reply.body
    return int(reply.body["statusCode"])


def test_a_receiver_with_the_old_key_verifies_until_the_grace_window_ends(
    api: Api, endpoint: str, target: Target, clock: ManualClock
) -> None:
    receiver = Receiver(target, clock)
    old = api.post("/api/signing-keys").body["rawKey"]
    receiver.key = old
    assert _status(api, endpoint) == 200

    clock.advance(timedelta(hours=1))
    rotated = api.post("/api/signing-keys/rotate", {"graceMinutes": 120})
    new = rotated.body["rawKey"]
    assert _status(api, endpoint) == 200  # the old key still signs, alongside the new one
    receiver.key = new
    assert _status(api, endpoint) == 200  # and a receiver already moved to the new key agrees

    clock.advance(timedelta(minutes=119))
    receiver.key = old
    assert _status(api, endpoint) == 200  # last minute of the window

    clock.advance(timedelta(minutes=1))
    assert _status(api, endpoint) == 401  # the window is over: only the new key signs
    receiver.key = new
    assert _status(api, endpoint) == 200


def test_a_rotation_without_grace_breaks_old_receivers_at_once(
    api: Api, endpoint: str, target: Target, clock: ManualClock
) -> None:
    receiver = Receiver(target, clock)
    receiver.key = api.post("/api/signing-keys").body["rawKey"]
    api.post("/api/signing-keys/rotate", {"graceMinutes": 0})
    assert _status(api, endpoint) == 401
