"""Hypothesis strategies for hostile mail: nesting, boundaries, encodings, charsets, sizes,
header shapes and attachment kinds, as the world sends them and as an attacker would.

Used by the fuzz tests of the pipeline (``test_fuzz_pipeline.py``) and by
``scripts/fuzz.sh`` for long runs.  Every strategy builds raw bytes: the
pipeline must take any of them without an uncaught exception.
"""

from __future__ import annotations

import base64
import io
import quopri
import zipfile

from hypothesis import strategies as st

SENDERS = [
    "fp.fra@example.test",          # a State's registered focal point: its forms are read
    "fp.ken@example.test",
    "officer@example.test",         # the Secretariat
    "stranger@elsewhere.test",      # nobody
    "MAILER-DAEMON@mx.example.test",
    "",
    "=?utf-8?B?ZnAuZnJhQGV4YW1wbGUudGVzdA==?= <fp.fra@example.test>",
    "fp.fra@example.test, attacker@evil.test",
    "fp.fra@example.test <attacker@evil.test>",
    "Postmaster <>",
    '"\udcff\udcfe" <fp.fra@example.test>',
]
CHARSETS = ["utf-8", "us-ascii", "iso-8859-1", "windows-1252", "koi8-r", "gb2312", "shift_jis",
            "utf-16", "x-unknown", "", "utf-8\udcff", "\"", "cp1251"]
ENCODINGS = ["7bit", "8bit", "binary", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
FORM_LINES = [
    "REPORT OF A SERIOUS VIOLATION (paragraph 10 (a))",
    "Reporting State: France", "Reporting State: Frnace", "Reporting State: Республика",
    "Date of the violation: 20 November 2026", "Date of the violation: 31 November 2026",
    "Date of the violation: 4/3/2026", "Date of the violation: 2026年3月4日",
    "Place: Nairobi", "State where it took place: Kenya", "State where it took place: KEN",
    "Mission, post or representative affected: Embassy of France",
    "Kind: diplomatic mission", "Description of the facts: A demonstration turned violent.",
    "May this report be circulated to all States? [yes/no]: yes",
    "May this report be circulated to all States? [yes/no]: maybe",
    "Reference: DCM-2026-0001", "In what capacity: host", "END OF FORM",
    "> Date of the violation:", "-- ", "#waive DCM-2026-0001", "#report 83",
]
NASTY_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


def _fold(value: str) -> str:
    return value.replace("\n", "\n ")


@st.composite
def header_value(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["text", "encoded", "broken", "raw8", "long", "params"]))
    text = draw(NASTY_TEXT)
    if kind == "encoded":
        data = base64.b64encode(text.encode("utf-8")).decode()
        return f"=?{draw(st.sampled_from(CHARSETS))}?B?{data}?="
    if kind == "broken":
        return draw(st.sampled_from(["=?utf-8?Q?a=ZZb?=", "=?utf-8?B?%%%?=", "=?", "=?x?y?z?=",
                                     "=?utf-8?B?" + "A" * 5000 + "?="]))
    if kind == "raw8":
        return text.encode("utf-8").decode("ascii", "surrogateescape")
    if kind == "long":
        return "x" * draw(st.integers(900, 20000))
    if kind == "params":
        return draw(st.sampled_from([
            'attachment; filename="a.pdf"; filename="b.exe"', "attachment; filename*0*=utf-8''%D0",
            'inline; filename="' + "r" * 250 + '.js"', "attachment; filename=\"ФНС_РФ558.zip\"",
            ";;;==", 'attachment; filename="x\u202efdp.exe"']))
    return _fold(text)


def _encode(body: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return base64.encodebytes(body)
    if encoding == "quoted-printable":
        return quopri.encodestring(body)
    return body


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


@st.composite
def attachment_data(draw: st.DrawFn) -> tuple[str, str, bytes]:
    """(name, content type, bytes) of an attachment, benign or not."""
    kind = draw(st.sampled_from(["pdf", "zip", "nested", "bomb", "exe", "text", "docx", "junk"]))
    if kind == "pdf":
        return "form.pdf", "application/pdf", b"%PDF-1.4\n" + draw(st.binary(max_size=2000))
    if kind == "zip":
        return "docs.zip", "application/zip", _zip([("a.txt", draw(st.binary(max_size=500)))])
    if kind == "nested":
        inner = _zip([("evil.exe", b"MZ\x90\x00")])
        return "docs.zip", "application/zip", _zip([("inner.zip", _zip([("x.zip", inner)]))])
    if kind == "bomb":
        return "form.docx", "application/octet-stream", _zip([("word/document.xml", b"\0" * 2_000_000)])
    if kind == "exe":
        return "report.pdf", "application/pdf", b"MZ\x90\x00" + draw(st.binary(max_size=200))
    if kind == "docx":
        return "form.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", \
            _zip([("word/document.xml", draw(st.binary(max_size=3000)))])
    if kind == "text":
        return "form.txt", "text/plain", "\n".join(draw(st.lists(st.sampled_from(FORM_LINES),
                                                                  max_size=15))).encode()
    return draw(NASTY_TEXT) or "x", draw(st.sampled_from(["", "a/b", "application/x"])), \
        draw(st.binary(max_size=3000))


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    encoding = draw(st.sampled_from(ENCODINGS))
    if draw(st.booleans()):
        lines = draw(st.lists(st.one_of(st.sampled_from(FORM_LINES), NASTY_TEXT), max_size=20))
        subtype = draw(st.sampled_from(["plain", "html", "plain"]))
        text = "\n".join(lines)
        if subtype == "html":
            text = "<table><tr><td><p>" + "</p><p>".join(lines) + "</p></td></tr></table>"
        charset = draw(st.sampled_from(CHARSETS))
        try:
            body = text.encode(charset or "utf-8", "replace")
        except (LookupError, UnicodeError):
            body = text.encode("utf-8", "surrogateescape")
        head = f"Content-Type: text/{subtype}; charset=\"{charset}\"\r\n"
    else:
        name, ctype, body = draw(attachment_data())
        head = (f"Content-Type: {ctype}; name=\"{name}\"\r\n"
                f"Content-Disposition: {draw(st.sampled_from(['attachment', 'inline', '']))}; "
                f"filename=\"{name}\"\r\n")
        if draw(st.booleans()):
            head += f"Content-Disposition: {draw(header_value())}\r\n"
    head += f"Content-Transfer-Encoding: {encoding}\r\n"
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + _encode(body, encoding)


@st.composite
def part(draw: st.DrawFn, depth: int = 0) -> bytes:
    if depth >= 4 or draw(st.integers(0, 3)) > 0:
        return draw(leaf())
    boundary = draw(st.sampled_from(["BB", "=_x", "", "a" * 80, "BB--", "--", "\udcff"]))
    children = draw(st.lists(part(depth + 1), min_size=0, max_size=4))
    subtype = draw(st.sampled_from(["mixed", "alternative", "report; report-type=delivery-status",
                                    "related", "signed"]))
    close = draw(st.booleans())
    head = f"Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n"
    body = b"".join(b"--" + boundary.encode("utf-8", "surrogateescape") + b"\r\n" + child + b"\r\n"
                    for child in children)
    if close:
        body += b"--" + boundary.encode("utf-8", "surrogateescape") + b"--\r\n"
    return head.encode("utf-8", "surrogateescape") + body


@st.composite
def hostile_mail(draw: st.DrawFn) -> bytes:
    """A whole message: top headers of every shape, then a (possibly nested) body."""
    headers = [
        ("From", draw(st.sampled_from(SENDERS))),
        ("To", draw(st.sampled_from(["mailbot@example.test", "", "undisclosed-recipients:;"]))),
        ("Subject", draw(header_value())),
    ]
    if draw(st.booleans()):
        headers.append(("Message-ID", f"<{draw(st.integers(0, 10**6))}@fuzz.test>"))
    headers += draw(st.lists(st.tuples(
        st.sampled_from(["In-Reply-To", "References", "Date", "Auto-Submitted", "Return-Path",
                         "Authentication-Results", "Received", "X-Failed-Recipients",
                         "Content-Disposition", "MIME-Version", "From"]),
        header_value()), max_size=6))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return head.encode("utf-8", "surrogateescape") + draw(part())
