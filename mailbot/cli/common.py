"""What the command modules share: settings and the App from the arguments, tables, plurals.

Place in the flow: the command line's own helpers, imported by every module
of ``mailbot.cli``.  Nothing here imports the database or the mail stack at
module level, so that ``mailbot --help`` and the commands that need neither
start quickly; :func:`app_of` imports them when a command asks for the App.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mailbot.config import Settings, config_path, load_settings

if TYPE_CHECKING:
    from mailbot.service.app import App

T = TypeVar("T")

#: What a command prints when the database has never been upgraded.
NO_SCHEMA = "the database has no schema: run 'mailbot db upgrade'"


class UserError(Exception):
    """Something the user can fix (bad argument, unknown reference): one line, exit 2."""


def settings_of(args: argparse.Namespace, connect: bool = False) -> Settings:
    """The checked settings; ``connect``: the command talks to the mail servers and needs
    the mailbox login and the secrets (commands that only queue mail do not)."""
    return load_settings(config_path(explicit=args.config), secrets=connect)


def app_of(args: argparse.Namespace, connect: bool = False, schema: bool = True) -> App:
    """The App of the settings; with ``schema``, an SQLite database must already exist (it is
    never created as a side effect of looking at it)."""
    from mailbot.service.app import App

    settings = settings_of(args, connect)
    if schema:
        require_database(settings)
    return App(settings)


def require_database(settings: Settings) -> None:
    """Raise UserError(NO_SCHEMA) when the settings name an SQLite file that does not exist."""
    url = settings.database_url
    if url.startswith("sqlite") and "///" in url:
        path = url.split("///", 1)[1].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).exists():
            raise UserError(NO_SCHEMA)


def database_problem(exc: BaseException) -> str | None:
    """One line for a database error a user can act on, or None when ``exc`` is not one."""
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    text = str(getattr(exc, "orig", None) or exc).strip()
    if "no such table" in text or ("relation" in text and "does not exist" in text):
        return NO_SCHEMA
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"the database cannot be used: {first}"


class LazyChoices(Sequence[str]):
    """Argument choices read only when a command is parsed or its help printed, so that the
    modules they come from are not imported for every command."""

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._values: tuple[str, ...] | None = None

    def _all(self) -> tuple[str, ...]:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __contains__(self, value: object) -> bool:
        return value in self._all()


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 report``, ``2 reports``, ``0 reports`` (``many`` for an irregular plural)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def emit(data: Any, as_json: bool, columns: Sequence[str] = ()) -> None:
    """Print ``data`` as JSON, as a table (lists of dicts) or as key: value lines."""
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    elif isinstance(data, list):
        print_table(data, columns)
    else:
        print_record(data)


def print_table(rows: list[dict[str, Any]], columns: Sequence[str] = ()) -> None:
    """Rows as aligned columns (each at most 56 characters wide), or ``(none)``."""
    if not rows:
        print("(none)")
        return
    cols = list(columns) or list(rows[0])
    cells = [[cell(r.get(c)) for c in cols] for r in rows]
    widths = [min(max(len(c), *(len(r[i]) for r in cells)), 56) for i, c in enumerate(cols)]
    print("  ".join(c.upper().replace("_", " ").ljust(w)
                    for c, w in zip(cols, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def print_record(record: dict[str, Any]) -> None:
    """``key: value`` lines; a list of dicts as indented ``- k=v, ...`` lines."""
    for key, value in record.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{key}:")
            for item in value:
                print("  - " + ", ".join(f"{k}={cell(v)}" for k, v in item.items()))
        else:
            print(f"{key}: {cell(value)}")


def cell(value: Any) -> str:
    """One value as table text: ``-`` for nothing, lists comma-separated."""
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    return str(value)


def found(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, with a lookup that finds nothing reported as one line (exit 2)."""
    try:
        return fn(*args)
    except LookupError as exc:
        raise UserError(str(exc)) from None
