"""Fixtures for the `cronpilot` client and MCP server tests.

One local stack (a real `python -m chalicelib.local` subprocess, offline, loopback only) serves
every test of this folder; `cli` runs the command line in process against it with a private
environment, so nothing from the developer's shell, profile or `.cronpilot/` leaks in.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from mcp_types import CallToolResult, TextContent

from cronpilot_client.cli.main import main
from tests.e2e.conftest import API_KEY, Stack, free_port, start_stack
from tests.e2e.engine_helpers import Recorder

ADMIN_TOKEN = "client-tests-admin-token-0123456789"


# Package scope: a stack left running goes on running what these tests scheduled, and takes
# its share of the cores from every test after them.
@pytest.fixture(scope="package")
def cp_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The one stack of these tests (its own state folder), stopped with SIGINT at the end."""
    running = start_stack(
        tmp_path_factory.mktemp("client-stack") / "home", CRONPILOT_ADMIN_TOKEN=ADMIN_TOKEN
    )
    yield running
    assert running.stop() == 0, running.stderr()


@pytest.fixture(scope="session")
def target() -> Iterator[Recorder]:
    """A loopback HTTP server endpoints can call (answers 200 `{"ok": true}`)."""
    recorder = Recorder()
    yield recorder
    recorder.close()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL nothing listens on: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/api"


class SignalingStream(io.StringIO):
    """A text stream that tells waiting threads when some text has been written."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def write(self, text: str) -> int:
        with self._changed:
            written = super().write(text)
            self._changed.notify_all()
            return written

    def wait_for(self, text: str, deadline_s: float = 30.0) -> bool:
        """Block until `text` appears (True) or the deadline passes (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: text in self.getvalue(), timeout=deadline_s)


@dataclass
class Result:
    """What one `cronpilot` invocation did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def cli_env(cp_stack: Stack, tmp_path: Path) -> dict[str, str]:
    """A private environment pointing at the stack with the seeded key."""
    return {
        "HOME": str(tmp_path),
        "CRONPILOT_URL": cp_stack.base_url,
        "CRONPILOT_API_KEY": API_KEY,
        "CRONPILOT_HOME": str(tmp_path / "no-local-state"),
    }


@pytest.fixture
def cli(cli_env: dict[str, str], tmp_path: Path) -> Cli:
    """Run `cronpilot *args` in process; `env` entries are added (None removes one)."""

    def run(
        *args: str,
        env: dict[str, str | None] | None = None,
        out: io.StringIO | None = None,
        err: io.StringIO | None = None,
    ) -> Result:
        merged: dict[str, str] = dict(cli_env)
        for name, value in (env or {}).items():
            if value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        stdout = out or io.StringIO()
        stderr = err or io.StringIO()
        code = main(list(args), env=merged, cwd=tmp_path, out=stdout, err=stderr)
        return Result(code, stdout.getvalue(), stderr.getvalue())

    return run


def text_of(result: CallToolResult) -> str:
    """The text of a tool result's first content block (the tools answer with text)."""
    block = result.content[0]
    assert isinstance(block, TextContent), block
    return block.text
