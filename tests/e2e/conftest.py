"""The local stack as a real subprocess (`python -m chalicelib.local`), on loopback only.

`stack` is one stack for the whole session (read-mostly tests); `launch` starts extra ones
with their own state folder for the lifecycle tests. Every stack is stopped with SIGINT and
must exit 0; a stack a test leaves running is killed at teardown.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
API_KEY = "cp_e2e_test_key_0123456789abcdef"  # >= 20 characters, like any seeded key
START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 30.0
# Settings the test process (tests/conftest.py) or the developer's shell may hold, which must
# not leak into the stack under test.
SCRUBBED_PREFIXES = ("AWS_", "CRONPILOT_", "POWERTOOLS_", "OPENAI_")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _ephemeral_ports() -> range:
    """The ports the kernel hands to outgoing connections."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default
    return range(int(low), int(high) + 1)


def free_port() -> int:
    """A loopback port nothing listens on right now, outside the ephemeral range.

    A stack restarted on the same port must find it free: a port from the ephemeral range can
    meanwhile be taken as the local end of any outgoing connection (under load, once, the new
    stack's own connections to its store took it before its API could listen there).
    """
    ephemeral = _ephemeral_ports()
    candidates = [p for p in range(20000, 32768) if p not in ephemeral]
    for port in random.sample(candidates, 50):
        if port_bindable(port):
            return port
    pytest.fail("no free loopback port outside the ephemeral range after 50 tries")


def port_bindable(port: int) -> bool:
    """Whether a server could listen on `port` now (SO_REUSEADDR, as servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without AWS/Cronpilot settings or proxies."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(SCRUBBED_PREFIXES) and name.lower() not in PROXY_VARIABLES
    }
    env["NO_PROXY"] = env["no_proxy"] = HOST
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            children.append(int(entry.name))
    return children


def pid_alive(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    """Poll `condition` until true; fail after `deadline_s` (a readiness wait, not timing)."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Stack:
    """A running `python -m chalicelib.local` and how to reach it."""

    process: subprocess.Popen[bytes]
    port: int
    home: Path
    api_key: str | None
    stdout_path: Path
    stderr_path: Path
    started_in_s: float = 0.0
    store_pid: int | None = None
    exit_code: int | None = None
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/api"

    @property
    def http(self) -> httpx.Client:
        """A keep-alive client for the API (no proxies, no key unless given)."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, trust_env=False, timeout=10.0)
        return self._client

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"x-api-key": key or self.api_key or self.saved_key()}

    def saved_key(self) -> str:
        return (self.home / "api-key").read_text().strip()

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def post_json(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, content=json.dumps(body), headers=self.headers())

    def stop(self, sig: int = signal.SIGINT) -> int:
        """Send `sig` and wait for the exit code."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.exit_code = self.process.wait(timeout=STOP_DEADLINE_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"stack did not stop within {STOP_DEADLINE_S:.0f} s:\n{self.stderr()}")
        return self.exit_code


def start_stack(
    home: Path, *, api_key: str | None = API_KEY, port: int | None = None, **env: str
) -> Stack:
    """Start a stack and return once GET /api/health answers 200."""
    home.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    # Offline: the stack executes what the tests schedule, and must not look names up in DNS.
    overrides = {
        "CRONPILOT_PORT": str(port),
        "CRONPILOT_HOME": str(home),
        "CRONPILOT_OFFLINE": "true",
        **env,
    }
    if api_key is not None:
        overrides["CRONPILOT_API_KEY"] = api_key
    stdout_path = home.parent / f"{home.name}-{port}.out"
    stderr_path = home.parent / f"{home.name}-{port}.err"
    started = time.monotonic()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local"],
            cwd=ROOT,
            env=clean_env(**overrides),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
        )
    stack = Stack(process, port, home, api_key, stdout_path, stderr_path)

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"stack exited with {process.returncode} during start:\n{stack.stderr()}")
        try:
            return (
                httpx.get(f"{stack.base_url}/health", trust_env=False, timeout=2).status_code == 200
            )
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, START_DEADLINE_S, "GET /api/health == 200")
    except BaseException:
        process.kill()
        process.wait()
        raise
    stack.started_in_s = time.monotonic() - started
    children = child_pids(process.pid)
    stack.store_pid = children[0] if children else None
    return stack


# Package scope, for the reason `tests/client/conftest.py` gives for its stack.
@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack for the read-mostly tests, stopped with SIGINT at the end (exit code 0)."""
    running = start_stack(tmp_path_factory.mktemp("session") / "home")
    yield running
    assert running.stop() == 0, running.stderr()


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Start stacks for one test; any still running afterwards is killed."""
    started: list[Stack] = []

    def start(home: Path | None = None, **kwargs: Any) -> Stack:
        running = start_stack(home or tmp_path / "home", **kwargs)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
        if running.store_pid is not None and pid_alive(running.store_pid):
            os.kill(running.store_pid, signal.SIGKILL)
