"""Settings of the local stack, the API path prefix and the banner (no I/O)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.local import seed
from chalicelib.local.api_server import strip_prefix
from chalicelib.local.options import LocalOptions
from chalicelib.local.stack import Banner, apply_environment, aws_environment

CWD = Path("/srv/project")
ROOT = Path(__file__).resolve().parents[2]


def test_defaults() -> None:
    options = LocalOptions.from_env({}, CWD)

    assert options.port == 8000
    assert options.home == CWD / ".cronpilot"
    assert options.api_key is None and options.admin_token is None
    assert options.table_prefix == "cronpilot-local"
    assert options.region == "us-east-1"
    assert options.state_dir == CWD / ".cronpilot" / "dynamodb-cronpilot-local"
    assert options.legacy_state_file == CWD / ".cronpilot" / "dynamodb-cronpilot-local.json"


def test_everything_set() -> None:
    options = LocalOptions.from_env(
        {
            "CRONPILOT_PORT": "9001",
            "CRONPILOT_HOME": "state/here",
            "CRONPILOT_API_KEY": " cp_a_key_of_twenty_chars ",
            "CRONPILOT_ADMIN_TOKEN": "admin",
            "CRONPILOT_TABLE_PREFIX": "mine",
            "AWS_REGION": "eu-west-1",
            "CRONPILOT_SCHEDULE_PERIOD_S": "2.5",
        },
        CWD,
    )

    assert options.port == 9001
    assert options.home == CWD / "state" / "here"
    assert options.api_key == "cp_a_key_of_twenty_chars"
    assert options.admin_token == "admin"
    assert options.state_dir.name == "dynamodb-mine"
    assert options.region == "eu-west-1"
    assert options.schedule_period_s == 2.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CRONPILOT_PORT": "http"}, "CRONPILOT_PORT must be an integer"),
        ({"CRONPILOT_PORT": "70000"}, "CRONPILOT_PORT must be a TCP port"),
        ({"CRONPILOT_API_KEY": "short"}, "at least 20 characters"),
        ({"CRONPILOT_SCHEDULE_PERIOD_S": "0"}, "must be positive"),
        ({"CRONPILOT_SCHEDULE_PERIOD_S": "soon"}, "must be a number"),
    ],
)
def test_bad_settings_say_what_is_wrong(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LocalOptions.from_env(env, CWD)


@pytest.mark.parametrize(
    ("path", "routed"),
    [
        ("/api", "/"),
        ("/api/", "/"),
        ("/api/jobs", "/jobs"),
        ("/api/jobs?status=active", "/jobs?status=active"),
        ("/api?x=1", "/?x=1"),
        ("/apis/jobs", None),
        ("/jobs", None),
        ("/", None),
        ("/api/endpoints//runs", None),
        ("/api//jobs", None),
        ("/api/jobs?cursor=a//b", "/jobs?cursor=a//b"),
    ],
)
def test_strip_prefix(path: str, routed: str | None) -> None:
    assert strip_prefix(path) == routed


def test_environment_points_every_client_at_the_store() -> None:
    env = {"AWS_PROFILE": "work", "AWS_ACCESS_KEY_ID": "AKIAREAL", "HOME": "/root"}

    apply_environment(env, aws_environment("us-east-1", "http://127.0.0.1:4566"))

    assert "AWS_PROFILE" not in env and env["HOME"] == "/root"
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == env["AWS_ENDPOINT_URL_SQS"]
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"


def test_banner_shows_where_things_are() -> None:
    banner = Banner(
        "http://127.0.0.1:8000/api",
        seed.Secret("cp_key_0123456789abcdefgh", Path("/h/api-key")),
        seed.Secret("token-from-env"),
        Path("/h"),
        "http://127.0.0.1:4566",
    ).render()

    assert "http://127.0.0.1:8000/api" in banner
    assert 'curl -H "x-api-key: cp_key_0123456789abcdefgh" http://127.0.0.1:8000/api/jobs' in banner
    assert "saved in /h/api-key" in banner and "CRONPILOT_ADMIN_TOKEN" in banner
    assert "Store        : http://127.0.0.1:4566" in banner


def test_the_entry_point_imports_no_aws_client_code() -> None:
    # The stack sets AWS_ENDPOINT_URL_* before importing anything that may build a client at
    # import time; a client built earlier would talk to real AWS.
    probe = (
        "import sys, chalicelib.local.__main__, chalicelib.local.stack\n"
        "heavy = ('boto3', 'botocore', 'pynamodb', 'app', 'chalicelib.deps', 'chalicelib.store',"
        " 'chalicelib.engine')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_pollers_per_queue_is_a_bounded_setting(tmp_path: Path) -> None:
    assert LocalOptions.from_env({}, tmp_path).pollers_per_queue == 4
    assert LocalOptions.from_env({"CRONPILOT_LOCAL_POLLERS": "2"}, tmp_path).pollers_per_queue == 2
    with pytest.raises(ValueError, match="CRONPILOT_LOCAL_POLLERS"):
        LocalOptions.from_env({"CRONPILOT_LOCAL_POLLERS": "0"}, tmp_path)
