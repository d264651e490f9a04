"""Every failure the client reports: a code, a message and optional details, like the API's
error envelope, so the CLI and the MCP server can word them the same way."""

from __future__ import annotations

from typing import Any


class CronpilotError(Exception):
    """Base class. `status` is the HTTP status when the API answered, else None."""

    code = "ERROR"

    def __init__(self, message: str, details: Any = None, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.status = status

    def describe(self) -> str:
        """One line or a few: the code, the message and each field the details name."""
        head = f"{self.code} ({self.status}): " if self.status is not None else f"{self.code}: "
        lines = [head + self.message]
        # The API's message already lists the fields when there are few; add the rest.
        lines.extend(
            f"  - {item}" for item in field_lines(self.details) if item not in self.message
        )
        return "\n".join(lines)


class ApiError(CronpilotError):
    """The API answered with an error envelope (or a non-2xx status without one)."""

    def __init__(
        self, status: int, code: str, message: str, details: Any = None, retry_after: str = ""
    ) -> None:
        super().__init__(message, details, status=status)
        self.code = code
        self.retry_after = retry_after


class InvalidInput(CronpilotError):
    """Input rejected before anything was sent, by the same models the API validates with."""

    code = "VALIDATION_ERROR"


class ConnectionFailed(CronpilotError):
    """The API could not be reached: refused, timed out, DNS, TLS."""

    code = "CONNECTION_FAILED"


class ConfigError(CronpilotError):
    """The URL, a profile or another setting is missing or malformed."""

    code = "CONFIG_ERROR"


class MissingCredential(ConfigError):
    """No API key (or admin token) was configured for a call that needs one."""

    code = "MISSING_CREDENTIAL"


def field_lines(details: Any) -> list[str]:
    """`field: message` for each entry of a VALIDATION_ERROR's details; nothing otherwise."""
    if not isinstance(details, list):
        return []
    lines = []
    for item in details:
        if isinstance(item, dict) and "field" in item and "message" in item:
            lines.append(f"{item['field']}: {item['message']}")
    return lines


class UsageError(CronpilotError):
    """The command line asks for something impossible (missing option, conflicting flags)."""

    code = "USAGE"
