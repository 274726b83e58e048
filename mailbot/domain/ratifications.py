"""The instruments of paragraph 8 and the Secretariat's ratification table, validated.

Paragraph 13 (a) of resolution 61/31 asks the report to the General Assembly
for the state of ratification of, and accessions to, the instruments of
paragraph 8.  The Secretariat keeps that table as a CSV file
(``config/ratifications.csv``) copied from the United Nations Treaty
Collection, and the instruments themselves in ``config/instruments.toml``.
``mailbot ratifications import`` reads both files, checks them here, and
only then replaces the ``ratifications`` table; the report reads the table.

This module is pure: it takes the text or the parsed TOML and returns plain
values, or raises an error that lists every problem with its line number so
that the whole file can be corrected in one pass.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

__all__ = [
    "CONSENT_KINDS",
    "HEADER",
    "InstrumentInfo",
    "InstrumentsError",
    "RatificationRow",
    "RatificationsError",
    "parse_instruments",
    "parse_ratifications",
]

#: The columns of the ratification table, in order.
HEADER: tuple[str, ...] = ("state", "instrument", "signature", "consent", "kind")

#: How a State expressed its consent to be bound, as the Treaty Collection records it.
CONSENT_KINDS: tuple[str, ...] = ("ratification", "accession", "succession")

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CODE = re.compile(r"^[A-Z][A-Z0-9-]{1,19}$")


class _ProblemsError(ValueError):
    """A data file is invalid; ``problems`` lists every problem found."""

    what = "data"

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        count = len(self.problems)
        super().__init__(f"{self.what}: {count} problem{'s' if count != 1 else ''}:\n{lines}")


class RatificationsError(_ProblemsError):
    """The ratification table is invalid; each problem starts with ``line N:``."""

    what = "ratification table"


class InstrumentsError(_ProblemsError):
    """The instruments file is invalid; each problem names the entry (``instrument #N``)."""

    what = "instruments"


@dataclass(frozen=True)
class InstrumentInfo:
    """One instrument of paragraph 8."""

    code: str
    title: str
    place: str
    adopted_on: date
    position: int
    treaty_collection: str | None = None

    @property
    def citation(self) -> str:
        """Title, place and date as the report cites it."""
        return f"{self.title}, {self.place}, {self.adopted_on.day} {self.adopted_on:%B %Y}"


@dataclass(frozen=True)
class RatificationRow:
    """One State's participation in one instrument (a row of the ratification table)."""

    line: int
    state: str
    instrument: str
    signature: date | None
    consent: date | None
    kind: str | None


_INSTRUMENT_KEYS = frozenset({"code", "title", "place", "adopted_on", "treaty_collection"})


def _code_problem(code: Any, seen: Mapping[str, int]) -> str | None:
    if not isinstance(code, str) or not _CODE.match(code):
        return f"code {code!r} must be capital letters, digits and dashes"
    if code in seen:
        return f"code {code!r} already used by instrument #{seen[code]}"
    return None


def _instrument_problems(entry: Mapping[str, Any], seen: Mapping[str, int]) -> list[str]:
    """What is wrong with one ``[[instrument]]`` table (an unknown key alone does not drop it)."""
    problems = [p for p in (_code_problem(entry.get("code"), seen),) if p]
    problems += [f"{key} must be a non-empty string" for key in ("title", "place")
                 if not isinstance(entry.get(key), str) or not str(entry.get(key)).strip()]
    if not isinstance(entry.get("adopted_on"), date):
        problems.append("adopted_on must be a date (YYYY-MM-DD, unquoted)")
    chapter = entry.get("treaty_collection")
    if chapter is not None and not isinstance(chapter, str):
        problems.append("treaty_collection must be a string")
    return problems


def _instrument(entry: Any, index: int, seen: dict[str, int], problems: list[str]) -> InstrumentInfo | None:
    where = f"instrument #{index}"
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: expected a table")
        return None
    extra = sorted(set(entry) - _INSTRUMENT_KEYS)
    if extra:
        problems.append(f"{where}: unknown key(s) {', '.join(extra)}")
    found = _instrument_problems(entry, seen)
    if isinstance(entry.get("code"), str) and entry["code"] not in seen:
        seen[entry["code"]] = index
    if found:
        problems.extend(f"{where}: {p}" for p in found)
        return None
    return InstrumentInfo(
        code=str(entry["code"]),
        title=str(entry["title"]).strip(),
        place=str(entry["place"]).strip(),
        adopted_on=entry["adopted_on"],
        position=index,
        treaty_collection=entry.get("treaty_collection"),
    )


def parse_instruments(data: Mapping[str, Any]) -> list[InstrumentInfo]:
    """Validate parsed ``instruments.toml`` data; raise InstrumentsError listing every problem."""
    problems: list[str] = []
    entries = data.get("instrument")
    unknown = sorted(set(data) - {"instrument"})
    if unknown:
        problems.append(f"unknown top-level key(s) {', '.join(unknown)}; expected [[instrument]]")
    if not isinstance(entries, list) or not entries:
        raise InstrumentsError([*problems, "expected a non-empty array of [[instrument]] tables"])
    seen: dict[str, int] = {}
    found = [_instrument(entry, index, seen, problems) for index, entry in enumerate(entries, start=1)]
    if problems:
        raise InstrumentsError(problems)
    return [i for i in found if i is not None]


def _date(value: str, column: str, line: int, problems: list[str]) -> date | None:
    if not value:
        return None
    if not _ISO_DATE.match(value):
        problems.append(f"line {line}: {column} {value!r} is not a date written YYYY-MM-DD")
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"line {line}: {column} {value!r} is not a real date")
        return None


def _consent_problems(kind: str | None, kind_text: str, signature_text: str, consent_text: str,
                      signature: date | None, consent: date | None) -> list[str]:
    """How the signature, consent and kind of one row disagree with each other."""
    problems = []
    if kind is not None and kind not in CONSENT_KINDS:
        problems.append(f"kind {kind_text!r} is not one of {', '.join(CONSENT_KINDS)}")
    if kind is not None and not consent_text:
        problems.append(f"kind {kind_text!r} given without a consent date")
    if kind is None and consent_text:
        problems.append(f"consent date given without a kind ({', '.join(CONSENT_KINDS)})")
    if not signature_text and not consent_text:
        problems.append("neither a signature nor a consent date")
    if signature and consent and consent < signature:
        problems.append(f"consent {consent.isoformat()} is before signature {signature.isoformat()}")
    return problems


def _parse_row(
    line: int,
    cells: list[str],
    known_states: Collection[str],
    known_instruments: Collection[str],
    problems: list[str],
) -> RatificationRow | None:
    if len(cells) != len(HEADER):
        problems.append(f"line {line}: expected {len(HEADER)} columns, found {len(cells)}")
        return None
    state, instrument, signature_text, consent_text, kind_text = (c.strip() for c in cells)
    before = len(problems)
    state = state.upper()
    if state not in known_states:
        problems.append(f"line {line}: unknown State {state!r}")
    if instrument not in known_instruments:
        problems.append(f"line {line}: unknown instrument {instrument!r}")
    signature = _date(signature_text, "signature", line, problems)
    consent = _date(consent_text, "consent", line, problems)
    kind = kind_text.lower() or None
    problems.extend(f"line {line}: {p}" for p in _consent_problems(
        kind, kind_text, signature_text, consent_text, signature, consent))
    if len(problems) > before:
        return None
    return RatificationRow(line, state, instrument, signature, consent, kind)


def parse_ratifications(
    text: str,
    known_states: Collection[str],
    known_instruments: Collection[str],
) -> list[RatificationRow]:
    """Parse the ratification table; raise RatificationsError listing every problem.

    Lines whose first non-blank character is ``#``, and blank lines, are
    skipped; the first other line must be the header
    ``state,instrument,signature,consent,kind``.  Line numbers in problems
    are the file's own (the first line is line 1).
    """
    problems: list[str] = []
    rows: list[RatificationRow] = []
    first_line: dict[tuple[str, str], int] = {}
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip().lstrip("\ufeff")
        if not stripped or stripped.startswith("#"):
            continue
        cells = next(csv.reader([stripped]))
        if not header_seen:
            header_seen = True
            found = tuple(c.strip().lower() for c in cells)
            if found != HEADER:
                problems.append(
                    f"line {number}: header must be {','.join(HEADER)}, found {stripped!r}"
                )
                break
            continue
        row = _parse_row(number, cells, known_states, known_instruments, problems)
        if len(cells) == len(HEADER):
            pair = (cells[0].strip().upper(), cells[1].strip())
            if pair in first_line:
                problems.append(
                    f"line {number}: duplicate of line {first_line[pair]} "
                    f"({pair[0]}, {pair[1]})"
                )
                continue
            first_line[pair] = number
        if row is not None:
            rows.append(row)
    if not header_seen:
        problems.append(f"line 1: missing header {','.join(HEADER)}")
    if problems:
        raise RatificationsError(problems)
    return rows
