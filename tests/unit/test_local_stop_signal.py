"""The store's main loop learns of SIGTERM and SIGINT through a pipe, never through a lock."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from chalicelib.local.stop_signal import StopSignals


@pytest.fixture
def handlers() -> Iterator[None]:
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_no_signal_no_stop(handlers: None) -> None:
    stop = StopSignals()
    try:
        assert stop.wait(0) is False
        assert stop.wait(0.01) is False
    finally:
        stop.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_is_seen_by_the_wait_and_stays_seen(handlers: None, signum: int) -> None:
    # As a store started from a terminal has them: a test run started in the background by a
    # shell inherits SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    stop = StopSignals()
    try:
        os.kill(os.getpid(), signum)  # handled before the wait starts: the pipe remembers it
        assert stop.wait(5) is True
        assert stop.wait(0) is True
    finally:
        stop.close()


def test_an_ignored_sigint_stays_ignored_and_does_not_stop(handlers: None) -> None:
    # The parent starts the store with SIGINT ignored so that a terminal's Ctrl-C reaches the
    # API first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stop = StopSignals()
    try:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(0.05) is False
    finally:
        stop.close()


def test_close_puts_back_the_handlers_and_wakeup_pipe_it_found(handlers: None) -> None:
    def mine(signum: int, frame: object) -> None:
        """A handler of the test's own."""

    signal.signal(signal.SIGTERM, mine)
    woke = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(woke)
    stop = StopSignals()
    assert signal.getsignal(signal.SIGTERM) is not mine
    stop.close()
    assert signal.getsignal(signal.SIGTERM) is mine
    assert signal.set_wakeup_fd(woke) == woke
