"""Where the CLI finds the API and its key, and the messages and exit codes when it cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cronpilot_client.config import ClientConfig, Overrides, resolve
from cronpilot_client.errors import ConfigError
from tests.client.conftest import Cli
from tests.e2e.conftest import API_KEY, ROOT, Stack, clean_env

NO_SETTINGS = {"CRONPILOT_URL": None, "CRONPILOT_API_KEY": None}


def write_profile(home: Path, text: str) -> Path:
    path = home / ".config" / "cronpilot" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_profile_file_supplies_url_and_key(cli: Cli, cp_stack: Stack, tmp_path: Path) -> None:
    write_profile(
        tmp_path,
        f'[default]\nurl = "{cp_stack.base_url}"\napi_key = "{API_KEY}"\n\n'
        f'[broken]\nurl = "{cp_stack.base_url}"\napi_key = "cp_wrong_key_0123456789"\n',
    )
    assert cli("jobs", env=NO_SETTINGS).code == 0
    # A named profile is used as a whole; the flag beats the environment and the profile.
    wrong = cli("jobs", "--profile", "broken", env=NO_SETTINGS)
    assert wrong.code == 4
    assert cli("jobs", "--profile", "broken", "--api-key", API_KEY, env=NO_SETTINGS).code == 0
    assert cli("jobs", env={"CRONPILOT_PROFILE": "broken", "CRONPILOT_API_KEY": API_KEY}).code == 0
    missing = cli("jobs", "--profile", "staging", env=NO_SETTINGS)
    assert missing.code == 2 and "no profile [staging]" in missing.err


def test_profile_file_mistakes_are_named(cli: Cli, tmp_path: Path) -> None:
    path = write_profile(tmp_path, '[default]\napikey = "x"\n')
    typo = cli("jobs", env=NO_SETTINGS)
    assert typo.code == 2 and "unknown setting(s) ['apikey']" in typo.err and str(path) in typo.err
    write_profile(tmp_path, "[default\n")
    broken = cli("jobs", env=NO_SETTINGS)
    assert broken.code == 2 and "cannot read profile file" in broken.err
    write_profile(tmp_path, '[default]\ntimeout = "soon"\n')
    bad_type = cli("jobs", env=NO_SETTINGS)
    assert bad_type.code == 2 and "timeout" in bad_type.err


def test_local_stack_key_file_is_used_for_a_loopback_url(
    cli: Cli, cp_stack: Stack, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "api-key").write_text(API_KEY + "\n")
    found = cli("jobs", env={"CRONPILOT_API_KEY": None, "CRONPILOT_HOME": str(state)})
    assert found.code == 0, found.err


def test_missing_key_wrong_key_and_unreachable_api(cli: Cli, refused_url: str) -> None:
    no_key = cli("jobs", env={"CRONPILOT_API_KEY": None})
    assert no_key.code == 4
    assert "no API key: pass --api-key, set CRONPILOT_API_KEY" in no_key.err
    wrong = cli("jobs", "--api-key", "cp_not_a_key_0123456789abc")
    assert wrong.code == 4 and "UNAUTHORIZED (401)" in wrong.err
    down = cli("jobs", "--api-url", refused_url)
    assert down.code == 3
    assert f"cannot connect to {refused_url}/jobs" in down.err and "cronpilot local" in down.err


def test_bad_settings_are_usage_errors(cli: Cli) -> None:
    bad_url = cli("jobs", "--api-url", "ftp://example.com")
    assert bad_url.code == 2 and "must be an http(s) URL" in bad_url.err
    bad_timeout = cli("jobs", "--timeout", "0")
    assert bad_timeout.code == 2 and "greater than zero" in bad_timeout.err
    abbreviated = cli("jobs", "--api", "x")
    assert abbreviated.code == 2
    unknown = cli("frobnicate")
    assert unknown.code == 2 and "invalid choice" in unknown.err
    version = cli("--version")
    assert version.code == 0 and version.out.startswith("cronpilot ")
    helped = cli("runs", "--help")
    assert helped.code == 0 and "VERB" in helped.out


def test_resolution_order_and_url_forms(tmp_path: Path) -> None:
    state = tmp_path / ".cronpilot"
    state.mkdir()
    (state / "api-key").write_text("cp_local_key_0123456789")
    (state / "admin-token").write_text("local-admin")
    env = {"HOME": str(tmp_path), "CRONPILOT_PORT": "9000"}

    local = resolve(Overrides(), env, tmp_path)
    assert local == ClientConfig(
        url="http://127.0.0.1:9000/api",
        api_key="cp_local_key_0123456789",
        admin_token="local-admin",
    )
    # The local files are never sent anywhere but this machine.
    remote = resolve(Overrides(url="https://cron.example.com"), env, tmp_path)
    assert remote.url == "https://cron.example.com/api"
    assert remote.api_key is None and remote.admin_token is None

    env_first = resolve(Overrides(), {**env, "CRONPILOT_API_KEY": "from-env"}, tmp_path)
    assert env_first.api_key == "from-env"
    flag_first = resolve(
        Overrides(api_key="from-flag"), {**env, "CRONPILOT_API_KEY": "from-env"}, tmp_path
    )
    assert flag_first.api_key == "from-flag"
    trailing = resolve(Overrides(url="http://localhost:8000/api/"), env, tmp_path)
    assert trailing.url == "http://localhost:8000/api"
    for bad in ("localhost:8000", "http://", "http://h:99999/api", "http://h/api?x=1"):
        with pytest.raises(ConfigError):
            resolve(Overrides(url=bad), env, tmp_path)


def test_local_command_runs_chalicelib_local(tmp_path: Path) -> None:
    # A bad setting makes chalicelib.local stop before starting anything, with its own message.
    done = subprocess.run(
        [sys.executable, "-m", "cronpilot_client", "local"],
        cwd=ROOT,
        env=clean_env(CRONPILOT_PORT="eighty", CRONPILOT_HOME=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "cronpilot local: CRONPILOT_PORT must be an integer, got 'eighty'" in done.stderr


def test_local_command_delegates(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import chalicelib.local.__main__ as local_main

    calls: list[str] = []

    def fake_main() -> int:
        calls.append("run")
        return 0

    monkeypatch.setattr(local_main, "main", fake_main)
    assert cli("local").code == 0
    assert calls == ["run"]
