"""Stop signals the store's main loop can wait for without taking a lock.

A Python signal handler runs in the main thread between any two bytecodes, including while that
thread holds the lock inside a `threading.Event` it is waiting on: a handler calling
`Event.set()` then waits for that lock forever, and the store outlives its stack. Here the
C-level handler writes the signal's number to a pipe (`signal.set_wakeup_fd`), which is safe
at any moment, and the main loop waits on the pipe.
"""

from __future__ import annotations

import os
import select
import signal
from types import FrameType


def _noted(signum: int, frame: FrameType | None) -> None:
    """The wakeup pipe has the signal already; nothing is left to do in Python."""


class StopSignals:
    """SIGTERM, and SIGINT unless ignored, as bytes on a pipe the main loop waits on."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._stopped = False
        self._woke = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        stops = [signal.SIGTERM]
        # The parent starts the store with SIGINT ignored: a Ctrl-C in the terminal reaches the
        # whole process group, and the parent must stop the API before the store goes away.
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            stops.append(signal.SIGINT)
        self._stops = {int(s) for s in stops}
        self._before = {s: signal.signal(s, _noted) for s in stops}

    def wait(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for a stop signal; whether one has come (now or before)."""
        if not self._stopped:
            readable, _, _ = select.select([self._read], [], [], timeout_s)
            if readable:
                try:
                    received = os.read(self._read, 512)
                except BlockingIOError:
                    received = b""
                self._stopped = any(number in self._stops for number in received)
        return self._stopped

    def close(self) -> None:
        """Put back the handlers and wakeup pipe there were before, and close this one."""
        for signum, handler in self._before.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        signal.set_wakeup_fd(self._woke)
        os.close(self._read)
        os.close(self._write)
