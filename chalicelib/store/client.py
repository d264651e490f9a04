"""One botocore DynamoDB client for every table of the process.

pynamodb gives each model class a connection of its own, and each connection builds its own
botocore session and client on first use: a client parses the DynamoDB service description
(about 10 MB of Python objects) and takes about 0.1 s of CPU. With fifteen tables that is
fifteen copies in every process, and threads that use a table for the first time at once
each build one (the last one wins, the rest are garbage): a batch of slots on a cold
executor built 60 (597 MB), and the local stack resending a hundred slots after a restart
built over a hundred (its API process grew to 1.3 GB). botocore clients are
thread-safe, so every connection adopts the one client built first, under a lock.
"""

from __future__ import annotations

import threading
from typing import Any

from pynamodb.connection import Connection

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}


def adopt(connection: Connection) -> None:
    """Give `connection` the process's client for its region and host (built once)."""
    if connection._client is not None:
        return
    with _lock:
        if connection._client is not None:
            return
        key = (
            connection.region,
            connection.host,
            connection._connect_timeout_seconds,
            connection._read_timeout_seconds,
            connection._max_retry_attempts_exception,
            connection._max_pool_connections,
        )
        shared = _clients.get(key)
        if shared is None:
            # Built by pynamodb itself, so with the configuration it would give any table.
            _clients[key] = connection.client
        else:
            connection._client = shared


def forget() -> None:
    """Drop the shared clients (the tables were bound anew: build from the new settings)."""
    with _lock:
        _clients.clear()
