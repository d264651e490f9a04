"""The store's long-lived objects leave the cycle collector; garbage among them does not."""

from __future__ import annotations

import gc
import http.client
import threading
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.local import gc_freeze


class Node:
    """A container the cycle collector tracks; two of them make a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    # Frozen objects are never collected: hand this process's back to the collector.
    yield
    gc.unfreeze()


def test_a_settle_frees_cyclic_garbage_and_freezes_what_is_alive() -> None:
    alive = Node()
    a, b = Node(), Node()
    a.other, b.other = b, a
    garbage = weakref.ref(a)
    del a, b
    settled = gc_freeze.settle()
    assert garbage() is None, "the cycle was frozen instead of collected"
    assert settled.collected >= 2
    assert settled.frozen == gc.get_freeze_count() > 0
    # A collection after the settle walks only objects made since: the frozen are skipped.
    assert all(alive is not o for o in gc.get_objects())


def test_objects_made_after_a_settle_are_collected_as_usual() -> None:
    gc_freeze.settle()
    a, b = Node(), Node()
    a.other, b.other = b, a
    garbage = weakref.ref(a)
    del a, b
    assert garbage() is not None
    gc.collect()
    assert garbage() is None


def test_a_settle_from_everything_frees_garbage_an_earlier_freeze_caught() -> None:
    a, b = Node(), Node()
    a.other, b.other = b, a
    caught = weakref.ref(a)
    gc_freeze.settle()  # the cycle is alive here, as a request in flight would be
    del a, b
    gc_freeze.settle()
    assert caught() is not None, "a plain settle walked the frozen objects"
    settled = gc_freeze.settle(everything=True)
    assert caught() is None, "the settle from everything kept the frozen garbage"
    assert settled.collected >= 2 and settled.frozen == gc.get_freeze_count() > 0


def test_a_bulk_load_runs_without_collections_and_settles_afterwards() -> None:
    collections: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(phase)

    gc.callbacks.append(count)
    try:
        with gc_freeze.bulk_load():
            loaded = [Node() for _ in range(20_000)]  # far past the young generation's 700
            assert not gc.isenabled()
            assert collections == []
    finally:
        gc.callbacks.remove(count)
    assert gc.isenabled()
    assert collections == ["start"], "one collection, the settle's"
    assert all(n is not loaded[0] for n in gc.get_objects())


def test_a_bulk_load_leaves_collection_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with gc_freeze.bulk_load():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_failed_bulk_load_still_turns_collection_back_on_and_settles() -> None:
    settled: list[bool] = []
    with pytest.raises(RuntimeError), gc_freeze.bulk_load(lambda: settled.append(True)):
        raise RuntimeError("restore failed")
    assert gc.isenabled()
    assert settled == [True]


def test_the_store_settles_a_restore_only_with_no_request_in_flight() -> None:
    requests = gc_freeze.Requests()
    with requests.serving():
        a, b = Node(), Node()
        a.other, b.other = b, a
        in_flight = weakref.ref(a)
        with gc_freeze.bulk_load(lambda: requests.settle_when_idle(0)):
            pass
        del a, b
    gc.collect()
    assert in_flight() is None, "the restore froze a request in flight"


def test_a_settle_does_not_freeze_a_request_in_flight() -> None:
    requests = gc_freeze.Requests()
    with requests.serving():
        a, b = Node(), Node()
        a.other, b.other = b, a
        in_flight = weakref.ref(a)
        assert requests.settle_when_idle(0) is None
        del a, b
    assert requests.settle_when_idle(0) is not None
    assert in_flight() is None, "the request's cycle was frozen while it was in flight"


def test_a_parked_request_lets_a_settle_run_and_counts_again_once_it_resumes() -> None:
    requests = gc_freeze.Requests()
    with requests.serving():
        with requests.parked():  # a long poll waiting for a message
            assert requests.settle_when_idle(0) is not None
        assert requests.settle_when_idle(0) is None  # at work again
    assert requests.settle_when_idle(0) is not None


def test_a_parked_request_resumes_only_after_the_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    requests = gc_freeze.Requests()
    parked, wake, resumed = threading.Event(), threading.Event(), threading.Event()
    order: list[str] = []

    def long_poll() -> None:
        with requests.serving():
            with requests.parked():
                parked.set()
                wake.wait()
            order.append("resumed")
            resumed.set()

    def slow_settle(everything: bool = False) -> gc_freeze.Settled:
        wake.set()  # the long poll's message arrives while the settle runs
        # Had the request resumed now, `resumed` would be set within this wait and fail it.
        assert not resumed.wait(0.3), "the request resumed during the settle"
        order.append("settled")
        return gc_freeze.Settled(0, 0, 0.0)

    polling = threading.Thread(target=long_poll)
    polling.start()
    parked.wait()
    monkeypatch.setattr(gc_freeze, "settle", slow_settle)
    assert requests.settle_when_idle(5) is not None
    polling.join(10)
    assert order == ["settled", "resumed"]


def test_a_settle_runs_as_soon_as_the_last_request_ends() -> None:
    requests = gc_freeze.Requests()
    entered, release = threading.Event(), threading.Event()
    outcome: list[gc_freeze.Settled | None] = []

    def request() -> None:
        with requests.serving():
            entered.set()
            release.wait()

    serving = threading.Thread(target=request)
    serving.start()
    entered.wait()
    settling = threading.Thread(target=lambda: outcome.append(requests.settle_when_idle(60)))
    settling.start()
    release.set()
    serving.join()
    settling.join()
    assert outcome and outcome[0] is not None


def test_the_store_drops_a_request_before_it_counts_as_answered() -> None:
    # The handler outlives its request until the connection is shut down: were it to hold the
    # request's objects meanwhile, a freeze in that moment would keep them for good.
    from werkzeug.serving import make_server

    from chalicelib.local.store_server import request_handler

    refs: list[weakref.ref[Node]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        a, b = Node(), Node()
        a.other, b.other = b, a
        environ["test.cycle"] = a
        refs.append(weakref.ref(a))
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    requests = gc_freeze.Requests()
    parked = threading.Event()

    class Parked(request_handler(requests)):  # type: ignore[misc]
        def finish(self) -> None:
            # Keeps the handler between its request's end and its connection's shutdown.
            parked.wait()
            super().finish()

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Parked)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
    try:
        connection.request("GET", "/")
        answer = connection.getresponse()
        assert answer.read() == b"ok"
        # Waits for the handler to finish the request, then collects what is not in flight.
        assert requests.settle_when_idle(30) is not None
        assert refs and refs[0]() is None, "the request's objects were frozen"
    finally:
        parked.set()
        connection.close()
        server.shutdown()
