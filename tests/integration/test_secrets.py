"""Stage secrets from SSM Parameter Store: read once, used for admin routes and the planner."""

from __future__ import annotations

import boto3
import pytest

from chalicelib.secrets import admin_token, resolve
from chalicelib.settings import Settings


def refuse(name: str) -> str:
    raise AssertionError(f"read {name}")


def test_parameters_fill_the_admin_token_and_the_ai_key(aws: None) -> None:
    ssm = boto3.client("ssm", region_name="us-east-1")
    ssm.put_parameter(Name="/cp/test/admin", Value="adm1n-t0ken", Type="SecureString")
    ssm.put_parameter(Name="/cp/test/openai", Value="sk-test", Type="SecureString", Overwrite=True)
    resolved = resolve(Settings(), {"OPENAI_API_KEY_PARAM": "/cp/test/openai"})
    assert resolved.ai_api_key == "sk-test" and resolved.ai_configured
    assert "sk-test" not in repr(resolved)  # the key never shows in a logged settings object
    settings = Settings(admin_token_param="/cp/test/admin")
    assert admin_token(settings) == "adm1n-t0ken"
    assert admin_token(settings, refuse) == "adm1n-t0ken"  # read once per process
    assert "adm1n-t0ken" not in repr(Settings(admin_token="adm1n-t0ken"))


def test_plain_variables_win_and_nothing_is_read_without_parameters() -> None:
    given = Settings(admin_token="plain", ai_api_key="k", ai_configured=True)
    assert resolve(given, {"OPENAI_API_KEY_PARAM": "/y"}, refuse) is given
    assert resolve(Settings(), {}, refuse) == Settings()
    assert admin_token(Settings(admin_token="plain", admin_token_param="/x"), refuse) == "plain"
    assert admin_token(Settings(), refuse) is None


def test_a_missing_parameter_is_logged_by_name_and_left_unset(
    aws: None, caplog: pytest.LogCaptureFixture
) -> None:
    resolved = resolve(Settings(), {"OPENAI_API_KEY_PARAM": "/cp/x"})
    assert resolved.ai_api_key is None and not resolved.ai_configured
    assert admin_token(Settings(admin_token_param="/cp/test/missing")) is None
    assert "/cp/test/missing" in caplog.text and "/cp/x" in caplog.text
