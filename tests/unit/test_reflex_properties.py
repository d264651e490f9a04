"""Property tests of reflexes: any valid rule on any JSON body evaluates, and consistently."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.reflex_rules import (
    AllOf,
    AnyOf,
    Clause,
    ReflexSpec,
    clauses,
    from_json,
    parse_reflex,
    to_json,
)
from chalicelib.domain.reflexes import Observed, digest, evaluate, resolve, seen_key

SETTINGS = settings(max_examples=300, deadline=None)
OWNER = "owner"
SIBLING = "sibling"
KEYS = ["a", "b", "0", "1", "__class__", "x y"]

keys = st.sampled_from(KEYS)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
body_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(KEYS)
)
bodies = st.recursive(
    body_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)
paths = st.sampled_from(["status", "statusCode", "durationMs", "failureCount", "body"]) | st.lists(
    keys, min_size=1, max_size=4
).map(lambda segments: "body." + ".".join(segments))
numbers = st.integers(min_value=-1000, max_value=1000) | st.floats(
    min_value=-1e6, max_value=1e6, allow_nan=False
)


@st.composite
def clause_data(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(paths)
    ops = ["==", "!=", "in", "exists", "changed"]
    if path != "status":
        ops += [">", ">=", "<", "<="]
    op = draw(st.sampled_from(ops))
    out: dict[str, Any] = {"path": path, "op": op}
    endpoint = draw(st.sampled_from([None, "self", OWNER, SIBLING, "ghost"]))
    if endpoint is not None:
        out["endpoint"] = endpoint
    if op in ("==", "!="):
        out["value"] = draw(scalars)
    elif op == "in":
        out["value"] = draw(st.lists(scalars, min_size=1, max_size=5))
    elif op == "exists":
        flag = draw(st.none() | st.booleans())
        if flag is not None:
            out["value"] = flag
    elif op != "changed":
        out["value"] = draw(numbers)
    return out


def condition_data(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """At most `depth` nested groups of at most two items (the limits: 2 levels of 4)."""
    if depth == 0:
        return clause_data()
    groups = st.lists(condition_data(depth - 1), min_size=1, max_size=2)
    return (
        clause_data()
        | groups.map(lambda items: {"all": items})
        | groups.map(lambda items: {"any": items})
    )


actions = st.sampled_from(
    [
        {"action": "run_now"},
        {"action": "set_interval", "intervalMs": 60_000, "forMinutes": 30},
        {"action": "pause", "forMinutes": 15},
        {"action": "pause", "until": "2026-01-02T03:04:05.678Z"},
        {"action": "resume"},
        {"action": "clear_hints"},
    ]
)


@st.composite
def specs(draw: st.DrawFn) -> ReflexSpec:
    data = {"when": draw(condition_data()), "do": draw(actions), "reason": "property"}
    return parse_reflex(data)


@st.composite
def runs(draw: st.DrawFn) -> Observed | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    return Observed(
        status=draw(st.sampled_from(["success", "failed"])),
        status_code=draw(st.none() | st.integers(100, 599)),
        duration_ms=draw(st.none() | st.integers(0, 900_000)),
        failure_count=draw(st.integers(0, 20)),
        body=draw(bodies),
    )


observations = st.fixed_dictionaries({OWNER: runs(), SIBLING: runs()})
seen_maps = st.dictionaries(st.text(max_size=20), st.text(max_size=16), max_size=4)


def canonical(value: Any) -> str:
    """Reference canonical JSON for small values, written independently of the module."""

    def normal(item: Any) -> Any:
        if isinstance(item, float) and item.is_integer() and abs(item) < 2**63:
            return int(item)
        if isinstance(item, list):
            return [normal(x) for x in item]
        if isinstance(item, dict):
            return {k: normal(v) for k, v in item.items()}
        return item

    return json.dumps(normal(value), sort_keys=True, separators=(",", ":"))


def reference(
    condition: AllOf | AnyOf | Clause,
    observed: dict[str, Observed | None],
    seen: dict[str, str],
) -> bool:
    """Python's all/any over each clause evaluated as a reflex of its own."""
    if isinstance(condition, AllOf):
        return all([reference(item, observed, seen) for item in condition.all])
    if isinstance(condition, AnyOf):
        return any([reference(item, observed, seen) for item in condition.any])
    alone = ReflexSpec.model_validate(
        {"when": condition, "do": {"action": "run_now"}, "reason": "one clause"}
    )
    return evaluate(alone, OWNER, observed, seen).holds


@SETTINGS
@given(specs())
def test_valid_specs_round_trip_through_json(spec: ReflexSpec) -> None:
    stored = to_json(spec)
    assert json.loads(json.dumps(stored)) == stored
    assert from_json(stored) == spec
    assert parse_reflex(stored) == spec
    assert to_json(from_json(stored)) == stored


@SETTINGS
@given(specs(), observations, seen_maps)
def test_evaluate_never_raises_and_keeps_previous_entries(
    spec: ReflexSpec, observed: dict[str, Observed | None], seen: dict[str, str]
) -> None:
    result = evaluate(spec, OWNER, observed, seen)
    assert isinstance(result.holds, bool)
    for key, value in seen.items():
        assert key in result.seen
        if not key.startswith((f"{OWNER}|", f"{SIBLING}|", "ghost|")):
            assert result.seen[key] == value
    for key in result.seen.keys() - seen.keys():
        assert len(result.seen[key]) == 16
        int(result.seen[key], 16)
    # Every resolving `changed` clause is recorded, wherever the groups stopped.
    for item in clauses(spec.when):
        target = OWNER if item.endpoint == "self" else item.endpoint
        found, value = resolve(observed.get(target), item.path)
        if item.op == "changed" and found:
            assert result.seen[seen_key(target, item.path)] == digest(value)


@SETTINGS
@given(specs(), observations, observations)
def test_groups_agree_with_python_all_and_any(
    spec: ReflexSpec,
    before: dict[str, Observed | None],
    after: dict[str, Observed | None],
) -> None:
    seen = evaluate(spec, OWNER, before, {}).seen
    assert evaluate(spec, OWNER, after, seen).holds == reference(spec.when, after, seen)


@SETTINGS
@given(paths, st.sampled_from([OWNER, SIBLING]), runs(), runs(), st.booleans())
def test_changed_is_false_first_and_true_exactly_when_the_value_changes(
    path: str, endpoint: str, first: Observed | None, other: Observed | None, repeat: bool
) -> None:
    second = first if repeat else other
    spec = parse_reflex(
        {
            "when": {"endpoint": endpoint, "path": path, "op": "changed"},
            "do": {"action": "run_now"},
            "reason": "property",
        }
    )
    key = seen_key(endpoint, path)
    initial = evaluate(spec, OWNER, {endpoint: first}, {})
    assert not initial.holds
    found_first, value_first = resolve(first, path)
    assert (key in initial.seen) is found_first

    result = evaluate(spec, OWNER, {endpoint: second}, initial.seen)
    found_second, value_second = resolve(second, path)
    expected = found_first and found_second and canonical(value_first) != canonical(value_second)
    assert result.holds is expected
    if found_second:
        assert result.seen[key] == digest(value_second)
    else:
        assert result.seen == initial.seen


@SETTINGS
@given(bodies)
def test_digest_is_sha256_of_the_canonical_json(body: Any) -> None:
    expected = hashlib.sha256(canonical(body).encode()).hexdigest()[:16]
    assert digest(body) == expected


RAW_KEYS = [
    "when",
    "do",
    "reason",
    "all",
    "any",
    "path",
    "op",
    "value",
    "endpoint",
    "action",
    "intervalMs",
    "forMinutes",
    "until",
    "cooldownMs",
    "expiresAt",
    "x",
]
raw_keys = st.sampled_from(RAW_KEYS)
raw_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.sampled_from(["==", ">", "in", "exists", "changed", "body", "body.a", "status"])
    | st.sampled_from(["run_now", "pause", "2026-01-01T00:00:00Z", "self", "  "])
    | st.text(max_size=10)
)
raw_json = st.recursive(
    raw_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(raw_keys, inner, max_size=5),
    max_leaves=30,
)


@SETTINGS
@given(st.dictionaries(raw_keys, raw_json, max_size=6))
def test_arbitrary_input_is_accepted_or_refused_naming_fields(data: dict[str, Any]) -> None:
    try:
        spec = parse_reflex(data)
    except ValidationFailed as exc:
        assert exc.details
        assert all(detail["field"] and detail["message"] for detail in exc.details)
    else:
        assert from_json(to_json(spec)) == spec
