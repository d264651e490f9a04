"""Structured logs, metrics and traces for every handler (aws-lambda-powertools).

Every `cronpilot.*` logger propagates to one powertools Logger named `cronpilot`, so module
loggers emit JSON lines carrying the correlation ids a handler sets (request, run, endpoint,
job, session ids). Logs go to stderr: Lambda ships both streams, and locally stdout stays free
for the stack's banner. Metrics are CloudWatch EMF lines flushed at the end of each
invocation (`POWERTOOLS_METRICS_DISABLED=true` silences them locally). The tracer is a no-op
outside Lambda. Nothing secret is passed in: keys, signing keys and request headers stay out.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "cronpilot"
NAMESPACE = "Cronpilot"


class _Stderr:
    """Whatever sys.stderr is at write time (a test runner may swap it after import)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


logger = Logger(service=SERVICE, stream=_Stderr())  # type: ignore[arg-type]
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)
_metrics_lock = threading.Lock()
# httpx logs every request URL at INFO, and an endpoint's URL may carry a token in its query.
logging.getLogger("httpx").setLevel(logging.WARNING)

Unit = MetricUnit


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    """Add a data point; safe from the executor's worker threads. Nothing is kept when
    metrics are off: powertools prints a full set by itself, switched off or not."""
    if os.environ.get("POWERTOOLS_METRICS_DISABLED", "").strip().lower() == "true":
        return
    with _metrics_lock:
        metrics.add_metric(name=name, unit=unit, value=value)


def flush() -> None:
    """Emit the invocation's metrics (an invocation without any emits nothing)."""
    with _metrics_lock:
        if metrics.metric_set:
            metrics.flush_metrics()
        # With POWERTOOLS_METRICS_DISABLED, flushing neither prints nor clears, and powertools
        # would print the pile on its own every 100 points.
        metrics.clear_metrics()


@contextmanager
def correlated(**keys: Any) -> Iterator[None]:
    """Add correlation ids to every log line of this thread while the block runs."""
    present = {k: v for k, v in keys.items() if v is not None}
    logger.thread_safe_append_keys(**present)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(list(present))


def request_id(context: Any) -> str | None:
    """The Lambda request id of an invocation (None locally without a context)."""
    return getattr(context, "aws_request_id", None)


@contextmanager
def invocation(kind: str, **keys: Any) -> Iterator[None]:
    """Wrap one handler invocation: its keys on this thread's logs, a trace segment, and its
    metrics flushed at the end whatever happens."""
    with correlated(handler=kind, **keys):
        try:
            with tracer.provider.in_subsegment(f"## {kind}"):
                yield
        finally:
            flush()
