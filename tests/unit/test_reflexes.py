"""Reflex rules: what is accepted, what is refused (naming the field), how each op evaluates."""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.entities import Run
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.reflex_rules import (
    AllOf,
    AnyOf,
    Clause,
    Pause,
    ReflexSpec,
    RunNow,
    SetInterval,
    from_json,
    parse_reflex,
    planner_expiry,
    to_json,
)
from chalicelib.domain.reflexes import (
    DIGEST_BUDGET,
    Observed,
    canonical_prefix,
    digest,
    evaluate,
    may_fire,
    resolve,
    seen_key,
    watched,
)
from chalicelib.domain.schemas import parse

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
OWNER = "ownerEndpoint000000001"
SIBLING = "siblingEndpoint0000001"


def spec_data(when: Any, do: Any = None, **extra: Any) -> dict[str, Any]:
    data = {"when": when, "do": do or {"action": "run_now"}, "reason": "test"}
    data.update(extra)
    return data


def spec(when: Any, do: Any = None, **extra: Any) -> ReflexSpec:
    return parse_reflex(spec_data(when, do, **extra))


def clause(path: str, op: str, *value: Any, endpoint: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"path": path, "op": op}
    if value:
        out["value"] = value[0]
    if endpoint is not None:
        out["endpoint"] = endpoint
    return out


def run(
    body: Any = None,
    status: str = "success",
    status_code: int | None = 200,
    duration_ms: int | None = 120,
    failure_count: int = 0,
) -> Observed:
    return Observed(status, status_code, duration_ms, failure_count, body)


def holds(when: dict[str, Any], body: Any = None, **fields: Any) -> bool:
    return evaluate(spec(when), OWNER, {OWNER: run(body, **fields)}, {}).holds


def fields_of(data: Any) -> list[str]:
    with pytest.raises(ValidationFailed) as caught:
        parse_reflex(data)
    return [detail["field"] for detail in caught.value.details]


# --- accepted forms --------------------------------------------------------------------------


def test_defaults_and_canonical_json() -> None:
    parsed = spec(clause("status", "==", "failed"))
    assert isinstance(parsed.when, Clause)
    assert parsed.when.endpoint == "self"
    assert parsed.cooldown_ms == 60_000
    assert parsed.expires_at is None
    assert to_json(parsed) == {
        "when": {"endpoint": "self", "path": "status", "op": "==", "value": "failed"},
        "do": {"action": "run_now"},
        "reason": "test",
        "cooldownMs": 60_000,
        "expiresAt": None,
    }


def test_round_trip_through_stored_json() -> None:
    parsed = spec(
        {
            "any": [
                {"all": [clause("body.items.0.state", "in", ["a", 1, None, True])]},
                clause("durationMs", ">=", 2.5, endpoint=SIBLING),
                clause("body", "exists"),
                clause("body.version", "changed"),
            ]
        },
        {"action": "pause", "until": "2026-02-01T10:00:00.123456+01:00"},
        cooldownMs=0,
        expiresAt="2026-03-01T00:00:00Z",
    )
    stored = to_json(parsed)
    assert stored["do"] == {"action": "pause", "until": "2026-02-01T09:00:00.123Z"}
    assert stored["expiresAt"] == "2026-03-01T00:00:00.000Z"
    assert stored["when"]["any"][2] == {
        "endpoint": "self",
        "path": "body",
        "op": "exists",
        "value": True,
    }
    assert "value" not in stored["when"]["any"][3]
    assert from_json(stored) == parsed
    assert to_json(from_json(stored)) == stored
    assert json.loads(json.dumps(stored)) == stored


@pytest.mark.parametrize(
    "path",
    [
        "status",
        "statusCode",
        "durationMs",
        "failureCount",
        "body",
        "body.a",
        "body.0",
        "body.items.10.name",
        "body.__class__",
        "body.a b.c-d.ünï",
        "body." + ".".join("k" * 8),
        "body." + "k" * 100,
    ],
)
def test_path_forms_accepted(path: str) -> None:
    assert isinstance(spec(clause(path, "exists")).when, Clause)


@pytest.mark.parametrize(
    "do, kind",
    [
        ({"action": "run_now"}, RunNow),
        ({"action": "set_interval", "intervalMs": 1000, "forMinutes": 10080}, SetInterval),
        ({"action": "set_interval", "intervalMs": 31_622_400_000, "forMinutes": 1}, SetInterval),
        ({"action": "pause", "forMinutes": 30}, Pause),
        ({"action": "pause", "until": "2026-01-02T00:00:00Z"}, Pause),
    ],
)
def test_actions_accepted(do: dict[str, Any], kind: type) -> None:
    parsed = spec(clause("status", "==", "failed"), do)
    assert isinstance(parsed.do, kind)
    assert to_json(parsed)["do"]["action"] == do["action"]
    assert from_json(to_json(parsed)) == parsed


@pytest.mark.parametrize("action", ["resume", "clear_hints"])
def test_bare_actions_accepted(action: str) -> None:
    assert to_json(spec(clause("body", "exists"), {"action": action}))["do"] == {"action": action}


def test_json_schema_for_tools_and_docs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        schema = ReflexSpec.model_json_schema(by_alias=True)
    clause_schema = schema["$defs"]["Clause"]
    assert clause_schema["required"] == ["path", "op"]
    assert "default" not in clause_schema["properties"]["value"]
    assert schema["properties"]["cooldownMs"]["default"] == 60_000


def test_two_nested_groups_of_four_and_sixteen_clauses_accepted() -> None:
    deep = {"all": [{"any": [clause("body", "exists")]}]}
    assert isinstance(spec(deep).when, AllOf)
    wide = {"any": [clause(f"body.k{i}", "exists") for i in range(4)]}
    assert isinstance(spec(wide).when, AnyOf)
    full = {"all": [{"any": [clause(f"body.k{i}", "exists")] * 4} for i in range(4)]}
    assert isinstance(spec(full).when, AllOf)


# --- refusals, each naming its field ---------------------------------------------------------


@pytest.mark.parametrize(
    "data, field",
    [
        (spec_data(clause("status", "~=", 1)), "when.op"),
        (
            spec_data({"all": [clause("status", "==", "failed"), clause("x", "like", 1)]}),
            "when.all.1.op",
        ),
        (spec_data({"any": [{"all": [clause("body", "matches")]}]}), "when.any.0.all.0.op"),
        (spec_data(clause("headers.x", "exists")), "when.path"),
        (spec_data(clause("Body.x", "exists")), "when.path"),
        (spec_data(clause("status.x", "exists")), "when.path"),
        (spec_data(clause("body.", "exists")), "when.path"),
        (spec_data(clause("body..a", "exists")), "when.path"),
        (spec_data(clause("body.a\nb", "exists")), "when.path"),
        (spec_data(clause("body." + ".".join("k" * 9), "exists")), "when.path"),
        (spec_data(clause("body." + "k" * 101, "exists")), "when.path"),
        (spec_data(clause("body." + ".".join(["k" * 40] * 7), "exists")), "when.path"),
        (spec_data(clause("body", "exists", endpoint="a|b")), "when.endpoint"),
        (spec_data(clause("body", "exists", endpoint="")), "when.endpoint"),
        (spec_data(clause("body.a", ">", "5")), "when.value"),
        (spec_data(clause("body.a", "<=", True)), "when.value"),
        (spec_data(clause("body.a", ">")), "when.value"),
        (spec_data(clause("body.a", "==")), "when.value"),
        (spec_data(clause("body.a", "==", [1])), "when.value"),
        (spec_data(clause("body.a", "!=", {"a": 1})), "when.value"),
        (spec_data(clause("body.a", "==", "x" * 1001)), "when.value"),
        (spec_data(clause("body.a", "==", 2**63)), "when.value"),
        (spec_data(clause("body.a", "==", float("nan"))), "when.value"),
        (spec_data(clause("body.a", ">", float("inf"))), "when.value"),
        (spec_data(clause("body.a", "in", "a")), "when.value"),
        (spec_data(clause("body.a", "in", [])), "when.value"),
        (spec_data(clause("body.a", "in", list(range(51)))), "when.value"),
        (spec_data(clause("body.a", "in", [[1]])), "when.value"),
        (spec_data(clause("body.a", "exists", "yes")), "when.value"),
        (spec_data(clause("body.a", "changed", 1)), "when.value"),
        (spec_data(clause("body.a", "changed", None)), "when.value"),
        (spec_data(clause("status", ">", 1)), "when.op"),
        (spec_data({**clause("body", "exists"), "extra": 1}), "when.extra"),
        (spec_data({"all": [clause("body", "exists")], "path": "body"}), "when.path"),
        (spec_data({"all": [clause("body", "exists")], "any": []}), "when.any"),
        (spec_data({"all": []}), "when.all"),
        (spec_data({"any": clause("body", "exists")}), "when.any"),
        (spec_data("status == failed"), "when"),
        (spec_data({"path": "body"}), "when.op"),
        (spec_data({"op": "exists"}), "when.path"),
        (spec_data(clause("body", "exists"), {"action": "explode"}), "do.action"),
        (spec_data(clause("body", "exists"), {"intervalMs": 1000}), "do.action"),
        (spec_data(clause("body", "exists"), "run_now"), "do.action"),
        (spec_data(clause("body", "exists"), {"action": "run_now", "now": True}), "do.now"),
        (
            spec_data(
                clause("body", "exists"),
                {"action": "set_interval", "intervalMs": 999, "forMinutes": 1},
            ),
            "do.intervalMs",
        ),
        (
            spec_data(clause("body", "exists"), {"action": "set_interval", "intervalMs": 1000}),
            "do.forMinutes",
        ),
        (
            spec_data(
                clause("body", "exists"),
                {"action": "set_interval", "intervalMs": "5000", "forMinutes": 1},
            ),
            "do.intervalMs",
        ),
        (
            spec_data(clause("body", "exists"), {"action": "pause", "forMinutes": 10081}),
            "do.forMinutes",
        ),
        (spec_data(clause("body", "exists"), {"action": "pause"}), "do.until"),
        (
            spec_data(
                clause("body", "exists"),
                {"action": "pause", "forMinutes": 5, "until": "2026-01-02T00:00:00Z"},
            ),
            "do.until",
        ),
        (spec_data(clause("body", "exists"), {"action": "pause", "until": "tomorrow"}), "do.until"),
        (
            spec_data(
                clause("body", "exists"), {"action": "pause", "until": "2026-01-02T00:00:00"}
            ),
            "do.until",
        ),
        ({"when": clause("body", "exists"), "do": {"action": "run_now"}}, "reason"),
        (spec_data(clause("body", "exists"), reason="   "), "reason"),
        (spec_data(clause("body", "exists"), reason="r" * 501), "reason"),
        (spec_data(clause("body", "exists"), cooldownMs=-1), "cooldownMs"),
        (spec_data(clause("body", "exists"), cooldownMs=604_800_001), "cooldownMs"),
        (spec_data(clause("body", "exists"), cooldownMs="60000"), "cooldownMs"),
        (spec_data(clause("body", "exists"), expiresAt="2026-01-01"), "expiresAt"),
        (spec_data(clause("body", "exists"), expiresAt=1767225600000), "expiresAt"),
    ],
)
def test_refusals_name_the_field(data: dict[str, Any], field: str) -> None:
    assert field in fields_of(data)


def test_too_deep_names_when() -> None:
    three = {"all": [{"any": [{"all": [clause("body", "exists")]}]}]}
    assert fields_of(spec_data(three)) == ["when"]


def test_too_many_clauses_names_when() -> None:
    nested = {
        "all": [{"any": [clause("body", "exists")] * 9}, {"any": [clause("body", "exists")] * 8}]
    }
    assert fields_of(spec_data(nested)) == ["when"]
    # Within the total, a group is still at most four items.
    assert fields_of(spec_data({"any": [clause("body", "exists")] * 5})) == ["when.any"]


def test_hostile_trees_are_refused_without_walking_them() -> None:
    deep: dict[str, Any] = clause("body", "exists")
    for _ in range(10_000):
        deep = {"all": [deep]}
    assert fields_of(spec_data(deep)) == ["when"]
    assert fields_of(spec_data({"any": [clause("body", "exists")] * 1_000_000})) == ["when"]


def test_hostile_requests_are_refused_field_by_field() -> None:
    deep = nested_lists(100_000)
    data = {
        "when": {"path": "body", "op": "==", "value": deep},
        "do": {"action": "run_now", "x": deep},
        "reason": deep,
        "ignored": deep,
        "cooldownMs": deep,
        "expiresAt": deep,
    }
    assert fields_of(data) == [
        "when.value",
        "do.x",
        "reason",
        "cooldownMs",
        "expiresAt",
        "ignored",  # unknown top-level keys are refused too
    ]
    data = {"when": {"path": deep, "op": deep, "endpoint": deep}, "do": deep, "reason": "x" * 10**7}
    assert fields_of(data) == ["when.endpoint", "when.path", "when.op", "do.action", "reason"]
    assert fields_of(spec_data({"all": deep})) == ["when.all.0"]
    assert fields_of(spec_data(clause("body", "in", list(range(10**6))))) == ["when.value"]
    assert fields_of(spec_data(clause("body" + ".a" * 10**6, "exists"))) == ["when.path"]


def test_every_error_is_reported_at_once() -> None:
    data = spec_data(clause("nope", "~"), {"action": "pause"}, reason="", cooldownMs=-5)
    assert fields_of(data) == ["when.path", "when.op", "do.until", "reason", "cooldownMs"]


def test_body_must_be_an_object() -> None:
    assert fields_of(["when"]) == ["body"]
    assert fields_of(None) == ["body"]


def test_schemas_parse_names_the_same_fields_without_indexes() -> None:
    data = spec_data(
        {"all": [clause("body", "exists"), {"any": [clause("x", "==", 1)]}]},
        {"action": "warp"},
    )
    with pytest.raises(ValidationFailed) as caught:
        parse(ReflexSpec, data)
    assert [d["field"] for d in caught.value.details] == ["when.all.any.path", "do"]
    assert fields_of(data) == ["when.all.1.any.0.path", "do.action"]


# --- paths -----------------------------------------------------------------------------------


def test_observed_from_a_run() -> None:
    finished = Run(
        endpoint_id=OWNER,
        id="run_1",
        tenant_id="t",
        job_id="j",
        status="failed",
        started_at=NOW,
        duration_ms=30,
        status_code=502,
        response_body={"a": 1},
    )
    assert Observed.of(finished, 4) == Observed("failed", 502, 30, 4, {"a": 1})


def test_run_fields_resolve_and_unknown_ones_do_not() -> None:
    observed = run({"a": 1}, status="failed", status_code=503, duration_ms=0, failure_count=3)
    assert resolve(observed, "status") == (True, "failed")
    assert resolve(observed, "statusCode") == (True, 503)
    assert resolve(observed, "durationMs") == (True, 0)
    assert resolve(observed, "failureCount") == (True, 3)
    assert resolve(observed, "body") == (True, {"a": 1})
    unknown = run(None, status_code=None, duration_ms=None)
    assert resolve(unknown, "statusCode") == (False, None)
    assert resolve(unknown, "durationMs") == (False, None)
    assert resolve(unknown, "body") == (False, None)
    assert resolve(None, "status") == (False, None)


def test_long_digit_keys_are_keys_not_indexes() -> None:
    digits = "9" * 5000
    assert resolve(run([1]), "body." + digits) == (False, None)
    assert resolve(run({digits: 1}), "body." + digits) == (True, 1)
    assert resolve(run([1]), "body." + "0" * 19) == (False, None)


@pytest.mark.parametrize(
    "body, path, expected",
    [
        ({"a": {"b": [10, {"c": None}]}}, "body.a.b.1.c", (True, None)),
        ({"a": {"b": [10, 20]}}, "body.a.b.0", (True, 10)),
        ({"a": [10, 20]}, "body.a.2", (False, None)),
        ({"a": [10, 20]}, "body.a.01", (False, None)),
        ({"a": [10, 20]}, "body.a.x", (False, None)),
        ({"a": {"0": "zero", "01": "lead"}}, "body.a.0", (True, "zero")),
        ({"a": {"0": "zero", "01": "lead"}}, "body.a.01", (True, "lead")),
        ({"a": "text"}, "body.a.0", (False, None)),
        ({"a": 5}, "body.a.b", (False, None)),
        ({"a": None}, "body.a.b", (False, None)),
        ({}, "body.__class__", (False, None)),
        ({"__class__": "data"}, "body.__class__", (True, "data")),
        ({"keys": 1}, "body.keys", (True, 1)),
        ({}, "body.keys", (False, None)),
        ({"a.b": 1}, "body.a.b", (False, None)),
        ("plain text", "body", (True, "plain text")),
        ("plain text", "body.0", (False, None)),
        ([1, 2], "body.1", (True, 2)),
        ([1, 2], "body.-1", (False, None)),
    ],
)
def test_body_paths(body: Any, path: str, expected: tuple[bool, Any]) -> None:
    assert resolve(run(body), path) == expected


# --- operators -------------------------------------------------------------------------------


BODY = {
    "n": 5,
    "f": 2.5,
    "s": "5",
    "t": True,
    "z": None,
    "list": [1, 2],
    "obj": {"k": 1},
    "nan": float("nan"),
}


@pytest.mark.parametrize(
    "path, op, value, expected",
    [
        ("body.n", "==", 5, True),
        ("body.n", "==", 5.0, True),
        ("body.n", "==", "5", False),
        ("body.s", "==", "5", True),
        ("body.s", "==", 5, False),
        ("body.t", "==", True, True),
        ("body.t", "==", 1, False),
        ("body.n", "==", True, False),
        ("body.z", "==", None, True),
        ("body.z", "==", False, False),
        ("body.list", "==", 1, False),
        ("body.missing", "==", None, False),
        ("body.n", "!=", 6, True),
        ("body.n", "!=", 5, False),
        ("body.s", "!=", 5, True),
        ("body.list", "!=", 1, True),
        ("body.z", "!=", None, False),
        ("body.missing", "!=", 1, False),
        ("body.n", ">", 4, True),
        ("body.n", ">", 5, False),
        ("body.n", ">=", 5, True),
        ("body.f", "<", 2.6, True),
        ("body.f", "<=", 2.5, True),
        ("body.f", "<=", 2, False),
        ("body.s", ">", 3, False),
        ("body.t", ">", 0, False),
        ("body.t", ">=", 1, False),
        ("body.z", "<", 1, False),
        ("body.list", ">", 0, False),
        ("body.missing", "<", 1, False),
        ("body.n", "in", [1, 5], True),
        ("body.n", "in", [5.0], True),
        ("body.n", "in", ["5", True], False),
        ("body.t", "in", [1], False),
        ("body.z", "in", [None], True),
        ("body.missing", "in", [None], False),
        ("body.n", "exists", True, True),
        ("body.z", "exists", True, True),
        ("body.missing", "exists", True, False),
        ("body.missing", "exists", False, True),
        ("body.n", "exists", False, False),
        ("body.nan", "==", 1, False),
        ("body.nan", "!=", 1, False),
        ("body.nan", ">", 1, False),
        ("body.nan", "<", 1, False),
        ("body.nan", "in", [1], False),
        ("body.nan", "exists", True, True),
    ],
)
def test_operators(path: str, op: str, value: Any, expected: bool) -> None:
    assert holds(clause(path, op, value), BODY) is expected


def test_exists_defaults_to_true() -> None:
    assert holds(clause("body.n", "exists"), BODY)
    assert not holds(clause("body.nope", "exists"), BODY)


def test_run_fields_compare() -> None:
    assert holds(clause("status", "==", "failed"), status="failed")
    assert holds(clause("status", "in", ["failed", "success"]))
    assert holds(clause("statusCode", ">=", 500), status_code=503)
    assert not holds(clause("statusCode", ">=", 500), status_code=None)
    assert holds(clause("statusCode", "exists", False), status_code=None)
    assert holds(clause("durationMs", ">", 1000), duration_ms=1500)
    assert holds(clause("failureCount", ">=", 3), failure_count=3)
    assert not holds(clause("body", "exists"), None)


def test_huge_integers_compare_exactly_with_floats() -> None:
    big = 2**63 - 1
    assert holds(clause("body.v", "==", big), {"v": big})
    assert not holds(clause("body.v", "==", float(big)), {"v": big})
    assert holds(clause("body.v", ">", 1e300), {"v": 10**400})


def test_sibling_endpoints_and_missing_runs() -> None:
    parsed = spec(
        {
            "all": [
                clause("status", "==", "success"),
                clause("body.ready", "==", True, endpoint=SIBLING),
            ]
        }
    )
    ready = {OWNER: run({}), SIBLING: run({"ready": True})}
    assert evaluate(parsed, OWNER, ready, {}).holds
    assert not evaluate(parsed, OWNER, {OWNER: run({})}, {}).holds
    assert not evaluate(parsed, OWNER, {OWNER: run({}), SIBLING: None}, {}).holds
    absent = spec(clause("status", "exists", False, endpoint=SIBLING))
    assert evaluate(absent, OWNER, {}, {}).holds


def test_naming_the_owner_is_the_same_as_self() -> None:
    parsed = spec(
        {"all": [clause("body.v", "changed"), clause("body.v", "changed", endpoint=OWNER)]}
    )
    first = evaluate(parsed, OWNER, {OWNER: run({"v": 1})}, {})
    assert first.seen.keys() == {seen_key(OWNER, "body.v")}
    assert evaluate(parsed, OWNER, {OWNER: run({"v": 2})}, first.seen).holds


def test_watched_endpoints() -> None:
    parsed = spec(
        {
            "any": [
                clause("status", "==", "failed"),
                {"all": [clause("body", "exists", endpoint=SIBLING)]},
                clause("body.x", "changed", endpoint="third"),
            ]
        }
    )
    assert watched(parsed, OWNER) == frozenset({OWNER, SIBLING, "third"})


def test_groups_short_circuit_and_nest() -> None:
    when = {
        "any": [
            {"all": [clause("body.n", "==", 5), clause("body.s", "==", "5")]},
            clause("body.missing", "exists"),
        ]
    }
    assert holds(when, BODY)
    assert not holds({"all": [clause("body.n", "==", 5), clause("body.missing", "exists")]}, BODY)
    assert not holds({"any": [clause("body.n", "==", 6), clause("body.missing", "exists")]}, BODY)


class Recording(dict[str, Observed | None]):
    """Observed runs that remember which endpoints were looked up."""

    def __init__(self, runs: dict[str, Observed | None]) -> None:
        super().__init__(runs)
        self.asked: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.append(key)
        return super().get(key, default)


def test_groups_stop_at_the_first_deciding_clause() -> None:
    when_all = {
        "all": [clause("status", "==", "failed"), clause("body", "exists", endpoint=SIBLING)]
    }
    observed = Recording({OWNER: run({}), SIBLING: run({})})
    assert not evaluate(spec(when_all), OWNER, observed, {}).holds
    assert observed.asked == [OWNER]
    when_any = {
        "any": [clause("status", "==", "success"), clause("body", "exists", endpoint=SIBLING)]
    }
    observed = Recording({OWNER: run({}), SIBLING: run({})})
    assert evaluate(spec(when_any), OWNER, observed, {}).holds
    assert observed.asked == [OWNER]


# --- changed ---------------------------------------------------------------------------------


def test_changed_is_false_first_then_tracks_the_value() -> None:
    parsed = spec(clause("body.version", "changed"))
    key = seen_key(OWNER, "body.version")

    def step(body: Any, seen: dict[str, str]) -> tuple[bool, dict[str, str]]:
        result = evaluate(parsed, OWNER, {OWNER: run(body)}, seen)
        return result.holds, result.seen

    fired, seen = step({"version": "1.0"}, {})
    assert not fired
    assert seen == {key: digest("1.0")}
    fired, seen = step({"version": "1.0"}, seen)
    assert not fired
    fired, seen = step({"version": "1.1"}, seen)
    assert fired
    # Absent: no information, the previous hash stays.
    fired, seen = step({}, seen)
    assert not fired
    assert seen == {key: digest("1.1")}
    fired, seen = step({"version": "1.1"}, seen)
    assert not fired
    fired, seen = step({"version": {"major": 2}}, seen)
    assert fired


def test_changed_keeps_unrelated_entries_and_records_past_a_short_circuit() -> None:
    parsed = spec({"all": [clause("status", "==", "failed"), clause("body.v", "changed")]})
    previous = {"other|body": "abc"}
    result = evaluate(parsed, OWNER, {OWNER: run({"v": 1})}, previous)
    assert not result.holds
    assert result.seen == {"other|body": "abc", seen_key(OWNER, "body.v"): digest(1)}
    # The change to 2 happened while the run succeeded; it is not news on the failure after.
    seen = evaluate(parsed, OWNER, {OWNER: run({"v": 2})}, result.seen).seen
    assert not evaluate(parsed, OWNER, {OWNER: run({"v": 2}, status="failed")}, seen).holds
    assert evaluate(parsed, OWNER, {OWNER: run({"v": 3}, status="failed")}, seen).holds


def test_changed_on_a_sibling_uses_its_own_key() -> None:
    parsed = spec(clause("statusCode", "changed", endpoint=SIBLING))
    first = evaluate(parsed, OWNER, {SIBLING: run(status_code=200)}, {})
    assert first.seen == {seen_key(SIBLING, "statusCode"): digest(200)}
    assert evaluate(parsed, OWNER, {SIBLING: run(status_code=500)}, first.seen).holds
    assert not evaluate(parsed, OWNER, {}, first.seen).holds


def test_digest_is_sha256_of_canonical_json() -> None:
    value = {"b": [1, 2.5, None, True, "é\ud800"], "a": {"y": -0.5, "x": 'q"\n'}}
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"))
    assert canonical_prefix(value) == (expected, False)
    assert digest(value) == hashlib.sha256(expected.encode()).hexdigest()[:16]
    assert digest({"x": 1, "y": 2}) == digest({"y": 2, "x": 1})
    assert digest(1) == digest(1.0)
    assert digest(-0.0) == digest(0)
    assert digest(1.5) != digest(1)
    assert digest(1e300) == hashlib.sha256(b"1e+300").hexdigest()[:16]
    assert digest([1]) != digest("[1]")


def test_digest_reads_a_bounded_prefix() -> None:
    long = "x" * (DIGEST_BUDGET * 4)
    text, cut = canonical_prefix(long)
    assert cut
    assert len(text) == DIGEST_BUDGET
    assert digest(long) == digest(long + "y")
    assert digest(long) != digest("x" * (DIGEST_BUDGET - 10))
    exact = "x" * (DIGEST_BUDGET - 2)
    assert canonical_prefix(exact) == (json.dumps(exact), False)


# --- hostile input ---------------------------------------------------------------------------


def nested_lists(depth: int) -> Any:
    body: Any = "bottom"
    for _ in range(depth):
        body = [body]
    return body


def nested_objects(depth: int) -> Any:
    body: Any = "bottom"
    for _ in range(depth):
        body = {"a": body}
    return body


HOSTILE_BODIES: list[Any] = [
    nested_lists(10_000),
    nested_objects(10_000),
    list(range(1_000_000)),
    {str(i): i for i in range(200_000)},
    "x" * 10_000_000,
    {"a": {"b": {"c": "x" * 1_000_000}}},
    None,
    "text",
    [None, [], {}],
    {"a": [{"b": "c"}], "__class__": {"__dict__": 1}, "__init__": None},
    {1: "int key", None: "null key", (1, 2): "tuple key"},
    b"bytes",
    object(),
]

HOSTILE_WHEN = {
    "any": [
        {
            "any": [
                clause("body.a.a.a.a.a.a.a.a", "==", "bottom"),
                clause("body.0.0.0.0.0.0.0.0", "exists"),
                clause("body.999999", "==", 999_999),
                clause("body.a.b.c", "changed"),
            ]
        },
        {
            "any": [
                clause("body", "changed"),
                clause("body.__class__.__dict__", "exists"),
                clause("body.__init__", "!=", 1),
                clause("body.a.0.b", "in", ["c", 1]),
            ]
        },
        clause("body.a", ">", 0),
    ]
}


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_hostile_bodies_evaluate_without_error(body: Any) -> None:
    parsed = spec(HOSTILE_WHEN)
    first = evaluate(parsed, OWNER, {OWNER: run(body)}, {})
    again = evaluate(parsed, OWNER, {OWNER: run(body)}, first.seen)
    assert again.seen == first.seen
    assert all(len(value) == 16 for value in again.seen.values())


def test_hostile_bodies_resolve_what_the_path_names() -> None:
    assert holds(clause("body.999999", "==", 999_999), list(range(1_000_000)))
    assert holds(clause("body.a.a.a.a.a.a.a.a", "exists"), nested_objects(10_000))
    assert holds(clause("body.0.0.0.0.0.0.0.0", "exists"), nested_lists(10_000))
    assert not holds(clause("body.__class__.__dict__", "exists"), {"a": 1})
    assert holds(clause("body.__class__.__dict__", "==", 1), {"__class__": {"__dict__": 1}})


def test_hostile_bodies_hash_within_budget() -> None:
    for body in HOSTILE_BODIES:
        text, _ = canonical_prefix(body)
        assert len(text) <= DIGEST_BUDGET
    assert canonical_prefix(nested_lists(10_000)) == (
        "[" * 10_000 + '"bottom"' + "]" * 10_000,
        False,
    )
    deeper, cut = canonical_prefix(nested_lists(50_000))
    assert cut
    assert deeper == "[" * 50_000 + '"bottom"' + "]" * (DIGEST_BUDGET - 50_008)
    assert canonical_prefix(list(range(1_000_000)))[0].startswith("[0,1,2,")
    # Deep values still differ by what the prefix covers.
    assert digest(nested_lists(10)) != digest(nested_lists(11))


# --- timing rules ----------------------------------------------------------------------------


def test_may_fire() -> None:
    hour = timedelta(hours=1)
    assert may_fire(None, 60_000, None, NOW)
    assert may_fire(None, 60_000, NOW + hour, NOW)
    assert not may_fire(None, 60_000, NOW, NOW)
    assert not may_fire(None, 60_000, NOW - hour, NOW)
    assert not may_fire(NOW - timedelta(seconds=59), 60_000, None, NOW)
    assert may_fire(NOW - timedelta(seconds=60), 60_000, None, NOW)
    assert may_fire(NOW, 0, None, NOW)
    assert not may_fire(NOW + hour, 60_000, None, NOW)


def test_planner_expiry() -> None:
    assert planner_expiry(NOW, None) == NOW + timedelta(hours=24)
    assert planner_expiry(NOW, NOW + timedelta(hours=2)) == NOW + timedelta(hours=2)
    assert planner_expiry(NOW, NOW + timedelta(days=30)) == NOW + timedelta(days=7)
    for past in (NOW, NOW - timedelta(seconds=1)):
        with pytest.raises(ValidationFailed) as caught:
            planner_expiry(NOW, past)
        assert caught.value.details == [{"field": "expiresAt", "message": "must be in the future"}]


def test_unknown_top_level_fields_are_refused_by_name() -> None:
    # A misspelt cooldown would otherwise silently take the default.
    body = {"when": clause("status", "==", "failed"), "do": {"action": "run_now"}, "reason": "r"}
    with pytest.raises(ValidationFailed) as refused:
        parse_reflex({**body, "cooldown": 300_000})
    assert [d["field"] for d in refused.value.details] == ["cooldown"]
