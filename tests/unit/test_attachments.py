"""The attachment policy (domain.attachments) against what senders and attackers attach."""

from __future__ import annotations

import io
import zipfile

import pytest
from docx import Document

from mailbot.domain.attachments import ArchiveLimits, deceptive, extension, judge

BLOCKED = ("exe", "com", "bat", "cmd", "scr", "js", "vbs", "ps1", "lnk", "jar", "dll", "msi")
LIMIT = 20 * 1024 * 1024


def zipped(*members: tuple[str, bytes], level: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=level) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def verdict(name: str, data: bytes, content_type: str = "application/octet-stream",
            limits: ArchiveLimits | None = None) -> tuple[str, str]:
    result = judge(name, content_type, data, blocked_extensions=BLOCKED, max_size=LIMIT, limits=limits)
    return result.verdict, result.reason


def docx_form() -> bytes:
    doc = Document()
    doc.add_paragraph("Date of the violation: 20 November 2026")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


ACCEPTED = [
    ("report.pdf", b"%PDF-1.7 ..."),
    ("formulaire.docx", docx_form()),
    ("photos.zip", zipped(("a.jpg", b"\xff\xd8\xff" + b"\0" * 100), ("notes/b.txt", b"text"))),
    ("Nota verbal 2026.11.20.pdf", b"%PDF-1.4"),
    ("تقرير\u200cرسمي.pdf", b"%PDF-1.4"),  # a Persian name with its zero-width non-joiner
    ("archive.zip", b"not really a zip, just named so"),
]


@pytest.mark.parametrize(("name", "data"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_accepted(name: str, data: bytes) -> None:
    assert verdict(name, data) == ("ok", "")


REFUSED = [
    ("a script by name", "update.js", b"alert(1)", ".js"),
    ("a script with a 250-character name", "r" * 246 + ".js", b"alert(1)", ".js"),
    ("a double extension", "invoice.pdf.exe", b"data", ".exe"),
    ("an executable extension hidden inside", "invoice.exe.pdf", b"%PDF", ".exe"),
    ("trailing dots and spaces", "invoice.exe. . .", b"data", ".exe"),
    ("a right-to-left override", "invoice\u202efdp.exe", b"data", "U+202E"),
    ("a right-to-left override on a harmless extension", "photo\u202egpj.txt", b"data", "U+202E"),
    ("a zero-width space", "report\u200b.pdf", b"%PDF", "U+200B"),
    ("a control character", "report\x07.pdf", b"%PDF", "control"),
    ("executable bytes under another name", "report.pdf", b"MZ\x90\x00", "executable"),
    ("an archive the desk cannot open", "documents.rar", b"Rar!\x1a\x07", ".rar"),
    ("a script inside a ZIP", "docs.zip", zipped(("x/evil.vbs", b"x")), "evil.vbs"),
    ("a ZIP in a ZIP holding an executable", "docs.zip",
     zipped(("inner.zip", zipped(("evil.exe", b"MZ")))), "evil.exe"),
    ("executable bytes inside a ZIP", "docs.zip", zipped(("readme.txt", b"MZ\x90\x00rest")), "executable"),
    ("an override inside a ZIP", "docs.zip", zipped(("cv\u202efdp.scr", b"x")), "U+202E"),
    ("a ZIP without a .zip name", "report.pdf", zipped(("run.bat", b"x")), "run.bat"),
]


@pytest.mark.parametrize(("what", "name", "data", "said"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused(what: str, name: str, data: bytes, said: str) -> None:
    result, reason = verdict(name, data)
    assert result == "blocked", reason
    assert said in reason


def test_nesting_beyond_the_limit_is_refused() -> None:
    data = zipped(("report.txt", b"plain"))
    for depth in range(5):
        data = zipped((f"level{depth}.zip", data))
    result, reason = verdict("deep.zip", data, limits=ArchiveLimits(max_depth=3))
    assert result == "blocked" and "nested deeper than 3" in reason
    assert verdict("deep.zip", data, limits=ArchiveLimits(max_depth=6))[0] == "ok"


def test_a_zip_bomb_is_refused_from_its_table_of_contents() -> None:
    bomb = zipped(("word/document.xml", b"\0" * (50 * 1024 * 1024)))
    assert len(bomb) < 100_000
    result, reason = verdict("form.docx", bomb)
    assert result == "blocked" and "compressed" in reason


def test_the_unpacked_total_counts_every_level() -> None:
    inner = zipped(*((f"part{i}.txt", bytes(range(256)) * 400) for i in range(10)),
                   level=zipfile.ZIP_STORED)
    outer = zipped(("a.zip", inner), ("b.zip", inner), level=zipfile.ZIP_STORED)
    limits = ArchiveLimits(max_unpacked=len(inner) * 3)
    result, reason = verdict("two.zip", outer, limits=limits)
    assert result == "blocked" and "once unpacked" in reason


def test_too_many_members() -> None:
    data = zipped(*((f"f{i}.txt", b"x") for i in range(50)))
    assert verdict("many.zip", data, limits=ArchiveLimits(max_members=20))[0] == "blocked"


def test_an_encrypted_member_cannot_be_inspected() -> None:
    data = bytearray(zipped(("secret.txt", b"x" * 100)))
    # set the "encrypted" flag in the local header and the central directory
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        data[at + offset] |= 0x1
    result, reason = verdict("secret.zip", bytes(data))
    assert result == "blocked" and "encrypted" in reason


def test_a_broken_zip_is_refused() -> None:
    data = zipped(("a.txt", b"x" * 1000))[:-30]
    assert verdict("cut.zip", data)[0] == "blocked"


def test_size_limit() -> None:
    result = judge("big.pdf", "application/pdf", b"x" * 11, blocked_extensions=BLOCKED, max_size=10)
    assert result.verdict == "too_large"


@pytest.mark.parametrize(("name", "ext"), [
    ("a.PDF", "pdf"), ("a.tar.gz", "gz"), ("noext", ""), ("a.exe.", "exe"), ("a.exe ", "exe"),
])
def test_extension(name: str, ext: str) -> None:
    assert extension(name) == ext


def test_writing_marks_are_not_tricks() -> None:
    assert deceptive("ملف\u200fتقرير.pdf") is None
    assert deceptive("x\u2066y") is not None
