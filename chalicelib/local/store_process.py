"""The parent's handle on the store process (store_server.py): spawn, wait until ready, stop."""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

PR_SET_PDEATHSIG = 1
PROJECT_DIR = Path(__file__).resolve().parents[2]


class StoreError(RuntimeError):
    """The store process did not start or died."""


class StartAborted(RuntimeError):
    """Stopping was requested while the store was starting."""


def child_setup() -> Callable[[], None]:
    """What the child runs between fork and exec.

    PR_SET_PDEATHSIG makes the kernel send SIGTERM to the store when its parent dies, however
    it dies (even SIGKILL), and the store then exits: no orphan keeps the port, and every
    acknowledged write is already in its journal. The signal follows the *thread* that
    forked, so the stack spawns from its main thread, which lives as long as the process.
    SIGINT is ignored (and stays ignored across exec) because a terminal Ctrl-C reaches the
    whole process group, and the parent wants to stop the API before the store. The store
    spawns its compaction process the same way.
    """
    libc: ctypes.CDLL | None = None
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)  # loaded before fork: no imports in the child

    def setup() -> None:
        if libc is not None:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return setup


def follow_parent(parent_pid: int) -> bool:
    """Ask for SIGTERM when the parent dies (Linux); False when it is already gone.

    For children spawned without `child_setup`: a fork with a pre-exec hook copies the page
    tables of a store holding millions of items while its interpreter is locked.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    return os.getppid() == parent_pid


class StoreProcess:
    """A running store process and the port it serves on."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, ready_fd: int) -> None:
        self.process = process
        self.port = port
        self._ready_fd: int | None = ready_fd

    @property
    def url(self) -> str:
        """Base URL clients use for DynamoDB and SQS."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    def spawn(
        cls,
        *,
        state_dir: Path,
        stack_name: str,
        region: str,
        env: Mapping[str, str] | Callable[[int], Mapping[str, str]],
        legacy_file: Path | None = None,
        sweep_interval_s: float = 60.0,
    ) -> StoreProcess:
        """Bind a loopback port, start the store on it, and return without waiting.

        `env` may be a function of the port, since clients in the store (provisioning) need
        the endpoint URL too.
        """
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", 0))
            listener.listen(128)
            port = int(listener.getsockname()[1])
            ready_read, ready_write = os.pipe()
            command = [
                sys.executable,
                "-m",
                "chalicelib.local.store_server",
                "--listen-fd",
                str(listener.fileno()),
                "--ready-fd",
                str(ready_write),
                "--state-dir",
                str(state_dir),
                "--stack-name",
                stack_name,
                "--region",
                region,
                "--parent-pid",
                str(os.getpid()),
                "--sweep-interval",
                str(sweep_interval_s),
            ]
            if legacy_file is not None:
                command += ["--legacy-file", str(legacy_file)]
            child_env = dict(env(port) if callable(env) else env)
            try:
                process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                    command,
                    cwd=PROJECT_DIR,
                    env=child_env,
                    stdin=subprocess.DEVNULL,
                    pass_fds=(listener.fileno(), ready_write),
                    preexec_fn=child_setup(),  # safe: spawned before any thread starts
                )
            finally:
                os.close(ready_write)
        finally:
            listener.close()  # the child has its copy
        return cls(process, port, ready_read)

    def wait_ready(self, timeout_s: float, stop: threading.Event | None = None) -> None:
        """Block until the store has provisioned and restored its tables.

        Raises StoreError when it exits or does not become ready in time, StartAborted when
        `stop` is set meanwhile.
        """
        fd = self._ready_fd
        if fd is None:
            return
        deadline = time.monotonic() + timeout_s
        received = b""
        try:
            while b"\n" not in received:
                if stop is not None and stop.is_set():
                    raise StartAborted("stopped while the store was starting")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreError(f"the store did not become ready within {timeout_s:.0f} s")
                readable, _, _ = select.select([fd], [], [], min(remaining, 0.1))
                if not readable:
                    continue
                chunk = os.read(fd, 64)
                if not chunk:
                    code = self.process.wait(timeout=5)
                    raise StoreError(f"the store exited during startup (exit code {code})")
                received += chunk
        finally:
            os.close(fd)
            self._ready_fd = None

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM (the store syncs its journal and exits), then SIGKILL after `timeout_s`."""
        if self._ready_fd is not None:
            os.close(self._ready_fd)
            self._ready_fd = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()
