"""Where the API is and which credentials to send: flags, then the environment, then a profile
file, then the local stack's saved files (loopback URLs only), then defaults."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cronpilot_client.errors import ConfigError

DEFAULT_PORT = 8000
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_PROFILE = "default"
PROFILE_KEYS = frozenset({"url", "api_key", "admin_token", "timeout"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Overrides:
    """Settings given on the command line (None: not given)."""

    url: str | None = None
    api_key: str | None = None
    admin_token: str | None = None
    profile: str | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
class ClientConfig:
    """Resolved settings for one run of the client."""

    url: str
    api_key: str | None = None
    admin_token: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def is_loopback(self) -> bool:
        """Whether the API is on this machine (no proxies, local fallbacks allowed)."""
        return (urlsplit(self.url).hostname or "") in LOOPBACK_HOSTS


def profile_path(env: Mapping[str, str]) -> Path:
    """`$CRONPILOT_CONFIG`, else `$XDG_CONFIG_HOME/cronpilot/config.toml`, else under ~/.config."""
    explicit = env.get("CRONPILOT_CONFIG", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_CONFIG_HOME", "").strip()
    root = Path(base).expanduser() if base else Path(env.get("HOME", "~")).expanduser() / ".config"
    return root / "cronpilot" / "config.toml"


def load_profile(env: Mapping[str, str], name: str | None) -> dict[str, Any]:
    """The named profile's settings; `{}` when no profile was asked for and none exists.

    A profile asked for by name (flag or CRONPILOT_PROFILE) must exist, so a typo is an error
    rather than a silent fall-back to other credentials.
    """
    path = profile_path(env)
    wanted = name or DEFAULT_PROFILE
    if not path.is_file():
        if name is not None:
            raise ConfigError(f"profile {name!r} requested but {path} does not exist")
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read profile file {path}: {exc}") from None
    section = document.get(wanted)
    if section is None:
        if name is not None:
            known = ", ".join(sorted(document)) or "none"
            raise ConfigError(f"no profile [{name}] in {path} (profiles: {known})")
        return {}
    if not isinstance(section, dict):
        raise ConfigError(f"[{wanted}] in {path} must be a table of settings")
    unknown = sorted(set(section) - PROFILE_KEYS)
    if unknown:
        allowed = ", ".join(sorted(PROFILE_KEYS))
        raise ConfigError(f"unknown setting(s) {unknown} in [{wanted}] of {path}; use {allowed}")
    for key, value in section.items():
        if key == "timeout":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"timeout in [{wanted}] of {path} must be a number of seconds")
        elif not isinstance(value, str):
            raise ConfigError(f"{key} in [{wanted}] of {path} must be a string")
    return dict(section)


def normalize_url(raw: str) -> str:
    """The API base URL: http(s), a host, no trailing slash; a bare host gets `/api`."""
    text = raw.strip()
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            f"API URL {raw!r} must be an http(s) URL with a host, e.g. http://127.0.0.1:8000/api"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        raise ConfigError(f"API URL {raw!r} has an invalid port") from None
    if parts.query or parts.fragment:
        raise ConfigError(f"API URL {raw!r} must not have a query or fragment")
    path = parts.path.rstrip("/") or "/api"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _local_secret(env: Mapping[str, str], cwd: Path, name: str) -> str | None:
    """A key or token the local stack saved in CRONPILOT_HOME (default ./.cronpilot)."""
    home = Path(env.get("CRONPILOT_HOME") or ".cronpilot").expanduser()
    path = home if home.is_absolute() else cwd / home
    try:
        text = (path / name).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def _first(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return None


def resolve(overrides: Overrides, env: Mapping[str, str], cwd: Path) -> ClientConfig:
    """Combine the sources; ConfigError names the bad setting and where it came from."""
    profile_name = _first(overrides.profile, env.get("CRONPILOT_PROFILE", "").strip())
    profile = load_profile(env, profile_name)
    port = env.get("CRONPILOT_PORT", "").strip() or str(DEFAULT_PORT)
    raw_url = _first(
        overrides.url,
        env.get("CRONPILOT_URL", "").strip(),
        profile.get("url"),
        f"http://127.0.0.1:{port}/api",
    )
    url = normalize_url(str(raw_url))
    timeout = _first(overrides.timeout_s, profile.get("timeout"), DEFAULT_TIMEOUT_S)
    if float(timeout) <= 0:
        raise ConfigError("timeout must be a positive number of seconds")
    api_key = _first(
        overrides.api_key, env.get("CRONPILOT_API_KEY", "").strip(), profile.get("api_key")
    )
    admin_token = _first(
        overrides.admin_token,
        env.get("CRONPILOT_ADMIN_TOKEN", "").strip(),
        profile.get("admin_token"),
    )
    config = ClientConfig(
        url=url, api_key=api_key, admin_token=admin_token, timeout_s=float(timeout)
    )
    if config.is_loopback:
        # Only for this machine's stack: never send a local dev key to a remote server.
        config = ClientConfig(
            url=url,
            api_key=api_key or _local_secret(env, cwd, "api-key"),
            admin_token=admin_token or _local_secret(env, cwd, "admin-token"),
            timeout_s=float(timeout),
        )
    return config
