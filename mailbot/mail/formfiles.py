"""Form attachments: read a form from a .txt, .pdf or .docx file, and make blank ones.

Part of the parse stage: intake calls :func:`form_from_attachment` on each
attachment of a message and hands the results to
:func:`mailbot.domain.forms.find_form`; the outbox attaches
:func:`blank_pdf` / :func:`blank_docx` to circular notes and notices.  Bytes
in, bytes or values out: no files, no network.

Libraries.  reportlab draws the PDF and is the one Python library that
writes AcroForm fields (fillable text boxes, multi-line where needed) with
no external tool; pypdf reads them back (``get_form_text_fields``) and
extracts page text from PDFs that are not fillable, in pure Python.
python-docx reads and writes .docx without Word or LibreOffice: the blank
form is a two-column table (label | value), which is also how most
missions lay out a form they type themselves.  Each blank form carries
``mailbot-form:<kind>`` in its document keywords so its kind is known even
when the sender deleted the heading.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from typing import Any

from mailbot.domain.forms import (
    FormCatalog,
    FormKind,
    RawForm,
    extract_form,
    field_heading,
    form_from_fields,
)
from mailbot.domain.types import Attachment

__all__ = ["KEYWORD_PREFIX", "blank_docx", "blank_pdf", "form_from_attachment"]

#: Document keyword that names the form a blank file holds.
KEYWORD_PREFIX = "mailbot-form:"

_DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_KEYWORD_RE = re.compile(re.escape(KEYWORD_PREFIX) + r"([a-z_]+)")


def _file_type(att: Attachment) -> str | None:
    name = (att.filename or "").lower()
    ctype = att.content_type.lower()
    if name.endswith(".pdf") or ctype == "application/pdf" or att.data[:5] == b"%PDF-":
        return "pdf"
    if name.endswith(".docx") or ctype == _DOCX_TYPE:
        return "docx"
    if name.endswith(".txt") or ctype == "text/plain":
        return "txt"
    return None


def _kind_from_keywords(text: str | None) -> FormKind | None:
    m = _KEYWORD_RE.search(text or "")
    if m is None:
        return None
    try:
        return FormKind(m.group(1))
    except ValueError:
        return None


def form_from_attachment(att: Attachment, catalog: FormCatalog) -> RawForm | None:
    """The form in a .txt, .pdf or .docx attachment, or None (no form, or unreadable file)."""
    kind = _file_type(att)
    source = f"attachment:{att.filename or kind or 'unnamed'}"
    if kind == "txt":
        return extract_form(decode_text(att.data), catalog, source)
    try:
        if kind == "pdf":
            return _read_pdf(att.data, catalog, source)
        if kind == "docx":
            return _read_docx(att.data, catalog, source)
    except Exception:  # a damaged or hostile file is "no form here", never a crash of intake
        return None
    return None


def decode_text(data: bytes) -> str:
    """Text of a .txt attachment in whatever charset it came (BOMs, UTF-16, UTF-8, cp1252)."""
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"),
                       (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(codec, "replace")
    if data[:200].count(b"\x00") > 20:
        codec = "utf-16-le" if data[1:2] == b"\x00" else "utf-16-be"
        return data.decode(codec, "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


# ---------------------------------------------------------------------------
# PDF


def _read_pdf(data: bytes, catalog: FormCatalog, source: str) -> RawForm | None:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    fields = {k: str(v) for k, v in (reader.get_form_text_fields() or {}).items() if v}
    meta = reader.metadata
    kind = _kind_from_keywords(str(meta.get("/Keywords", "")) if meta else None)
    page_text = "\n".join(page.extract_text() or "" for page in reader.pages)
    if reader.get_fields():
        if kind is None:
            kind = _marker_kind(page_text, catalog)
        return form_from_fields(fields, catalog, kind=kind, source=source)
    return extract_form(page_text, catalog, source)


def _marker_kind(text: str, catalog: FormCatalog) -> FormKind | None:
    for line in text.splitlines():
        found = catalog.marker_kind(line)
        if found is not None:
            return found[0]
    return None


def blank_pdf(
    catalog: FormCatalog,
    kind: FormKind,
    lang: str,
    prefill: Mapping[str, str] | None = None,
) -> bytes:
    """A fillable PDF: one AcroForm text field per form field, named after the field."""
    from reportlab.lib.colors import black, white
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfgen.canvas import Canvas

    spec = catalog.form(kind)
    given = dict(prefill or {})
    buf = io.BytesIO()
    pdf = Canvas(buf, pagesize=A4)
    pdf.setTitle(spec.title.get(lang))
    pdf.setSubject(spec.marker.get(lang))
    pdf.setKeywords(f"{KEYWORD_PREFIX}{kind.value}")
    width, height = A4
    margin = 50.0
    text_width = width - 2 * margin
    y = height - margin

    def lines(text: str, font: str, size: float) -> list[str]:
        return list(simpleSplit(text, font, size, text_width))

    def need(space: float) -> None:
        nonlocal y
        if y - space < margin:
            pdf.showPage()
            y = height - margin

    for text, font, size in ((spec.marker.get(lang), "Helvetica-Bold", 11),
                             (spec.title.get(lang), "Helvetica-Bold", 10),
                             (catalog.instructions.get(lang), "Helvetica", 9)):
        for line in lines(text, font, size):
            need(size + 4)
            pdf.setFont(font, size)
            pdf.drawString(margin, y - size, line)
            y -= size + 4
        y -= 6
    for fspec in spec.fields:
        heading = lines(field_heading(fspec, lang, catalog.languages), "Helvetica", 9)
        box = 72.0 if fspec.multiline else 20.0
        need(len(heading) * 12 + box + 10)
        pdf.setFont("Helvetica", 9)
        for line in heading:
            pdf.drawString(margin, y - 9, line)
            y -= 12
        y -= 2
        pdf.acroForm.textfield(
            name=fspec.name,
            tooltip=fspec.label.get(lang),
            value="",  # values are set below: reportlab's field text is Latin-1 only
            x=margin,
            y=y - box,
            width=text_width,
            height=box,
            fieldFlags="multiline" if fspec.multiline else "",
            maxlen=None,
            fontName="Helvetica",
            fontSize=9,
            borderColor=black,
            fillColor=white,
            textColor=black,
            forceBorder=True,
        )
        y -= box + 10
    need(20)
    pdf.setFont("Helvetica-Bold", 9)
    pdf.drawString(margin, y - 9, catalog.end_marker.get(lang))
    pdf.save()
    values = {name: text for name, text in given.items() if text and name in spec.names}
    return _fill_pdf(buf.getvalue(), values) if values else buf.getvalue()


def _fill_pdf(data: bytes, values: Mapping[str, str]) -> bytes:
    """Set field values with pypdf, which writes any Unicode text; readers redraw the boxes."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        writer.update_page_form_field_values(page, dict(values), auto_regenerate=True)
    writer.set_need_appearances_writer(True)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# ---------------------------------------------------------------------------
# DOCX


def _docx_blocks(document: Any) -> Iterator[tuple[str, Any]]:
    """Paragraphs and tables of the body, in document order."""
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    body = document.element.body
    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            yield "p", Paragraph(child, document)
        elif tag == "tbl":
            yield "tbl", Table(child, document)


def _read_docx(data: bytes, catalog: FormCatalog, source: str) -> RawForm | None:
    from docx import Document

    document = Document(io.BytesIO(data))
    kind = _kind_from_keywords(document.core_properties.keywords)
    text_lines: list[str] = []
    pairs: dict[str, str] = {}
    for block_type, block in _docx_blocks(document):
        if block_type == "p":
            text_lines.append(block.text)
            continue
        for row in block.rows:
            cells: list[str] = []
            for cell in row.cells:
                if not cells or cell.text != cells[-1]:  # merged cells repeat
                    cells.append(cell.text)
            if len(cells) >= 2 and catalog.match_label(cells[0].strip()) is not None:
                pairs.setdefault(cells[0].strip(), "\n".join(cells[1:]).strip())
            else:
                text_lines.append(" | ".join(c.strip() for c in cells))
    text = "\n".join(text_lines)
    if not pairs:
        return extract_form(text, catalog, source)
    if kind is None:
        kind = _marker_kind(text, catalog)
    return form_from_fields(pairs, catalog, kind=kind, text=text, source=source)


def blank_docx(
    catalog: FormCatalog,
    kind: FormKind,
    lang: str,
    prefill: Mapping[str, str] | None = None,
) -> bytes:
    """A .docx form: heading, instructions, and a two-column table label | value."""
    from docx import Document
    from docx.shared import Pt

    spec = catalog.form(kind)
    given = dict(prefill or {})
    document = Document()
    document.core_properties.title = spec.title.get(lang)
    document.core_properties.subject = spec.marker.get(lang)
    document.core_properties.keywords = f"{KEYWORD_PREFIX}{kind.value}"
    heading = document.add_paragraph()
    run = heading.add_run(spec.marker.get(lang))
    run.bold = True
    run.font.size = Pt(12)
    document.add_paragraph().add_run(spec.title.get(lang)).bold = True
    document.add_paragraph(catalog.instructions.get(lang))
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for fspec in spec.fields:
        cells = table.add_row().cells
        cells[0].text = field_heading(fspec, lang, catalog.languages)
        value = given.get(fspec.name, "")
        lines = value.splitlines() or [""]
        paragraph = cells[1].paragraphs[0]
        paragraph.text = lines[0]
        for line in lines[1:]:
            cells[1].add_paragraph(line)
    document.add_paragraph(catalog.end_marker.get(lang))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()
