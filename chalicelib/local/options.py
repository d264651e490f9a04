"""The local stack's own settings, read from the environment (see docs/local-stack.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PORT = 8000
DEFAULT_HOME = ".cronpilot"
DEFAULT_TABLE_PREFIX = "cronpilot-local"
DEFAULT_REGION = "us-east-1"
MIN_API_KEY_CHARS = 20
# Loopback only: the stack has fake credentials and seeded keys, it must never face a network.
HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalOptions:
    """Where and how the local stack runs."""

    port: int = DEFAULT_PORT
    home: Path = Path(DEFAULT_HOME)
    api_key: str | None = None
    admin_token: str | None = None
    table_prefix: str = DEFAULT_TABLE_PREFIX
    region: str = DEFAULT_REGION
    # Timers fire at their rate(...) unless this overrides every one of them.
    schedule_period_s: float | None = None
    # How often expired items (TTL passed) are deleted, as DynamoDB's own sweep does.
    ttl_sweep_interval_s: float = 60.0
    pollers_per_queue: int = 4
    # Restoring a million items takes about a minute (docs/local-stack.md): room for more.
    startup_timeout_s: float = 600.0

    @property
    def state_dir(self) -> Path:
        """Where the DynamoDB tables are kept: snapshot and journal (one folder per prefix)."""
        return self.home / f"dynamodb-{self.table_prefix}"

    @property
    def legacy_state_file(self) -> Path:
        """The version 1 state file, upgraded into `state_dir` at the first start."""
        return self.home / f"dynamodb-{self.table_prefix}.json"

    @classmethod
    def from_env(cls, env: Mapping[str, str], cwd: Path) -> LocalOptions:
        """Parse CRONPILOT_* settings; ValueError with a readable message when one is wrong."""
        port = _int(env, "CRONPILOT_PORT", DEFAULT_PORT)
        if not 0 <= port <= 65535:
            raise ValueError(f"CRONPILOT_PORT must be a TCP port (0-65535), got {port}")
        api_key = (env.get("CRONPILOT_API_KEY") or "").strip() or None
        if api_key is not None and len(api_key) < MIN_API_KEY_CHARS:
            raise ValueError(f"CRONPILOT_API_KEY must be at least {MIN_API_KEY_CHARS} characters")
        home = Path(env.get("CRONPILOT_HOME") or DEFAULT_HOME).expanduser()
        pollers = _int(env, "CRONPILOT_LOCAL_POLLERS", 4)
        if not 1 <= pollers <= 32:
            raise ValueError("CRONPILOT_LOCAL_POLLERS must be between 1 and 32")
        period = _float(env, "CRONPILOT_SCHEDULE_PERIOD_S")
        if period is not None and period <= 0:
            raise ValueError("CRONPILOT_SCHEDULE_PERIOD_S must be positive")
        return cls(
            port=port,
            home=(cwd / home).resolve(),
            api_key=api_key,
            admin_token=(env.get("CRONPILOT_ADMIN_TOKEN") or "").strip() or None,
            table_prefix=env.get("CRONPILOT_TABLE_PREFIX") or DEFAULT_TABLE_PREFIX,
            region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or DEFAULT_REGION,
            schedule_period_s=period,
            pollers_per_queue=pollers,
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str) -> float | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
