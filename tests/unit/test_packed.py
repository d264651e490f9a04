"""Large JSON attributes are stored compressed; small ones as they are."""

from __future__ import annotations

import pytest

from chalicelib.store.packed import PACK_FROM_BYTES, encoded, pack, unpack


def test_small_values_are_left_as_json() -> None:
    small = [{"tool": "get_state", "args": {}, "result": {"ok": True}}]
    assert len(encoded(small)) < PACK_FROM_BYTES
    assert pack(small) is None


@pytest.mark.parametrize(
    "value",
    [
        [{"tool": "get_sibling_states", "args": {}, "result": {"body": "é" * 2000}}],
        {"nested": [{"n": i, "s": "x" * 40, "f": i / 3} for i in range(200)], "none": None},
    ],
)
def test_large_values_round_trip(value: object) -> None:
    packed = pack(value)
    assert packed is not None
    assert unpack(packed) == value


def test_response_bodies_shrink_several_times() -> None:
    # What a session holds: siblings' latest answers, alike in shape.
    bodies = [
        {"tool": "get_sibling_states", "args": {"id": f"ep{i}"}, "result": {
            "status": "healthy", "queue": i, "items": [{"id": j, "state": "ok"} for j in range(14)]
        }}
        for i in range(100)
    ]  # fmt: skip
    packed = pack(bodies)
    assert packed is not None
    assert len(packed) * 5 < len(encoded(bodies))


def test_a_value_compression_would_not_shrink_is_left_as_json() -> None:
    # zlib's header and checksum outweigh what it saves on a few bytes.
    assert pack("ok", from_bytes=1) is None
    assert pack({"status": "ok" * 300}, from_bytes=1) is not None


def test_the_threshold_is_the_callers() -> None:
    body = {"items": [{"sku": f"SKU-{n:05d}", "qty": n} for n in range(20)]}
    assert 512 <= len(encoded(body)) < PACK_FROM_BYTES
    assert pack(body) is None
    packed = pack(body, from_bytes=512)
    assert packed is not None and unpack(packed) == body
