"""What every command needs: the parser class, shared options, and the run context (settings,
REST client, output streams, clock)."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

from cronpilot_client import render
from cronpilot_client.api import ApiClient
from cronpilot_client.config import ClientConfig, Overrides, resolve
from cronpilot_client.errors import UsageError
from cronpilot_client.units import DURATION_HELP, parse_duration_ms

Handler = Callable[["Context"], int]
# Endpoint ids are 21 URL-safe characters and may start with "-" (1 in 64 does).
DASHED_ID = re.compile(r"-[A-Za-z0-9_-]{15,}")


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of exiting, so main() owns every exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No abbreviations: `--api` must not silently mean `--api-key` or `--api-url`.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")

    def _parse_optional(self, arg_string: str) -> Any:
        # An id such as `-x3Rk...` is an argument, not an unknown option: without this, one
        # endpoint in 64 could not be named on the command line.
        if DASHED_ID.fullmatch(arg_string) and arg_string not in self._option_string_actions:
            return None
        return super()._parse_optional(arg_string)


def common_options() -> Parser:
    """Connection and output options, accepted before or after the command name."""
    parser = Parser(add_help=False)
    group = parser.add_argument_group("connection and output")
    # SUPPRESS: a leaf parser must not overwrite a value given before the command name.
    group.add_argument(
        "--api-url",
        default=argparse.SUPPRESS,
        help="API base URL (env CRONPILOT_URL; default http://127.0.0.1:8000/api)",
    )
    group.add_argument(
        "--api-key", default=argparse.SUPPRESS, help="API key (env CRONPILOT_API_KEY)"
    )
    group.add_argument(
        "--admin-token",
        default=argparse.SUPPRESS,
        help="admin token for `admin` commands (env CRONPILOT_ADMIN_TOKEN)",
    )
    group.add_argument(
        "--profile",
        default=argparse.SUPPRESS,
        help="profile in the config file (env CRONPILOT_PROFILE; default [default])",
    )
    group.add_argument(
        "--timeout",
        type=positive_float,
        default=argparse.SUPPRESS,
        metavar="SECONDS",
        help="HTTP timeout (default 30)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the API's JSON instead of a table",
    )
    return parser


def positive_float(text: str) -> float:
    """argparse type: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than zero")
    return value


def duration_ms(text: str) -> int:
    """argparse type: a duration with a unit, in milliseconds."""
    try:
        return parse_duration_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def json_value(text: str) -> Any:
    """argparse type: any JSON value."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None


def header_pair(text: str) -> tuple[str, str]:
    """argparse type: `Name: value` (or `Name=value`)."""
    for separator in (":", "="):
        name, found, value = text.partition(separator)
        if found and name.strip():
            return name.strip(), value.strip()
    raise argparse.ArgumentTypeError(f"{text!r} is not 'Name: value'")


DURATION_METAVAR = "DURATION"
DURATION_NOTE = f"({DURATION_HELP})"


@dataclass
class Context:
    """One command's run: parsed arguments, environment, streams and the REST client."""

    args: argparse.Namespace
    env: Mapping[str, str]
    cwd: Path
    out: TextIO
    err: TextIO
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _api: ApiClient | None = None

    @property
    def as_json(self) -> bool:
        """Whether --json was given."""
        return bool(getattr(self.args, "json", False))

    def config(self) -> ClientConfig:
        """Settings from flags, environment, profile and the local stack's files."""
        overrides = Overrides(
            url=getattr(self.args, "api_url", None),
            api_key=getattr(self.args, "api_key", None),
            admin_token=getattr(self.args, "admin_token", None),
            profile=getattr(self.args, "profile", None),
            timeout_s=getattr(self.args, "timeout", None),
        )
        return resolve(overrides, self.env, self.cwd)

    @property
    def api(self) -> ApiClient:
        """The REST client, created on first use."""
        if self._api is None:
            self._api = ApiClient(self.config())
        return self._api

    def close(self) -> None:
        """Release the REST client's connections."""
        if self._api is not None:
            self._api.close()

    def print(self, text: str = "") -> None:
        """A line on stdout."""
        print(text, file=self.out, flush=True)

    def note(self, text: str) -> None:
        """A line on stderr (progress, hints); never mixed into --json output."""
        print(text, file=self.err, flush=True)

    def show_item(self, item: Any) -> None:
        """One object: all its fields, or its JSON."""
        if self.as_json:
            self.print(render.to_json(item))
        else:
            self.print(render.details(render.readable(item or {})))

    def show_list(self, items: Sequence[Any], columns: Sequence[render.Column], raw: Any) -> None:
        """A list: a table, or the API's whole JSON answer (with paging fields)."""
        self.print(render.to_json(raw) if self.as_json else render.table(items, columns))

    def done(self, message: str, **facts: Any) -> None:
        """An action the API answers with 204: a sentence, or `{"ok": true, ...}`."""
        self.print(render.to_json({"ok": True, **facts}) if self.as_json else message)


def add_group(subparsers: Any, name: str, help_text: str) -> Any:
    """A command group (`jobs`, `endpoints`, ...) with its own verbs."""
    group = subparsers.add_parser(name, help=help_text, description=help_text)
    verbs = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    return verbs


def add_command(
    subparsers: Any, name: str, help_text: str, handler: Handler, common: Parser
) -> Parser:
    """A leaf command bound to `handler`, with the shared options."""
    parser: Parser = subparsers.add_parser(
        name, help=help_text, description=help_text, parents=[common]
    )
    parser.set_defaults(handler=handler)
    return parser


def require_one(ctx: Context, options: Mapping[str, str]) -> str:
    """Exactly one of `options` (dest -> flag as typed) must be set; its dest is returned."""
    chosen = [dest for dest in options if getattr(ctx.args, dest, None) not in (None, False)]
    if len(chosen) != 1:
        raise UsageError(f"give exactly one of {', '.join(options.values())}")
    return chosen[0]


def given(**fields: Any) -> dict[str, Any]:
    """The fields that were set (None means the option was not given)."""
    return {name: value for name, value in fields.items() if value is not None}
