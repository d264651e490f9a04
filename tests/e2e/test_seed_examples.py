"""The curl sequences of docs "Coordinating Multiple Endpoints", run with the real curl binary.

Arguments are the document's, verbatim: only `https://api.cronicorn.com` becomes the local
stack, YOUR_KEY its key, and job/endpoint ids come from the previous response. A private
curlrc (CURL_HOME) adds `--silent --write-out <status>` so the status can be checked without
touching the arguments, and keeps the developer's own curlrc and proxies out of the test.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack, clean_env

DOC_HOST = "https://api.cronicorn.com"
STATUS_MARK = "\n@@status="

HEALTH_CHECK_BODY = """{
    "name": "Health Check",
    "url": "https://api.example.com/health",
    "method": "GET",
    "baselineIntervalMs": 60000,
    "minIntervalMs": 10000,
    "maxIntervalMs": 300000,
    "timeoutMs": 10000,
    "description": "Monitors service health. When status is degraded or error_count > 0, poll faster. When errors detected, trigger-recovery should run immediately."
  }"""  # noqa: E501 - verbatim from the document

TRIGGER_RECOVERY_BODY = """{
    "name": "Trigger Recovery",
    "url": "https://api.example.com/admin/restart",
    "method": "POST",
    "baselineIntervalMs": 3600000,
    "minIntervalMs": 300000,
    "timeoutMs": 30000,
    "description": "Recovery action that restarts the service. Only run when health-check shows errors. After triggering, wait at least 5 minutes before another attempt. When service recovers, return to hourly baseline."
  }"""  # noqa: E501 - verbatim from the document

SYNC_PENDING_BODY = """{
    "name": "Sync Pending Records",
    "url": "https://api.example.com/sync/pending",
    "method": "GET",
    "baselineIntervalMs": 300000,
    "minIntervalMs": 30000,
    "maxIntervalMs": 900000,
    "description": "Syncs pending records from external source. Poll frequently when records_pending is high (>1000). Slow down when caught up (<100 pending). Volume in response body drives frequency."
  }"""  # noqa: E501 - verbatim from the document

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl binary")


class Curl:
    """Runs curl with a document's arguments against one stack."""

    def __init__(self, stack: Stack, home: Path) -> None:
        self._stack = stack
        # The file says write-out = "\n@@status=...": curl turns that \n into a newline.
        (home / ".curlrc").write_text(
            'silent\nshow-error\nnoproxy = "*"\nwrite-out = "\\n@@status=%{http_code}"\n'
        )
        self._env = clean_env(CURL_HOME=str(home), HOME=str(home))

    def __call__(self, *doc_args: str) -> tuple[int, Any]:
        """Run `curl *doc_args` after the host and key substitution; (status, parsed body)."""
        key = self._stack.api_key
        assert key is not None
        args = [
            a.replace(DOC_HOST, self._stack.root_url).replace("YOUR_KEY", key) for a in doc_args
        ]
        done = subprocess.run(
            ["curl", *args], env=self._env, capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, done.stderr
        body, _, status = done.stdout.rpartition(STATUS_MARK)
        return int(status), json.loads(body) if body else None


@pytest.fixture
def curl(stack: Stack, tmp_path: Path) -> Curl:
    return Curl(stack, tmp_path)


def assert_echoes(endpoint: dict[str, Any], sent: str, job_id: str) -> None:
    expected = json.loads(sent)
    for name, value in expected.items():
        assert endpoint[name] == value, name
    assert endpoint["jobId"] == job_id
    assert endpoint["id"]


def test_automated_recovery_setup_and_history(curl: Curl) -> None:
    # 1. Create the job
    status, job = curl(
        "-X",
        "POST",
        "https://api.cronicorn.com/api/jobs",
        "-H",
        "x-api-key: YOUR_KEY",
        "-H",
        "Content-Type: application/json",
        "-d",
        '{"name": "Service Recovery Workflow"}',
    )
    assert status == 201, job
    assert job["name"] == "Service Recovery Workflow"
    job_id = job["id"]
    assert job_id.startswith("job_")

    # 2. Add health check endpoint
    status, health = curl(
        "-X",
        "POST",
        f"https://api.cronicorn.com/api/jobs/{job_id}/endpoints",
        "-H",
        "x-api-key: YOUR_KEY",
        "-H",
        "Content-Type: application/json",
        "-d",
        HEALTH_CHECK_BODY,
    )
    assert status == 201, health
    assert_echoes(health, HEALTH_CHECK_BODY, job_id)

    # 3. Add recovery action endpoint
    status, recovery = curl(
        "-X",
        "POST",
        f"https://api.cronicorn.com/api/jobs/{job_id}/endpoints",
        "-H",
        "x-api-key: YOUR_KEY",
        "-H",
        "Content-Type: application/json",
        "-d",
        TRIGGER_RECOVERY_BODY,
    )
    assert status == 201, recovery
    assert_echoes(recovery, TRIGGER_RECOVERY_BODY, job_id)

    # Checking Execution History
    endpoint_id = health["id"]
    status, runs = curl(
        "-H",
        "x-api-key: YOUR_KEY",
        f"https://api.cronicorn.com/api/endpoints/{endpoint_id}/runs?limit=10",
    )
    assert status == 200, runs
    assert runs["runs"] == []
    status, sessions = curl(
        "-H",
        "x-api-key: YOUR_KEY",
        f"https://api.cronicorn.com/api/endpoints/{endpoint_id}/sessions?limit=5",
    )
    assert status == 200, sessions


def test_volume_based_data_sync_setup(curl: Curl) -> None:
    # `-d` without a Content-Type: curl sends application/x-www-form-urlencoded.
    status, job = curl(
        "-X",
        "POST",
        "https://api.cronicorn.com/api/jobs",
        "-H",
        "x-api-key: YOUR_KEY",
        "-d",
        '{"name": "Data Sync"}',
    )
    assert status == 201, job
    assert job["name"] == "Data Sync"

    status, endpoint = curl(
        "-X",
        "POST",
        f"https://api.cronicorn.com/api/jobs/{job['id']}/endpoints",
        "-H",
        "x-api-key: YOUR_KEY",
        "-H",
        "Content-Type: application/json",
        "-d",
        SYNC_PENDING_BODY,
    )
    assert status == 201, endpoint
    assert_echoes(endpoint, SYNC_PENDING_BODY, job["id"])
