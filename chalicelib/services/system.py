"""Service health checks."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.settings import Settings

_PROBE_CONFIG = Config(connect_timeout=2, read_timeout=2, retries={"max_attempts": 1})


@lru_cache(maxsize=4)
def _client(region: str) -> Any:
    return boto3.client("dynamodb", region_name=region, config=_PROBE_CONFIG)


def storage_reachable(settings: Settings) -> bool:
    """True when the tenants table answers within about two seconds."""
    client = _client(settings.region)
    try:
        client.describe_table(TableName=f"{settings.table_prefix}-tenants")
    except Exception:
        return False
    return True
