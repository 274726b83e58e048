"""The command line: parse arguments, call a service function, print.  Nothing else.

Each command group lives in its own module with a ``register(subparsers)``
function; handlers receive the parsed arguments and return an exit code.
Errors a user can act on (a bad setting, an unknown reference) print one
line on stderr and exit 2; nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from mailbot import __version__
from mailbot.config import ConfigError

#: Command modules, in the order their commands appear in ``--help``.
MODULES = (
    "mailbot.cli.core",
    "mailbot.cli.inspect",
    "mailbot.cli.forms",
    "mailbot.cli.time",
    "mailbot.cli.report",
)


class UserError(Exception):
    """Something the user can fix (bad argument, unknown reference): one line, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailbot",
        description="The e-mail reporting desk for General Assembly resolution 61/31.",
    )
    parser.add_argument("--version", action="version", version=f"mailbot {__version__}")
    parser.add_argument("--config", help="configuration file (default: $MAILBOT_CONFIG or "
                        "config/mailbot.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in MODULES:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args))
    except (ConfigError, UserError) as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
