"""Where the dashboard lives and the headers its pages carry (read by the API middleware)."""

from __future__ import annotations

# Routes are declared under /ui; the browser sees them under the API Gateway stage, /api.
PREFIX = "/ui"
ROOT = "/api" + PREFIX
# Scripts and styles from the app's own static files only: no inline script, no CDN.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def is_web_path(route: str) -> bool:
    """True for the dashboard's routes (signed in by cookie, not by x-api-key)."""
    return route == "/" or route == PREFIX or route.startswith(PREFIX + "/")
