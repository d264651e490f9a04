"""HTML forms <-> the API's request schemas: the same validation, errors by form field.

Forms speak seconds where the API speaks milliseconds; everything else is the API's own
rule (domain/schemas.py), so a form can accept nothing the API would refuse."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs

from pydantic import BaseModel

from chalicelib.domain.entities import Endpoint, Job
from chalicelib.domain.errors import DomainError
from chalicelib.domain.schemas import MAX_INTERVAL_MS, MAX_TIMEOUT_MS, MIN_INTERVAL_MS, parse
from chalicelib.web.charts import human_ms

Form = dict[str, str]
M = TypeVar("M", bound=BaseModel)

# The API's field -> the form's input, for placing an error next to its field.
_FIELD_OF = {
    "baselineIntervalMs": "every",
    "baselineCron": "cron",
    "minIntervalMs": "min_s",
    "maxIntervalMs": "max_s",
    "timeoutMs": "timeout_s",
    "intervalMs": "every",
}
_SECONDS = {
    "every": (MIN_INTERVAL_MS, MAX_INTERVAL_MS),
    "min_s": (MIN_INTERVAL_MS, MAX_INTERVAL_MS),
    "max_s": (MIN_INTERVAL_MS, MAX_INTERVAL_MS),
    "timeout_s": (1_000, MAX_TIMEOUT_MS),
}


@dataclass
class FormErrors(Exception):
    """Field -> message; `general` for what names no field."""

    fields: dict[str, str] = field(default_factory=dict)
    general: str | None = None


def parse_form(raw: str | bytes | None) -> Form:
    """An urlencoded body as single values (the last one wins)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw or ""
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def errors_of(exc: DomainError, form_kind: str = "") -> FormErrors:
    """A service's refusal as errors by form field."""
    errors = FormErrors()
    details = exc.details if isinstance(exc.details, list) else []
    for detail in details:
        if not isinstance(detail, dict):
            continue
        api_field = str(detail.get("field", ""))
        name = _FIELD_OF.get(api_field, api_field)
        if api_field == "baselineCron" and form_kind == "interval":
            name = "every"
        errors.fields.setdefault(name, str(detail.get("message", "invalid value")))
    if not errors.fields:
        errors.general = exc.message
    return errors


def _seconds(form: Form, name: str, errors: FormErrors) -> int | None:
    text = form.get(name, "").strip()
    if not text:
        return None
    try:
        ms = round(float(text) * 1000)
    except ValueError:
        errors.fields[name] = "must be a number of seconds"
        return None
    low, high = _SECONDS[name]
    if not low <= ms <= high:
        errors.fields[name] = f"must be between {human_ms(low)} and {human_ms(high)}"
        return None
    return ms


def _text(form: Form, name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def job_body(form: Form) -> dict[str, Any]:
    """The JobCreate / JobUpdate body of a job form."""
    return {"name": form.get("name", "").strip(), "description": _text(form, "description")}


def checked(model: type[M], body: dict[str, Any], errors: FormErrors, kind: str = "") -> M:
    """`body` validated by the API's schema; the form's own errors and the schema's come back
    together (the form's first where both name a field)."""
    try:
        parsed = parse(model, body)
    except DomainError as exc:
        for name, message in errors_of(exc, kind).fields.items():
            errors.fields.setdefault(name, message)
        raise errors from None
    if errors.fields:
        raise errors
    return parsed


def endpoint_body(form: Form) -> tuple[dict[str, Any], FormErrors]:
    """The EndpointCreate body of an endpoint form (also sent whole as the update), with what
    the form itself found wrong (seconds that are not numbers or out of range)."""
    errors = FormErrors()
    body: dict[str, Any] = {
        "name": form.get("name", "").strip(),
        "url": form.get("url", "").strip(),
        "method": form.get("method", "GET"),
        "timezone": form.get("timezone", "").strip() or "UTC",
        "description": _text(form, "description"),
        "minIntervalMs": _seconds(form, "min_s", errors),
        "maxIntervalMs": _seconds(form, "max_s", errors),
        "timeoutMs": _seconds(form, "timeout_s", errors),
    }
    if form.get("schedule") == "cron":
        body["baselineCron"] = form.get("cron", "").strip()
        if not body["baselineCron"]:
            errors.fields["cron"] = "a cron expression is required, e.g. */5 * * * *"
    else:
        body["baselineIntervalMs"] = _seconds(form, "every", errors)
        if body["baselineIntervalMs"] is None:
            errors.fields.setdefault("every", "how often to run, in seconds, is required")
    return body, errors


def job_form(job: Job | None) -> Form:
    """A job as form values (blank for a new one)."""
    if job is None:
        return {"name": "", "description": ""}
    return {"name": job.name, "description": job.description or ""}


def _s(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 1000:g}"


def endpoint_form(endpoint: Endpoint | None) -> Form:
    """An endpoint as form values (defaults for a new one)."""
    if endpoint is None:
        return {"method": "GET", "schedule": "interval", "every": "60", "timezone": "UTC"}
    return {
        "name": endpoint.name,
        "description": endpoint.description or "",
        "url": endpoint.url,
        "method": endpoint.method,
        "schedule": "cron" if endpoint.baseline_cron else "interval",
        "cron": endpoint.baseline_cron or "",
        "every": _s(endpoint.baseline_interval_ms),
        "timezone": endpoint.timezone,
        "min_s": _s(endpoint.min_interval_ms),
        "max_s": _s(endpoint.max_interval_ms),
        "timeout_s": _s(endpoint.timeout_ms),
    }
