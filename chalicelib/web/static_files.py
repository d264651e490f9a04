"""The dashboard's own scripts and styles, shipped inside chalicelib (no CDN, no build)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from chalice.app import Response

STATIC = Path(__file__).parent / "static"
TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@cache
def _read(name: str) -> str | None:
    path = STATIC / name
    if path.suffix not in TYPES or path.parent != STATIC or not path.is_file():
        return None
    return path.read_text()


def static_response(name: str) -> Response:
    """The file, cached by the browser for an hour; 404 for anything not shipped."""
    body = _read(name) if "/" not in name and not name.startswith(".") else None
    if body is None:
        return Response(body="Not found", status_code=404, headers={"Content-Type": "text/plain"})
    headers: dict[str, str | list[str]] = {
        "Content-Type": TYPES[Path(name).suffix],
        "Cache-Control": "public, max-age=3600",
    }
    return Response(body=body, status_code=200, headers=headers)
