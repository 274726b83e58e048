"""The report to the General Assembly rendered as a DOCX document in the UN's document style.

Every text that came from a State is written as plain runs, with the
characters XML cannot hold removed.
"""

from __future__ import annotations

import io

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

from mailbot.domain.report import Heading, Paragraph, Quote, Report, Table, format_long_date
from mailbot.service.report_text import XML_UNSAFE

# --- DOCX ---------------------------------------------------------------------------------------


def _x(text: str) -> str:
    return XML_UNSAFE.sub("", text)


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
