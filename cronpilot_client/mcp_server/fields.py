"""What each input field means, in words a model can act on: units, formats, examples and
how fields combine. Keyed by wire name; a tool can override an entry (catalog.py)."""

from __future__ import annotations

ISO_EXAMPLE = "ISO-8601 UTC instant, e.g. 2026-01-01T08:00:00Z"

FIELD_NOTES: dict[str, str] = {
    # Endpoints
    "url": "Absolute http or https URL Cronpilot calls, e.g. https://api.example.com/health.",
    "method": "HTTP method of the call. Default GET.",
    "headersJson": (
        'Extra request headers: an object of header name to string value, e.g. {"Authorization": '
        '"Bearer abc"}. At most 50 headers. Secret values (Authorization, Cookie, '
        "Proxy-Authorization, names containing key/token/secret/auth, and secretHeaders) are "
        "stored encrypted and always shown as '********'; to keep a stored secret when "
        "changing headers, send '********' back as its value."
    ),
    "secretHeaders": (
        "Header names to treat as secret in addition to those secret by name, e.g. "
        '["X-Vendor-Signature"]. Their values are stored encrypted and shown masked.'
    ),
    "bodyJson": "JSON request body (any JSON value), usually with POST, PUT or PATCH.",
    "baselineCron": (
        "Baseline schedule as a standard 5-field cron expression (minute hour day-of-month month "
        "day-of-week) evaluated in `timezone`, e.g. '0 2 * * *' for 02:00 daily, or a macro such "
        "as @hourly or @daily. Give exactly one of baselineCron and baselineIntervalMs."
    ),
    "baselineIntervalMs": (
        "Baseline interval between runs in MILLISECONDS, e.g. 60000 = every minute, 3600000 = "
        "hourly. At least 1000. Give exactly one of baselineIntervalMs and baselineCron."
    ),
    "timezone": "IANA time zone for baselineCron, e.g. Europe/Paris. Default UTC.",
    "minIntervalMs": (
        "Safety floor in MILLISECONDS: no hint or planner decision can run the endpoint more "
        "often than this, e.g. 10000 = at most every 10 s. Recommended. Must be <= maxIntervalMs."
    ),
    "maxIntervalMs": (
        "Safety ceiling in MILLISECONDS: runs are never further apart than this, e.g. 300000 = at "
        "least every 5 minutes. Recommended."
    ),
    "timeoutMs": "Timeout of each HTTP call in MILLISECONDS (1000-840000), e.g. 10000 = 10 s.",
    "maxExecutionTimeMs": (
        "Longest one run may take in MILLISECONDS (1000-840000); a run still going after it is "
        "marked failed."
    ),
    "maxResponseSizeKb": (
        "Largest response body stored per run, in KILOBYTES (1-10000); longer bodies are cut and "
        "marked truncated."
    ),
    # Hints, pause
    "intervalMs": (
        "Interval in MILLISECONDS to run at while the hint lasts, e.g. 10000 = every 10 s. The "
        "endpoint's minIntervalMs and maxIntervalMs still apply."
    ),
    "ttlMinutes": "How long the hint lasts, in MINUTES (1-10080). Default 60.",
    "reason": "Why, in a short sentence; stored with the change for later audit.",
    "nextRunAt": (
        f"When to run once: {ISO_EXAMPLE}. Up to 60 s in the past means now. Give this or "
        "nextRunInMs."
    ),
    "nextRunInMs": (
        "Run once this many MILLISECONDS from now; 0 = right away. Give this or nextRunAt."
    ),
    "pausedUntil": (
        f"Pause until this {ISO_EXAMPLE}; null resumes now (a run missed while paused happens "
        "at once). Required: pass null explicitly to resume."
    ),
    # Queries
    "limit": "Page size. Results are newest first.",
    "offset": "How many results to skip, for paging (0 = newest).",
    "sinceHours": "Look back this many HOURS from now (1-8784). Default 24.",
    "startDate": (
        "Window start: ISO-8601 date (2026-01-01) or UTC date-time (2026-01-01T00:00:00Z)."
    ),
    "endDate": (
        "Window end: ISO-8601 date or UTC date-time. A window longer than 366 days is "
        "shortened to the 366 days ending here; one ending before startDate is read in order."
    ),
    "source": (
        "Only runs scheduled by this source: baseline-interval, baseline-cron, ai-interval, "
        "ai-oneshot, clamped-min, clamped-max, paused or test."
    ),
    "endpointLimit": (
        "How many endpoints the per-endpoint time series includes (1-100). Default 20."
    ),
    "eventType": "runs, sessions or all (default).",
    # API keys
    "expiresInDays": "Lifetime of the key in DAYS (1-3650). Omit for a key that never expires.",
}
