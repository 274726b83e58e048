"""The command line: parse arguments, call a service function, print.  Nothing else.

Each command group lives in its own module with a ``register(subparsers)``
function; handlers receive the parsed arguments and return an exit code.
Errors a user can act on (bad settings, an unknown reference, a database
without its schema) print one line each on stderr and exit 2; a listing cut
short by its reader (``| head``) ends with one line and exit 1; nothing prints
a traceback for them.  Command modules import what their commands use inside
the commands, so that ``mailbot --help`` imports neither the database nor the
mail stack.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from mailbot import __version__
from mailbot.cli.common import UserError, database_problem
from mailbot.config import ConfigError

#: Command modules, in the order their commands appear in ``--help``.
MODULES = (
    "mailbot.cli.core",
    "mailbot.cli.inspect",
    "mailbot.cli.forms",
    "mailbot.cli.time",
    "mailbot.cli.report",
)


__all__ = ["MODULES", "UserError", "build_parser", "main"]


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
        code = int(handler(args))
        sys.stdout.flush()
    except (ConfigError, UserError) as exc:
        for line in str(exc).splitlines():
            print(f"mailbot: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``mailbot messages list | head``): no more output, one line
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("mailbot: the output was closed before the end", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        problem = database_problem(exc)
        if problem is None:
            raise
        print(f"mailbot: {problem}", file=sys.stderr)
        return 2
    return code
