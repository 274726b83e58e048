"""Form attachments: blank PDF and Word forms round-trip, and forms are read from files."""

from __future__ import annotations

import io
import tomllib
from pathlib import Path

import pytest
from docx import Document
from pypdf import PdfReader, PdfWriter
from reportlab.pdfgen.canvas import Canvas

from mailbot.domain.forms import FormCatalog, FormKind, render_blank
from mailbot.domain.types import Attachment
from mailbot.mail.formfiles import (
    KEYWORD_PREFIX,
    blank_docx,
    blank_pdf,
    decode_text,
    form_from_attachment,
)

ROOT = Path(__file__).resolve().parents[2]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

PREFILL: dict[FormKind, dict[str, str]] = {
    FormKind.VIOLATION: {
        "reporting_state": "Sénégal", "date": "3 mars 2026", "place": "Dakar",
        "host_state": "Sénégal", "affected": "Ambassade de l'Inde",
        "affected_kind": "mission diplomatique", "sending_state": "Inde",
        "description": "Première ligne.\nDeuxième ligne — fin.", "circulate": "oui",
    },
    FormKind.FOLLOW_UP: {
        "reporting_state": "Kenya", "reference": "DCM-2026-0007", "capacity": "host",
        "measures_prevention": "New barriers.\nMore guards.", "final_outcome": "no",
    },
    FormKind.VIEWS: {"reporting_state": "Japan", "views": "One.\nTwo.", "contact": "H. T."},
}


@pytest.fixture(scope="module")
def catalog() -> FormCatalog:
    with open(ROOT / "config" / "forms.toml", "rb") as fh:
        return FormCatalog.from_toml_data(tomllib.load(fh))


def pdf(data: bytes, name: str = "form.pdf") -> Attachment:
    return Attachment(name, "application/pdf", data)


@pytest.mark.parametrize("lang", ["en", "fr", "es"])
@pytest.mark.parametrize("kind", list(FormKind))
def test_pdf_round_trip(catalog: FormCatalog, kind: FormKind, lang: str) -> None:
    raw = form_from_attachment(pdf(blank_pdf(catalog, kind, lang, PREFILL[kind])), catalog)
    assert raw is not None
    assert raw.kind == kind
    assert raw.values == PREFILL[kind]
    assert raw.source == "attachment:form.pdf"


@pytest.mark.parametrize("lang", ["en", "fr", "es"])
@pytest.mark.parametrize("kind", list(FormKind))
def test_docx_round_trip(catalog: FormCatalog, kind: FormKind, lang: str) -> None:
    data = blank_docx(catalog, kind, lang, PREFILL[kind])
    raw = form_from_attachment(Attachment("form.docx", DOCX, data), catalog)
    assert raw is not None
    assert raw.kind == kind
    assert raw.values == PREFILL[kind]
    assert raw.unknown_lines == ()


def test_blank_pdf_has_one_named_field_per_form_field(catalog: FormCatalog) -> None:
    reader = PdfReader(io.BytesIO(blank_pdf(catalog, FormKind.VIOLATION, "fr")))
    fields = reader.get_fields() or {}
    assert set(fields) == set(catalog.form(FormKind.VIOLATION).names)
    multiline_flag = 1 << 12
    assert int(fields["description"].get("/Ff", 0)) & multiline_flag
    assert not int(fields["place"].get("/Ff", 0)) & multiline_flag
    assert reader.metadata is not None
    assert reader.metadata["/Keywords"] == f"{KEYWORD_PREFIX}violation"
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "RAPPORT DE VIOLATION" in text and "Description des faits" in text


def test_pdf_filled_in_a_reader(catalog: FormCatalog) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(blank_pdf(catalog, FormKind.VIEWS, "es"))))
    for page in writer.pages:
        writer.update_page_form_field_values(
            page, {"reporting_state": "México", "views": "Uno.\nDos.", "circulate": "No"},
            auto_regenerate=False)
    out = io.BytesIO()
    writer.write(out)
    raw = form_from_attachment(pdf(out.getvalue(), "opiniones.pdf"), catalog)
    assert raw is not None and raw.kind == FormKind.VIEWS
    assert raw.values == {"reporting_state": "México", "views": "Uno.\nDos.", "circulate": "No"}


def test_pdf_without_fields_is_read_from_its_text(catalog: FormCatalog) -> None:
    buf = io.BytesIO()
    canvas = Canvas(buf)
    y = 800
    for line in render_blank(catalog, FormKind.VIEWS, "en", PREFILL[FormKind.VIEWS]).splitlines():
        canvas.drawString(40, y, line[:110])
        y -= 14
    canvas.save()
    raw = form_from_attachment(pdf(buf.getvalue(), "scan.pdf"), catalog)
    assert raw is not None and raw.kind == FormKind.VIEWS
    assert raw.values["reporting_state"] == "Japan"
    assert raw.values["contact"] == "H. T."


def test_docx_typed_as_paragraphs(catalog: FormCatalog) -> None:
    document = Document()
    for line in ("FOLLOW-UP REPORT", "Reporting State: Kenya",
                 "Reference of the incident: DCM-2026-0002", "Reporting as: host",
                 "Measures taken to prevent a repetition: barriers"):
        document.add_paragraph(line)
    buf = io.BytesIO()
    document.save(buf)
    raw = form_from_attachment(Attachment("report.docx", DOCX, buf.getvalue()), catalog)
    assert raw is not None and raw.kind == FormKind.FOLLOW_UP
    assert raw.values["reference"] == "DCM-2026-0002"
    assert raw.values["measures_prevention"] == "barriers"


def test_docx_table_without_keywords_is_recognised_by_its_labels(catalog: FormCatalog) -> None:
    document = Document()
    document.add_paragraph("Our views")
    table = document.add_table(rows=0, cols=2)
    for label, value in (("Reporting State", "Egypt"),
                         ("Views on measures needed or already taken", "Line A\nLine B"),
                         ("Signed", "the Ambassador")):
        row = table.add_row().cells
        row[0].text, row[1].text = label, value
    buf = io.BytesIO()
    document.save(buf)
    raw = form_from_attachment(Attachment("v.docx", DOCX, buf.getvalue()), catalog)
    assert raw is not None and raw.kind == FormKind.VIEWS
    assert raw.values == {"reporting_state": "Egypt", "views": "Line A\nLine B"}
    assert "Signed | the Ambassador" in raw.unknown_lines


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"])
def test_text_attachment_in_any_charset(catalog: FormCatalog, encoding: str) -> None:
    text = render_blank(catalog, FormKind.VIOLATION, "fr", PREFILL[FormKind.VIOLATION])
    if encoding == "latin-1":
        text = text.replace("—", "-")
    att = Attachment("rapport.txt", "text/plain", text.encode(encoding))
    raw = form_from_attachment(att, catalog)
    assert raw is not None and raw.kind == FormKind.VIOLATION
    expected = dict(PREFILL[FormKind.VIOLATION])
    if encoding == "latin-1":
        expected["description"] = expected["description"].replace("—", "-")
    assert raw.values == expected


def test_decode_text_utf16_without_bom() -> None:
    assert decode_text("Reporting State: Kenya".encode("utf-16-le")) == "Reporting State: Kenya"


@pytest.mark.parametrize(
    "att",
    [
        Attachment("broken.pdf", "application/pdf", b"%PDF-1.7\nthis is not a pdf"),
        Attachment("broken.docx", DOCX, b"PK\x03\x04 not a zip"),
        Attachment("photo.jpg", "image/jpeg", b"\xff\xd8\xff\xe0"),
        Attachment("old.doc", "application/msword", b"\xd0\xcf\x11\xe0"),
        Attachment("letter.txt", "text/plain", b"Dear colleagues, nothing to report."),
    ],
)
def test_no_form_in_other_or_damaged_files(catalog: FormCatalog, att: Attachment) -> None:
    assert form_from_attachment(att, catalog) is None
