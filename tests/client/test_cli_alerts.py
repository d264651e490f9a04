"""`cronpilot channels|incidents|alert-policy|outbox` against the local stack: a channel
added, shown masked, changed, tested (webhook at the loopback target, email into the outbox)
and removed; policies set and shown; mistakes caught before sending (exit 6) and the API's
404 (exit 5)."""

from __future__ import annotations

from tests.client.conftest import Cli
from tests.e2e.conftest import Stack
from tests.e2e.engine_helpers import Recorder


def test_channels_policies_incidents_and_the_outbox(
    cli: Cli, cp_stack: Stack, target: Recorder
) -> None:
    added = cli(
        "channels", "add", "--kind", "webhook", "--name", "Ops",
        "--url", f"{target.url}/alerts-hook?token=s3cret", "--json",
    )  # fmt: skip
    assert added.code == 0, added.err
    channel = added.json()
    assert channel["url"] == "http://127.0.0.1/********" and channel["jobIds"] is None

    table = cli("channels")  # `list` is the default verb
    assert table.code == 0 and channel["id"] in table.out and "s3cret" not in table.out
    job = cp_stack.post_json("/jobs", {"name": "CLI alerts"}).json()["id"]
    changed = cli("channels", "set", channel["id"], "--job", job, "--disable", "--json")
    assert changed.code == 0, changed.err
    assert changed.json()["jobIds"] == [job] and changed.json()["enabled"] is False

    tested = cli("channels", "test", channel["id"], "--json")
    assert tested.code == 0, tested.err
    assert tested.json()["state"] == "sent" and target.count("/alerts-hook?token=s3cret") == 1

    email = cli("channels", "add", "--kind", "email", "--name", "Me", "--address", "me@example.com")
    assert email.code == 0, email.err
    email_id = email.out.split()[1]  # the details view starts with `id <value>`
    assert cli("channels", "test", email_id).code == 0
    outbox = cli("outbox", "--limit", "1")
    assert outbox.code == 0 and "Subject: [Cronpilot] Cronpilot test notice" in outbox.out

    policy = cli(
        "alert-policy", "set", "--job", job, "--failure-threshold", "5", "--notify-on-pause",
        "--json",
    )  # fmt: skip
    assert policy.code == 0, policy.err
    assert policy.json()["failureThreshold"] == 5 and policy.json()["notifyOnPause"] is True
    assert policy.json()["ownFields"] == ["failureThreshold", "notifyOnPause"]
    assert cli("alert-policy", "--json").json()["failureThreshold"] == 3

    assert cli("incidents", "--job", job).out.strip() == "(none)"
    assert cli("incidents", "show", "inc_missing").code == 5

    bad = cli("channels", "add", "--kind", "email", "--name", "x", "--address", "nope")
    assert bad.code == 6 and "address" in bad.err
    bad = cli("alert-policy", "set", "--failure-threshold", "0")
    assert bad.code == 6 and "failureThreshold" in bad.err
    removed = cli("channels", "rm", channel["id"])
    assert removed.code == 0 and removed.out.strip() == f"Channel {channel['id']} removed."
    assert cli("channels", "show", channel["id"]).code == 5
    assert cli("channels", "rm", email_id).code == 0  # the shared stack's tenant is left as found
