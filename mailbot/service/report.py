"""Compile the report to the General Assembly for a cycle and render it (DOCX, Markdown, HTML).

Called by ``mailbot report`` and by the ``#report <session>`` mail command:
load the cycle's plain values through ``store.reporting`` in one read-only
session, build the structure with :func:`mailbot.domain.report.build_report`,
then render it.  Also imports the Secretariat's ratification table
(``mailbot ratifications import``) after validating it with
:mod:`mailbot.domain.ratifications`.

Every text that came from a State is data: the HTML renderer escapes it,
the Markdown renderer backslash-escapes its punctuation, and the DOCX
renderer writes it as plain runs with characters XML cannot hold removed.
"""

from __future__ import annotations

import html
import io
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Length, Pt
from docx.table import Table as DocxTable
from docx.text.paragraph import Paragraph as DocxParagraph

from mailbot.config import Settings
from mailbot.domain.ratifications import (
    InstrumentInfo,
    parse_instruments,
    parse_ratifications,
)
from mailbot.domain.report import (
    Heading,
    Paragraph,
    ParticipationFacts,
    Quote,
    Report,
    ReportFacts,
    Table,
    build_report,
    format_long_date,
)
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
MEDIA_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}

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


# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&])")
_MD_LINE_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+=>])")
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _md(text: str) -> str:
    """Backslash-escape Markdown syntax so that State text renders as written.

    Inline markup characters are escaped everywhere; what would start a list,
    a heading or a quote is escaped at the start of the text.
    """
    text = _MD_SPECIAL.sub(r"\\\1", _XML_BAD.sub("", text)).replace("\n", " ")
    return _MD_LINE_START.sub(
        lambda m: f"{m[1]}{m[2]}\\{m[3]}" if m[2] else f"{m[4]}\\{m[5]}", text, count=1)


def _md_cell(text: str) -> str:
    return _md(text) or " "


def render_markdown(report: Report) -> str:
    """The report as Markdown (CommonMark with pipe tables)."""
    t = report.title
    out: list[str] = [
        f"**{_md(t.organization)}** \u2014 {_md(t.symbol)}",
        "",
        f"**{_md(t.organ)}**",
        "",
        f"Distr.: {_md(t.distribution)}  ",
        f"{_md(format_long_date(t.issued_on))}  ",
        f"Original: {_md(t.original)}",
        "",
        f"{_md(t.session_line)}  ",
        f"{_md(t.item_line)}  ",
        f"**{_md(t.agenda_title)}**",
        "",
        f"# {_md(t.title)}",
        "",
    ]
    if t.subtitle:
        out += [f"*{_md(t.subtitle)}*", ""]
    out += ["## Summary", ""]
    for p in report.summary:
        out += [_md(p.text), ""]
    for section in report.sections:
        out += [f"## {_md(section.heading)}", ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                prefix = f"{block.number}\\. " if block.number is not None else ""
                out += [prefix + _md(block.text), ""]
            elif isinstance(block, Quote):
                out += [f"> {_md(block.text)}", ""]
            elif isinstance(block, Heading):
                out += [f"{'#' * (block.level + 1)} {_md(block.text)}", ""]
            elif isinstance(block, Table):
                out.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
                out.append("|" + "---|" * len(block.columns))
                for row in block.rows:
                    out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
                if not block.rows:
                    out.append("| " + " | ".join(["\u2014"] + [" "] * (len(block.columns) - 1))
                               + " |")
                out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: "Times New Roman", serif; max-width: 46em; margin: 2em auto; }
.masthead { border-bottom: 2px solid #000; margin-bottom: 1em; }
.masthead .symbol { float: right; font-weight: bold; }
.masthead .distr { text-align: right; }
.agenda { font-weight: bold; }
blockquote { margin-left: 3em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #000; padding: 0.2em 0.6em; text-align: left; }
p.numbered { text-indent: -2em; padding-left: 2em; }
"""


def _h(text: str) -> str:
    return html.escape(_XML_BAD.sub("", text), quote=True)


def render_html(report: Report) -> str:
    """The report as a standalone HTML5 page; every text is escaped."""
    t = report.title
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_h(t.symbol)} \u2014 {_h(t.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        '<header class="masthead">',
        f'<p><span class="symbol">{_h(t.symbol)}</span><strong>{_h(t.organization)}</strong></p>',
        f"<p><strong>{_h(t.organ)}</strong></p>",
        f'<p class="distr">Distr.: {_h(t.distribution)}<br>{_h(format_long_date(t.issued_on))}'
        f"<br>Original: {_h(t.original)}</p>",
        "</header>",
        f"<p>{_h(t.session_line)}<br>{_h(t.item_line)}<br>"
        f'<span class="agenda">{_h(t.agenda_title)}</span></p>',
        f"<h1>{_h(t.title)}</h1>",
    ]
    if t.subtitle:
        out.append(f'<p class="subtitle"><em>{_h(t.subtitle)}</em></p>')
    out.append('<section class="summary"><h2>Summary</h2>')
    out.extend(f"<p>{_h(p.text)}</p>" for p in report.summary)
    out.append("</section>")
    for section in report.sections:
        out.append(f"<section><h2>{_h(section.heading)}</h2>")
        for block in section.blocks:
            if isinstance(block, Paragraph):
                if block.number is not None:
                    out.append(f'<p class="numbered">{block.number}.&#9;{_h(block.text)}</p>')
                else:
                    out.append(f"<p>{_h(block.text)}</p>")
            elif isinstance(block, Quote):
                out.append(f"<blockquote><p>{_h(block.text)}</p></blockquote>")
            elif isinstance(block, Heading):
                level = min(block.level + 1, 6)
                out.append(f"<h{level}>{_h(block.text)}</h{level}>")
            elif isinstance(block, Table):
                out.append("<table>")
                if block.caption:
                    out.append(f"<caption>{_h(block.caption)}</caption>")
                out.append("<thead><tr>" + "".join(f'<th scope="col">{_h(c)}</th>'
                                                   for c in block.columns) + "</tr></thead>")
                out.append("<tbody>")
                for row in block.rows:
                    out.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>")
                out.append("</tbody></table>")
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# --- DOCX ---------------------------------------------------------------------------------------


def _x(text: str) -> str:
    return _XML_BAD.sub("", text)


def _repeat_header(table: DocxTable) -> None:
    """Mark the first row as a header row, repeated on every page."""
    tr_pr = table.rows[0]._tr.get_or_add_trPr()
    flag = OxmlElement("w:tblHeader")
    flag.set(qn("w:val"), "true")
    tr_pr.append(flag)


def _docx_table(doc: DocxDocument, block: Table) -> None:
    table = doc.add_table(rows=1 + len(block.rows), cols=len(block.columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, text in zip(table.rows[0].cells, block.columns, strict=True):
        run = cell.paragraphs[0].add_run(_x(text))
        run.bold = True
    _repeat_header(table)
    for row, values in zip(table.rows[1:], block.rows, strict=True):
        for cell, text in zip(row.cells, values, strict=True):
            cell.paragraphs[0].add_run(_x(text))


class _DocxWriter:
    """Appends paragraphs to a document in constant time each.

    python-docx's ``add_paragraph`` looks the style up by name and searches the
    body for its section properties on every call, and sets run text one
    character at a time, which makes a long report slow; this writer caches
    style ids, builds each paragraph's XML directly and inserts it before the
    final section properties.
    """

    NUMBERED = "Numbered Paragraph"

    def __init__(self, doc: DocxDocument) -> None:
        self.doc = doc
        self.end = doc.element.body.sectPr
        self._style_ids: dict[str, str] = {}
        numbered = doc.styles.add_style(self.NUMBERED, WD_STYLE_TYPE.PARAGRAPH)
        numbered.base_style = doc.styles["Normal"]
        numbered.paragraph_format.left_indent = Cm(1)
        numbered.paragraph_format.first_line_indent = Cm(-1)

    def style_id(self, name: str) -> str:
        if name not in self._style_ids:
            self._style_ids[name] = self.doc.styles[name].style_id
        return self._style_ids[name]

    def _append(self, element: BaseOxmlElement) -> None:
        if self.end is not None:
            self.end.addprevious(element)
        else:
            self.doc.element.body.append(element)

    def para(self, text: str = "", style: str | None = None) -> DocxParagraph:
        """A paragraph through python-docx's API (for the few that need formatting)."""
        element = OxmlElement("w:p")
        self._append(element)
        paragraph = DocxParagraph(element, self.doc._body)
        if style is not None:
            paragraph._p.style = self.style_id(style)
        if text:
            paragraph.add_run(text)
        return paragraph

    def text(self, text: str, style: str | None = None, number: int | None = None) -> None:
        """A plain paragraph of one run, optionally numbered ("12." and a tab)."""
        p = OxmlElement("w:p")
        if number is not None:
            style = self.NUMBERED
        if style is not None:
            p_pr = OxmlElement("w:pPr")
            p_style = OxmlElement("w:pStyle")
            p_style.set(qn("w:val"), self.style_id(style))
            p_pr.append(p_style)
            p.append(p_pr)
        run = OxmlElement("w:r")
        if number is not None:
            label = OxmlElement("w:t")
            label.text = f"{number}."
            run.append(label)
            run.append(OxmlElement("w:tab"))
        body = OxmlElement("w:t")
        body.text = text
        body.set(qn("xml:space"), "preserve")
        run.append(body)
        p.append(run)
        self._append(p)

    def heading(self, text: str, level: int) -> None:
        self.text(text, "Title" if level == 0 else f"Heading {min(level, 9)}")


def _docx_title_block(w: _DocxWriter, report: Report, width: Length) -> None:
    t = report.title
    top = w.para()
    top.paragraph_format.tab_stops.add_tab_stop(width, WD_TAB_ALIGNMENT.RIGHT)
    top.add_run(_x(t.organization)).bold = True
    top.add_run("\t")
    top.add_run(_x(t.symbol)).bold = True
    run = w.para().add_run(_x(t.organ))
    run.bold = True
    run.font.size = Pt(16)
    distr = w.para()
    distr.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    distr.add_run(f"Distr.: {_x(t.distribution)}")
    distr.add_run().add_break()
    distr.add_run(format_long_date(t.issued_on))
    distr.add_run().add_break()
    distr.add_run(f"Original: {_x(t.original)}")
    agenda = w.para()
    agenda.add_run(_x(t.session_line))
    agenda.add_run().add_break()
    agenda.add_run(_x(t.item_line))
    agenda.add_run().add_break()
    agenda.add_run(_x(t.agenda_title)).bold = True
    w.heading(_x(t.title), 0)
    if t.subtitle:
        w.text(_x(t.subtitle), "Subtitle")


def render_docx(report: Report) -> bytes:
    """The report as a Word document: Heading styles, real tables; opens in Word and LibreOffice."""
    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(11)
    t = report.title
    doc.core_properties.title = f"{t.symbol} {t.title}"
    doc.core_properties.subject = t.agenda_title
    doc.core_properties.author = t.organization
    page = doc.sections[0]
    width: Length = Cm(16.5)
    if page.page_width and page.left_margin is not None and page.right_margin is not None:
        width = Length(page.page_width - page.left_margin - page.right_margin)
    w = _DocxWriter(doc)
    _docx_title_block(w, report, width)
    w.heading("Summary", 1)
    for p in report.summary:
        w.text(_x(p.text))
    for section in report.sections:
        w.heading(_x(section.heading), 1)
        for block in section.blocks:
            if isinstance(block, Paragraph):
                w.text(_x(block.text), number=block.number)
            elif isinstance(block, Quote):
                w.text(_x(block.text), "Quote")
            elif isinstance(block, Heading):
                w.heading(_x(block.text), block.level)
            elif isinstance(block, Table):
                _docx_table(doc, block)
                w.para()
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


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
