"""`python -m chalicelib.local` (what `make run` runs): the local stack in the foreground."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from chalicelib.local.options import LocalOptions
from chalicelib.local.stack import run


def main() -> int:
    """Parse the environment, run the stack until a stop signal, return the exit code."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    for noisy in ("botocore", "boto3", "urllib3", "pynamodb", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The handlers' JSON lines reach stderr through the powertools logger, so they must not
    # propagate to the root handler as well; with that settled, powertools' own guard against
    # duplicates (a root-handler filter that drops every logger whose name merely contains
    # "cronpilot", the stack's own "cronpilot-local" included) must stay off. CloudWatch
    # metric lines (EMF) would only clutter the terminal.
    os.environ.setdefault("POWERTOOLS_LOG_DEDUPLICATION_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from chalicelib import observability

    logging.getLogger(observability.SERVICE).propagate = False
    try:
        options = LocalOptions.from_env(os.environ, Path.cwd())
    except ValueError as exc:
        print(f"cronpilot local: {exc}", file=sys.stderr)
        return 2
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
