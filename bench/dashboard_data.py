"""What the dashboard benchmark and the screenshots share: a signed-in browser session on a
local stack, and runs and sessions written straight into its store (no route creates them)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.api_latency import ADMIN_TOKEN, Stack

LIMITS = {"maxEndpoints": 100_000, "mutationsPerMinute": 1_000_000, "readsPerMinute": 1_000_000}


def ui(stack: Stack) -> str:
    """The dashboard's address on the stack."""
    return stack.base + "/ui"


def new_tenant(stack: Stack, tenant_id: str, name: str) -> str:
    """A tenant with limits a benchmark does not hit; its raw API key."""
    created = httpx.post(
        f"{stack.base}/admin/tenants",
        json={"name": name, "id": tenant_id, "limits": LIMITS},
        headers={"x-admin-token": ADMIN_TOKEN},
        trust_env=False,
    )
    created.raise_for_status()
    return str(created.json()["apiKey"]["key"])


def signed_in(stack: Stack, key: str) -> httpx.Client:
    """A client holding a dashboard session cookie, signed in through the form."""
    client = httpx.Client(trust_env=False, timeout=30, follow_redirects=False)
    form = client.get(f"{ui(stack)}/signin")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token, "no sign-in token"
    done = client.post(
        f"{ui(stack)}/signin", data={"csrf": token.group(1), "api_key": key, "next": "/api/ui"}
    )
    assert done.status_code == 303 and "cp_session" in client.cookies, done.text
    return client


def spaced(count: int, every: timedelta) -> list[datetime]:
    """`count` start times `every` apart, the newest one period ago."""
    now = datetime.now(UTC)
    return [now - every * (count - i) for i in range(count)]


def _bind(stack: Stack) -> None:
    os.environ.update(
        AWS_ENDPOINT_URL_DYNAMODB=stack.store_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        CRONPILOT_TABLE_PREFIX="cronpilot-local",
    )
    from chalicelib.settings import Settings
    from chalicelib.store import models

    models.bind(Settings.from_env())


def seed_runs(
    stack: Stack,
    endpoint: dict[str, Any],
    tenant_id: str,
    starts: list[datetime],
    shape: Any = None,
) -> None:
    """Finished runs of `endpoint` started at `starts`; `shape(i)` may change each (status,
    duration, body, cause)."""
    _bind(stack)
    from chalicelib.domain.entities import Run
    from chalicelib.domain.ids import run_id
    from chalicelib.store import models
    from chalicelib.store.runs import to_item

    with models.RunItem.batch_write() as batch:
        for i, started in enumerate(starts):
            fields: dict[str, Any] = {
                "status": "success",
                "duration_ms": 80,
                "status_code": 200,
                "response_body": {"status": "healthy", "error_count": 0},
            }
            fields.update(shape(i) if shape else {})
            run = Run(
                endpoint_id=endpoint["id"],
                id=run_id(started),
                tenant_id=tenant_id,
                job_id=endpoint["jobId"],
                started_at=started,
                finished_at=started + timedelta(milliseconds=fields["duration_ms"]),
                **{"source": "baseline-interval", **fields},
            )
            batch.save(to_item(run))


def seed_session(stack: Stack, endpoint: dict[str, Any], tenant_id: str, **fields: Any) -> str:
    """One planner session of `endpoint`, as the analyzer records it; its id."""
    _bind(stack)
    from chalicelib.domain.entities import AnalysisSession
    from chalicelib.domain.ids import session_id
    from chalicelib.store.sessions import to_item

    at = datetime.now(UTC)
    session = AnalysisSession(
        endpoint_id=endpoint["id"],
        id=session_id(at),
        tenant_id=tenant_id,
        job_id=endpoint["jobId"],
        analyzed_at=at,
        **fields,
    )
    to_item(session).save()
    return session.id
