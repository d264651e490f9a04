"""Stage secrets from SSM Parameter Store: read once, used for admin routes and the planner."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.secrets import resolve
from chalicelib.settings import Settings


def test_parameters_fill_the_admin_token_and_the_ai_key(aws: None) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/cp/test/admin", Value="adm1n-t0ken", Type="SecureString")
    ssm.put_parameter(Name="/cp/test/openai", Value="sk-test", Type="SecureString", Overwrite=True)
    env = {
        "CRONPILOT_ADMIN_TOKEN_PARAM": "/cp/test/admin",
        "OPENAI_API_KEY_PARAM": "/cp/test/openai",
    }
    resolved = resolve(Settings(), env)
    assert resolved.admin_token == "adm1n-t0ken" and resolved.ai_api_key == "sk-test"
    assert resolved.ai_configured
    assert "sk-test" not in repr(resolved)  # the key never shows in a logged settings object


def test_plain_variables_win_and_nothing_is_read_without_parameters() -> None:
    def refuse(name: str) -> str:
        raise AssertionError(f"read {name}")

    given = Settings(admin_token="plain", ai_api_key="k", ai_configured=True)
    env = {"CRONPILOT_ADMIN_TOKEN_PARAM": "/x", "OPENAI_API_KEY_PARAM": "/y"}
    assert resolve(given, env, refuse) is given
    assert resolve(Settings(), {}, refuse) == Settings()


def test_a_missing_parameter_is_logged_by_name_and_left_unset(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    env = {"CRONPILOT_ADMIN_TOKEN_PARAM": "/cp/test/missing", "OPENAI_API_KEY_PARAM": "/cp/x"}
    resolved = resolve(Settings(), env)
    assert resolved.admin_token is None and not resolved.ai_configured
    assert "/cp/test/missing" in caplog.text and "/cp/x" in caplog.text
