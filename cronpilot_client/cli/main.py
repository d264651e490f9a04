"""`cronpilot`: parse the command line, run one command, turn every failure into a message on
stderr and a documented exit code (cronpilot_client/exitcodes.py, docs/cli.md)."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from cronpilot_client import __version__, exitcodes
from cronpilot_client.cli import (
    accounts,
    alerts,
    controls,
    endpoints,
    jobs,
    reflexes,
    runs,
    system,
)
from cronpilot_client.cli.common import Context, Handler, Parser, common_options
from cronpilot_client.errors import ApiError, CronpilotError, UsageError

# Group -> (verb used when none is given, the group's verbs): `cronpilot runs EP --follow`
# reads as `cronpilot runs list EP --follow`.
DEFAULT_VERBS: dict[str, tuple[str, frozenset[str]]] = {
    "jobs": ("list", jobs.VERBS),
    "endpoints": ("list", endpoints.VERBS),
    "runs": ("list", runs.RUN_VERBS),
    "sessions": ("list", runs.SESSION_VERBS),
    "reflexes": ("list", reflexes.VERBS),
    "keys": ("list", accounts.KEY_VERBS),
    "signing-key": ("show", accounts.SIGNING_VERBS),
    "channels": ("list", alerts.CHANNEL_VERBS),
    "incidents": ("list", alerts.INCIDENT_VERBS),
    "alert-policy": ("show", alerts.POLICY_VERBS),
}
VALUE_OPTIONS = frozenset({"--api-url", "--api-key", "--admin-token", "--profile", "--timeout"})
HELP_FLAGS = frozenset({"-h", "--help"})


def build_parser() -> Parser:
    """The whole command tree."""
    common = common_options()
    parser = Parser(
        prog="cronpilot",
        parents=[common],
        description="Command-line client of the Cronpilot API (tables by default, --json for "
        "scripts). Settings: flags, then CRONPILOT_URL / CRONPILOT_API_KEY, then a profile "
        "file. Exit codes: 0 ok, 1 API error, 2 usage, 3 unreachable, 4 unauthorized, "
        "5 not found, 6 invalid input, 7 test run failed, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"cronpilot {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (jobs, endpoints, runs, controls, reflexes, accounts, system, alerts):
        module.register(commands, common)
    return parser


def _positionals(argv: Sequence[str]) -> list[int]:
    """Indexes of positional arguments, skipping options and the global options' values."""
    found, skip = [], False
    for index, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg == "--":
            break
        elif arg.startswith("-"):
            skip = arg in VALUE_OPTIONS
        else:
            found.append(index)
    return found


def with_default_verb(argv: Sequence[str]) -> list[str]:
    """Insert a group's default verb when the command line gives none."""
    args = list(argv)
    positions = _positionals(args)
    if not positions or args[positions[0]] not in DEFAULT_VERBS:
        return args
    command = positions[0]
    default, known = DEFAULT_VERBS[args[command]]
    if len(positions) > 1 and args[positions[1]] in known:
        return args
    if len(positions) == 1 and HELP_FLAGS.intersection(args[command + 1 :]):
        return args  # `cronpilot runs --help` shows the group's help
    return [*args[: command + 1], default, *args[command + 1 :]]


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run one command; return its exit code (never raises for expected failures)."""
    out = out or sys.stdout
    err = err or sys.stderr
    tokens = with_default_verb(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        with contextlib.redirect_stdout(out):
            args = parser.parse_args(tokens)
    except UsageError as exc:
        print(f"cronpilot: {exc.message}", file=err)
        return exitcodes.USAGE
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else exitcodes.OK
    ctx = Context(
        args=args,
        env=os.environ if env is None else env,
        cwd=Path.cwd() if cwd is None else cwd,
        out=out,
        err=err,
    )
    handler: Handler = args.handler
    try:
        return handler(ctx)
    except UsageError as exc:
        print(f"cronpilot: {exc.message}", file=err)
        return exitcodes.USAGE
    except CronpilotError as exc:
        print(f"cronpilot: {exc.describe()}", file=err)
        hint = _hint(exc)
        if hint:
            print(hint, file=err)
        return exitcodes.for_error(exc)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    finally:
        ctx.close()


def _hint(error: CronpilotError) -> str:
    if isinstance(error, ApiError) and error.status == 401:
        return "Check the API key (--api-key, CRONPILOT_API_KEY or your profile)."
    if isinstance(error, ApiError) and error.status == 429 and error.retry_after:
        return f"Rate limited: retry after {error.retry_after} s."
    return ""
