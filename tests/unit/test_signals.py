"""Which body fields count as signals: categorical ones, not drifting numbers or timestamps."""

from __future__ import annotations

from chalicelib.domain.signals import fingerprint, signal_fields


def test_categorical_fields_are_signals_numbers_and_instants_are_not() -> None:
    body = {
        "status": "degraded",
        "needs_recovery": True,
        "batch_id": "2025-11-02",
        "error_count": 15,
        "latency_ms": 2500.5,
        "last_check": "2026-02-04T10:05:00Z",
        "note": None,
    }
    assert signal_fields(body) == {
        "status": "degraded",
        "needs_recovery": True,
        "batch_id": "2025-11-02",
        "note": None,
    }


def test_one_nested_level_and_short_string_lists_count() -> None:
    body = {
        "recommendations": {"pause_low_priority": True, "pause_until": "2025-11-02T15:00:00Z"},
        "paused_priority_levels": ["LOW", "NORMAL"],
        "deep": {"a": {"b": "ignored"}},
        "long": "x" * 81,
    }
    assert signal_fields(body) == {
        "recommendations.pause_low_priority": True,
        "paused_priority_levels": ["LOW", "NORMAL"],
    }


def test_fingerprint_ignores_drift_and_order_but_sees_signal_changes() -> None:
    a = fingerprint({"status": "healthy", "latency_ms": 45, "levels": ["B", "A"]})
    b = fingerprint({"latency_ms": 99, "levels": ["A", "B"], "status": "healthy"})
    c = fingerprint({"status": "degraded", "latency_ms": 45, "levels": ["A", "B"]})
    assert a == b and a != c and a is not None and len(a) == 16


def test_non_object_bodies_have_no_fingerprint() -> None:
    assert fingerprint(None) is None
    assert fingerprint("plain text") is None
    assert fingerprint([{"status": "x"}]) is None
    assert fingerprint({}) == fingerprint({"count": 3})  # an object without signals is stable


def test_bodies_nested_beyond_the_limit_are_kept_as_text() -> None:
    from chalicelib.engine.caller import MAX_BODY_DEPTH, parse_body

    ok = "[" * MAX_BODY_DEPTH + "]" * MAX_BODY_DEPTH
    assert isinstance(parse_body(ok.encode(), "application/json", None), list)
    for depth in (MAX_BODY_DEPTH + 1, 5_000, 100_000):
        deep = "[" * depth + "]" * depth
        assert parse_body(deep.encode(), "application/json", None) == deep
    assert parse_body(b'{"a": 1}', "text/plain", None) == '{"a": 1}'
    assert parse_body(b"", "application/json", None) == ""
