from tests.conftest import Api


def test_create_job_and_endpoint(api: Api) -> None:
    job = api.post("/api/jobs", {"name": "Service Recovery Workflow"})
    assert job.status == 201, job.body
    ep = api.post(
        f"/api/jobs/{job.body['id']}/endpoints",
        {"name": "Health", "url": "https://api.example.com/health", "baselineIntervalMs": 60000},
    )
    assert ep.status == 201, ep.body
    assert ep.body["nextRunAt"] == "2025-01-01T00:01:00.000Z"
    listed = api.get(f"/api/jobs/{job.body['id']}/endpoints")
    assert listed.status == 200 and len(listed.body["endpoints"]) == 1
