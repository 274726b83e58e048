"""Compile the report to the General Assembly for a cycle and render it (DOCX, Markdown, HTML).

Called by ``mailbot report`` and by the ``#report <session>`` mail command:
load the cycle's plain values through ``store.reporting`` in one read-only
session, build the structure with :func:`mailbot.domain.report.build_report`,
then render it.  Also imports the Secretariat's ratification table
(``mailbot ratifications import``) after validating it with
:mod:`mailbot.domain.ratifications`.

The renderers are ``service.report_docx`` (DOCX) and ``service.report_text``
(Markdown, HTML).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from mailbot.config import Settings
from mailbot.domain.ratifications import (
    InstrumentInfo,
    parse_instruments,
    parse_ratifications,
)
from mailbot.domain.report import (
    ParticipationFacts,
    Report,
    ReportFacts,
    build_report,
)
from mailbot.service.report_docx import render_docx
from mailbot.service.report_text import render_html, render_markdown
from mailbot.store import reporting
from mailbot.store.db import Session, sessionmaker

__all__ = [
    "FORMATS",
    "ImportResult",
    "ReportError",
    "build_report_docx",
    "compile_report",
    "gather_facts",
    "import_ratifications",
    "list_ratifications",
    "load_instruments_file",
    "render",
    "render_docx",
    "render_html",
    "render_markdown",
    "report_filename",
]

FORMATS = ("docx", "md", "html")

Sessions = sessionmaker[Session] | Session


class ReportError(Exception):
    """The report cannot be compiled as asked (unknown cycle, bad data file); says why."""


# --- Gathering ----------------------------------------------------------------------------------


@contextmanager
def _reading(sessions: Sessions) -> Iterator[Session]:
    if isinstance(sessions, Session):
        yield sessions
        return
    with sessions() as session:
        yield session


def load_instruments_file(settings: Settings) -> list[InstrumentInfo]:
    """The instruments of paragraph 8 from ``desk.instruments_file``, validated."""
    path = settings.path(settings.desk.instruments_file)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ReportError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ReportError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_instruments(data)
    except ValueError as exc:
        raise ReportError(f"{path}: {exc}") from None


def gather_facts(
    session: Session,
    settings: Settings,
    session_number: int,
    *,
    issued_on: date,
    since: date | None = None,
    symbol: str | None = None,
    agenda_item: str | None = None,
) -> ReportFacts:
    """Load everything the report of the cycle for ``session_number`` is built from."""
    cycle = reporting.find_cycle(session, session_number)
    if cycle is None:
        raise ReportError(f"no reporting cycle for session {session_number}")
    instruments = reporting.load_instruments(session)
    loaded = bool(instruments)
    if not loaded:
        instruments = load_instruments_file(settings)
    if since is None:
        previous = reporting.previous_cycle(session, session_number)
        since = previous.opened_at.date() if previous else None
    return ReportFacts(
        session=session_number,
        deadline=cycle.deadline,
        issued_on=issued_on,
        state_names=reporting.state_names(session),
        submissions=reporting.load_submissions(session, cycle.id),
        incidents=reporting.load_incidents(session, cycle.id),
        instruments=instruments,
        participations=reporting.load_participations(session) if loaded else [],
        circular_sent_on=(cycle.circular_sent_at or cycle.opened_at).date(),
        participants_since=since,
        count_confidential=settings.policy.count_confidential_in_report,
        symbol=symbol,
        agenda_item=agenda_item,
        ratifications_loaded=loaded,
    )


def _today() -> date:
    return datetime.now(UTC).date()


def compile_report(
    sessions: Sessions,
    settings: Settings,
    session_number: int,
    *,
    addendum: bool = False,
    issued_on: date | None = None,
    since: date | None = None,
    symbol: str | None = None,
    agenda_item: str | None = None,
) -> Report:
    """The report (or, with ``addendum``, its Add.1) for the cycle of ``session_number``."""
    with _reading(sessions) as session:
        facts = gather_facts(
            session, settings, session_number, issued_on=issued_on or _today(),
            since=since, symbol=symbol, agenda_item=agenda_item,
        )
    return build_report(facts, addendum=addendum)


def report_filename(report: Report, fmt: str) -> str:
    """A file name from the document symbol: ``A-83-report.docx``, ``A-83-report-Add.1.docx``."""
    parts = [p for p in report.title.symbol.split("/") if p and p != "\u2026"]
    base = "-".join(parts[:2]) if len(parts) >= 2 else "report"
    if not re.fullmatch(r"[A-Za-z0-9-]+", base):
        base = "report"
    if len(parts) > 2 and re.fullmatch(r"\d+", parts[2]):
        base += f"-{parts[2]}"
    else:
        base += "-report"
    if report.addendum:
        base += "-Add.1"
    return f"{base}.{fmt}"


def build_report_docx(
    sessions: Sessions,
    settings: Settings,
    session_number: int,
    addendum: bool = False,
    issued_on: date | None = None,
) -> tuple[str, bytes]:
    """The DOCX of the report (or its addendum) as (file name, bytes), for the mail command."""
    report = compile_report(
        sessions, settings, session_number, addendum=addendum, issued_on=issued_on
    )
    return report_filename(report, "docx"), render_docx(report)


def render(report: Report, fmt: str) -> bytes:
    """The report in ``fmt`` (one of :data:`FORMATS`) as bytes."""
    if fmt == "docx":
        return render_docx(report)
    if fmt == "md":
        return render_markdown(report).encode("utf-8")
    if fmt == "html":
        return render_html(report).encode("utf-8")
    raise ReportError(f"unknown format {fmt!r}, expected one of {', '.join(FORMATS)}")


# --- The ratification table ---------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """What ``mailbot ratifications import`` wrote."""

    instruments: int
    rows: int


def import_ratifications(
    sessions: sessionmaker[Session], settings: Settings, csv_path: Path
) -> ImportResult:
    """Validate the CSV file and replace the ratification table with it (all or nothing).

    The instruments are refreshed from ``desk.instruments_file`` first.  A file
    with any problem raises ReportError listing every problem with its line
    number, and changes nothing.
    """
    instruments = load_instruments_file(settings)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ReportError(f"cannot read {csv_path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ReportError(f"{csv_path}: not UTF-8 text") from None
    with sessions() as session, session.begin():
        known_states = reporting.state_codes(session)
        if not known_states:
            raise ReportError("no States in the database: load config/states.toml first")
        try:
            rows = parse_ratifications(text, known_states, {i.code for i in instruments})
        except ValueError as exc:
            raise ReportError(f"{csv_path}: {exc}") from None
        n_instruments = reporting.upsert_instruments(session, instruments)
        n_rows = reporting.replace_ratifications(session, rows)
    return ImportResult(n_instruments, n_rows)


def list_ratifications(
    sessions: Sessions, instrument: str | None = None, state: str | None = None
) -> list[ParticipationFacts]:
    """The ratification table as imported, optionally for one instrument or one State."""
    with _reading(sessions) as session:
        return reporting.load_participations(session, instrument, state)
