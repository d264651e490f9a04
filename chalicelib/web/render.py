"""Jinja2 templates (autoescaped) and the filters the pages share."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from chalicelib.web.charts import human_ms

TEMPLATES = Path(__file__).parent / "templates"


def when(value: datetime | None, countdown: bool = False) -> Markup:
    """A <time> the browser rewrites into its own zone (UTC stays in the title, and is the
    text until the script runs)."""
    if value is None:
        return Markup("—")
    iso = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    text = value.strftime("%Y-%m-%d %H:%M:%S UTC")
    extra = Markup(" data-countdown") if countdown else Markup("")
    return Markup('<time datetime="{}" title="{}"{}>{}</time>').format(iso, text, extra, text)


def duration(value: float | None) -> str:
    """Milliseconds for a person; a dash when unknown."""
    return "—" if value is None else human_ms(value)


def pretty(value: Any) -> str:
    """JSON indented for a <pre>, or the text itself."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@cache
def environment() -> Environment:
    """One environment per process: templates compile once."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["pretty"] = pretty
    env.globals["escape"] = escape
    return env


def page(name: str, context: dict[str, Any]) -> str:
    """A whole page."""
    return environment().get_template(name).render(context)


def block(name: str, block_name: str, context: dict[str, Any]) -> str:
    """One block of a page: what the live refresh swaps in."""
    template = environment().get_template(name)
    return "".join(template.blocks[block_name](template.new_context(context)))
