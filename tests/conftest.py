"""Shared fixtures: in-process moto with the infra/ tables, a manual clock, an API client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

# Fake credentials and no endpoint override: moto intercepts in process, nothing leaves.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "CRONPILOT_TABLE_PREFIX": "cp-test",
    "CRONPILOT_ADMIN_TOKEN": "test-admin-token",
    # Secret header values are sealed with moto's KMS (the key is made in the `aws` fixture).
    "CRONPILOT_SECRETS_KMS_ALIAS": "alias/cp-test-secrets",
    "POWERTOOLS_SERVICE_NAME": "cronpilot",
    "POWERTOOLS_METRICS_NAMESPACE": "Cronpilot",
}.items():
    os.environ[_name] = _value
for _name in (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "OPENAI_API_KEY",
):
    os.environ.pop(_name, None)

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib import deps as deps_module  # noqa: E402
from chalicelib.clock import ManualClock  # noqa: E402
from chalicelib.deps import Deps  # noqa: E402
from chalicelib.domain.schemas import TenantCreate, TenantLimitsInput  # noqa: E402
from chalicelib.engine.caller import Caller  # noqa: E402
from chalicelib.infra import provision  # noqa: E402
from chalicelib.services.accounts import create_tenant  # noqa: E402
from chalicelib.settings import Settings  # noqa: E402
from chalicelib.store.models import TABLES  # noqa: E402
from tests.atomic_writes import atomic_item_writes  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)
STACK = "cp-test"


def no_dns(host: str, port: int) -> list[str]:
    """The resolver of every test: real DNS is never asked."""
    raise OSError(f"no DNS in tests ({host})")


def create_secrets_key(region: str) -> str:
    """The KMS key secret header values are sealed with, under the alias the tests use (on
    AWS infra/deploy.json declares it); its ARN."""
    import boto3

    kms = boto3.client("kms", region_name=region)
    arn = str(kms.create_key(Description="cp-test secret headers")["KeyMetadata"]["Arn"])
    kms.create_alias(AliasName="alias/cp-test-secrets", TargetKeyId=arn)
    return arn


# Folders whose tests start local stacks (subprocesses on loopback ports, each stack a core's
# worth of work at its busiest): run one after another on one xdist worker, so that they never
# compete with each other for the two cores CI has, while the in-process tests use the rest.
STACK_FOLDERS = ("tests/client/", "tests/e2e/")


def scope_of(nodeid: str) -> str:
    """The unit of work a test is scheduled in: every stack test together, else its module
    (so a module's fixtures are set up once)."""
    module = nodeid.split("::", 1)[0]
    return "stacks" if module.startswith(STACK_FOLDERS) else module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`pytest -n N`: schedule by `scope_of` (xdist's own `--dist loadgroup` marks ids in a way
    pytest 9 ignores)."""
    from xdist.scheduler import LoadScopeScheduling

    class StacksTogether(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return scope_of(nodeid)

    return StacksTogether(config, log)


@pytest.fixture(scope="session")
def aws() -> Iterator[None]:
    """One in-process moto for the session, with every table from infra/resources.json, whose
    conditional writes are atomic as DynamoDB's are (tests/atomic_writes.py)."""
    with atomic_item_writes(), mock_aws():
        provision(STACK, "us-east-1")
        create_secrets_key("us-east-1")
        yield


def _wipe() -> None:
    for model, _ in TABLES.values():
        keys = [
            a.attr_name for a in model.get_attributes().values() if a.is_hash_key or a.is_range_key
        ]
        with model.batch_write() as batch:
            for item in model.scan(attributes_to_get=keys):
                batch.delete(item)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def deps(aws: None, clock: ManualClock) -> Iterator[Deps]:
    """Fresh dependencies on empty tables, driven by the manual clock."""
    d = Deps(settings=Settings.from_env(), clock=clock)
    # Tests never resolve real names: a name without an entry fails like a DNS error.
    d.caller = Caller(allow_private=False, now_s=lambda: clock.now().timestamp(), resolver=no_dns)
    deps_module.use(d)
    yield d
    _wipe()
    deps_module.use(None)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> dict[str, Any]:
        assert isinstance(self.body, dict) and "error" in self.body, self.body
        err: dict[str, Any] = self.body["error"]
        return err


class Api:
    """Calls the Chalice app in process with real paths (`/api/...`) and an API key."""

    def __init__(self, client: Client, key: str | None) -> None:
        self._client = client
        self.key = key

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        key: str | None = "default",
    ) -> Reply:
        assert path.startswith("/api/"), path
        sent = dict(headers or {})
        use_key = self.key if key == "default" else key
        if use_key is not None:
            sent["x-api-key"] = use_key
        payload: bytes | None = raw.encode() if isinstance(raw, str) else raw
        if body is not None:
            payload = json.dumps(body).encode()
            sent.setdefault("content-type", "application/json")
        response = self._client.http.request(
            method, path[len("/api") :], headers=sent, body=payload if payload is not None else b""
        )
        text = response.body.decode() if response.body else ""
        try:
            parsed: Any = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Reply(response.status_code, parsed, dict(response.headers))

    def get(self, path: str, **kw: Any) -> Reply:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.call("DELETE", path, **kw)


def new_tenant(deps: Deps, tenant_id: str = "acme", **limits: int) -> str:
    """Create a tenant and return its raw API key."""
    request = TenantCreate(name=tenant_id.title(), id=tenant_id, limits=TenantLimitsInput(**limits))
    _, _, raw = create_tenant(deps, request)
    return raw


@pytest.fixture
def chalice_client(deps: Deps) -> Iterator[Client]:
    from app import app

    with Client(app, stage_name="local") as client:
        yield client


@pytest.fixture
def api(deps: Deps, chalice_client: Client) -> Api:
    """API client authenticated as tenant `acme`."""
    return Api(chalice_client, new_tenant(deps, "acme"))


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every item of every table, for asserting that a rejected request changed nothing.
    The rate-limit counters are left out: every request, rejected or not, is counted there."""
    state: dict[str, list[dict[str, Any]]] = {}
    for model, suffix in TABLES.values():
        if suffix == "rate-limits":
            continue
        items = [item.serialize() for item in model.scan()]
        state[suffix] = sorted(items, key=lambda i: json.dumps(i, sort_keys=True))
    return state


@pytest.fixture
def job(api: Api) -> dict[str, Any]:
    """A job of tenant `acme`."""
    reply = api.post("/api/jobs", {"name": "Nightly", "description": "ETL"})
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


ENDPOINT = {
    "name": "Health Check",
    "url": "https://api.example.com/health",
    "method": "GET",
    "baselineIntervalMs": 60000,
    "timeoutMs": 10000,
}


@pytest.fixture
def endpoint(api: Api, job: dict[str, Any]) -> dict[str, Any]:
    """An interval endpoint (60 s) in `job`."""
    reply = api.post(f"/api/jobs/{job['id']}/endpoints", ENDPOINT)
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body
