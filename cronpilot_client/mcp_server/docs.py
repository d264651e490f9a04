"""The project's own documentation (README.md and docs/*.md) as MCP resources, read once at
start from the checkout the package runs from (`make` installs it in editable mode)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

URI_PREFIX = "file:///docs/"
DESCRIPTION_LIMIT = 300
# The checkout: cronpilot_client/mcp_server/docs.py -> repository root.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DocPage:
    """One Markdown page and how it is listed."""

    uri: str
    name: str
    title: str
    description: str
    text: str


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _description(text: str) -> str:
    # The first paragraph after the title: what the page is about, in the page's own words.
    paragraph: list[str] = []
    seen_title = False
    for line in text.splitlines():
        stripped = line.strip()
        if not seen_title:
            seen_title = stripped.startswith("# ")
            continue
        if not stripped:
            if paragraph:
                break
            continue
        if stripped.startswith(("#", "```", "|", "-", ">")):
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    summary = " ".join(paragraph)
    if len(summary) > DESCRIPTION_LIMIT:
        summary = summary[: DESCRIPTION_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    return summary


def page(path: Path, relative: str) -> DocPage:
    """Read one page; the URI is `file:///docs/<relative>`."""
    text = path.read_text(encoding="utf-8").strip()
    return DocPage(
        uri=URI_PREFIX + relative,
        name=relative,
        title=_title(text, path.stem),
        description=_description(text),
        text=text,
    )


def load_docs(root: Path = PROJECT_ROOT) -> list[DocPage]:
    """README.md and every docs/*.md under `root`, README first; [] outside a checkout."""
    pages = []
    readme = root / "README.md"
    if readme.is_file():
        pages.append(page(readme, "README.md"))
    docs = root / "docs"
    if docs.is_dir():
        pages.extend(page(path, path.name) for path in sorted(docs.glob("*.md")))
    return pages
