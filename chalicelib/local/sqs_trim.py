"""Forget old receipt handles of deleted SQS messages, which moto keeps forever.

moto's queues remember every receipt handle of every message ever deleted, so that deleting
the same message twice succeeds (as on SQS). Nothing ever drops them: at 276 bytes a handle
and 19 runs a second, about 19 MB more store memory an hour, without bound. Each trim keeps
the handles deleted since the previous trim and drops the older ones, so a repeated delete is
still accepted for at least one trim period (a minute), far longer than any client retries it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("cronpilot-local.sqs")


def sqs_backend(region: str, account_id: str | None = None) -> Any:
    """moto's SQS backend for `region` in this process (the default moto account)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import sqs_backends

    return sqs_backends[account_id or DEFAULT_ACCOUNT_ID][region]


class DeletedHandles:
    """Trims each queue's remembered handles to those deleted since the previous trim."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self._seen: dict[str, set[str]] = {}

    def trim(self) -> int:
        """Drop the handles already there at the previous trim; how many were dropped."""
        dropped = 0
        seen: dict[str, set[str]] = {}
        for name, queue in list(self._backend.queues.items()):
            handles: set[str] = queue.deleted_messages
            old = self._seen.get(name, set())
            before = len(handles)
            # One C-level call: request threads deleting meanwhile see the set before or after.
            handles.difference_update(old)
            dropped += before - len(handles)
            seen[name] = set(handles)
        self._seen = seen
        return dropped
