"""The CLI's exit codes (documented in docs/cli.md); scripts can branch on them."""

from __future__ import annotations

from cronpilot_client.errors import (
    ApiError,
    ConfigError,
    ConnectionFailed,
    CronpilotError,
    InvalidInput,
    MissingCredential,
    UsageError,
)

OK = 0
API_ERROR = 1  # any other API error: 409 conflict, 413, 429, 5xx
USAGE = 2  # bad command line or configuration (argparse uses 2 as well)
UNREACHABLE = 3  # connection refused, timeout, DNS or TLS failure
UNAUTHORIZED = 4  # 401, or no key / admin token configured
NOT_FOUND = 5  # 404
INVALID = 6  # 400 VALIDATION_ERROR, from the API or checked before sending
RUN_FAILED = 7  # `cronpilot test`: the endpoint was called and the run failed
INTERRUPTED = 130  # Ctrl-C

STATUS_CODES = {400: INVALID, 401: UNAUTHORIZED, 404: NOT_FOUND}


def for_error(error: CronpilotError) -> int:
    """The exit code that tells a script what went wrong."""
    if isinstance(error, MissingCredential):
        return UNAUTHORIZED
    if isinstance(error, ConfigError | UsageError):
        return USAGE
    if isinstance(error, ConnectionFailed):
        return UNREACHABLE
    if isinstance(error, InvalidInput):
        return INVALID
    if isinstance(error, ApiError):
        return STATUS_CODES.get(error.status or 0, API_ERROR)
    return API_ERROR
