"""Domain errors; the API maps each to one status code and the one error envelope."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class: `code` and `status` drive the API error envelope."""

    code = "INTERNAL_ERROR"
    status = 500

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationFailed(DomainError):
    """Bad input; `details` lists `{field, message}` entries naming each offending field."""

    code = "VALIDATION_ERROR"
    status = 400

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        """One-field validation error."""
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class Unauthorized(DomainError):
    code = "UNAUTHORIZED"
    status = 401


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


class Conflict(DomainError):
    code = "CONFLICT"
    status = 409


class PayloadTooLarge(DomainError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, {"retryAfter": retry_after_s})
        self.retry_after_s = retry_after_s


class StorageBusy(DomainError):
    """Storage timed out or throttled after its retries: the client should retry shortly."""

    code = "SERVICE_UNAVAILABLE"
    status = 503

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            "Storage is overloaded; retry after the Retry-After seconds",
            {"retryAfter": retry_after_s},
        )
        self.retry_after_s = retry_after_s


class CronError(ValueError):
    """An expression the cron library cannot parse."""
