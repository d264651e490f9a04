"""Which storage failures mean "overloaded, try again shortly" rather than a bug."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

# DynamoDB's answers when it sheds load; pynamodb has already retried each three times.
BUSY_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
_TIMEOUTS = (ReadTimeoutError, ConnectTimeoutError, EndpointConnectionError, ConnectionClosedError)
# Seconds a client is asked to wait before retrying.
RETRY_AFTER_S = 5


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: pynamodb keeps the botocore error in `.cause`."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo and len(seen) < 10:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([getattr(current, "cause", None), current.__cause__, current.__context__])
    return seen


def _code(error: ClientError) -> str | None:
    code = error.response.get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def is_overload(exc: BaseException) -> bool:
    """Whether `exc` is a storage timeout or throttle (answer 503, not 500)."""
    for cause in _causes(exc):
        if isinstance(cause, _TIMEOUTS):
            return True
        if isinstance(cause, ClientError) and _code(cause) in BUSY_CODES:
            return True
    return False
