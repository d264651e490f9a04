"""Storage timeouts and throttling under overload answer 503 with Retry-After, not 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from pynamodb.exceptions import GetError, QueryError, UpdateError

from chalicelib.deps import Deps
from chalicelib.store.jobs import JobRepo
from chalicelib.store.ratelimits import DynamoCounters
from chalicelib.store.tenants import ApiKeyRepo
from tests.conftest import Api


def throttled(operation: str) -> ClientError:
    error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}
    return ClientError(error, operation)


def failing(exc: Exception) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return fail


@pytest.mark.parametrize(
    "cause",
    [ReadTimeoutError(endpoint_url="http://dynamodb"), throttled("Query")],
    ids=["timeout", "throttled"],
)
def test_a_route_whose_storage_is_overloaded_answers_503(
    api: Api, monkeypatch: pytest.MonkeyPatch, cause: Exception
) -> None:
    monkeypatch.setattr(JobRepo, "list", failing(QueryError("Failed to query items", cause)))
    reply = api.get("/api/jobs")
    assert reply.status == 503
    assert reply.error["code"] == "SERVICE_UNAVAILABLE"
    assert reply.headers["Retry-After"] == "5"
    assert reply.error["details"] == {"retryAfter": 5}


def test_authentication_under_overload_answers_503(
    deps: Deps, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        ApiKeyRepo, "by_hash", failing(GetError("Failed to get item", throttled("GetItem")))
    )
    reply = api.get("/api/jobs", key="cp_a_key_this_process_never_saw_0123")
    assert reply.status == 503 and reply.headers["Retry-After"] == "5"


def test_the_rate_limit_counter_under_overload_answers_503(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    cause = ReadTimeoutError(endpoint_url="http://dynamodb")
    monkeypatch.setattr(DynamoCounters, "add_below", failing(UpdateError("Failed", cause)))
    reply = api.get("/api/jobs")
    assert reply.status == 503 and reply.error["code"] == "SERVICE_UNAVAILABLE"


def test_any_other_storage_error_is_still_a_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    denied = ClientError({"Error": {"Code": "AccessDeniedException"}}, "Query")
    monkeypatch.setattr(JobRepo, "list", failing(QueryError("Failed", denied)))
    reply = api.get("/api/jobs")
    assert reply.status == 500 and reply.error["code"] == "INTERNAL_ERROR"
    assert "Retry-After" not in reply.headers
