"""The parse stage against hostile and odd input: the .eml fixtures, generated monsters,
and the standard library's own test messages.

Every input must either parse into an InboundMail or raise ParseError (which
intake turns into a quarantine); any other exception would stop intake.
"""

from __future__ import annotations

import sysconfig
import tracemalloc
from collections.abc import Callable
from email import policy
from email.message import Message
from email.parser import BytesFeedParser
from pathlib import Path

import pytest
from eml_fixtures import FIXTURES
from eml_fixtures import load_eml_fixtures as _load_eml_fixtures

from mailbot.domain.classify import classify
from mailbot.domain.types import InboundMail, MailClass, MailContext
from mailbot.mail.bounces import SCAN_LIMIT, BounceInfo, bounce_info, bounced_addresses
from mailbot.mail.parse import MAX_DEPTH, ParseError, _parse_single_part, parse_message

_FIXTURES_MODULE = _load_eml_fixtures()
CONTEXT: MailContext = _FIXTURES_MODULE.CONTEXT
BIG_SIZE: int = _FIXTURES_MODULE.BIG_SIZE
big_message: Callable[..., bytes] = _FIXTURES_MODULE.big_message
nested_multipart: Callable[..., bytes] = _FIXTURES_MODULE.nested_multipart

ALL_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.eml"))
STDLIB_DATA = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"


def parse_fixture(name: str) -> InboundMail:
    return parse_message((FIXTURES / name).read_bytes())


def parse_or_parse_error(raw: bytes) -> InboundMail | None:
    """parse_message, with ParseError (and only ParseError) turned into None."""
    try:
        return parse_message(raw)
    except ParseError:
        return None


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_fixture_parses_or_raises_parse_error(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    parsed = parse_or_parse_error(raw)
    if parsed is not None:
        assert parsed.size == len(raw)
        assert "\r" not in parsed.text
        classify(parsed, CONTEXT, bounced_addresses(raw))


def test_fixtures_are_there() -> None:
    # the list above must not silently shrink to nothing
    assert len(ALL_FIXTURES) >= 22


def test_no_message_id() -> None:
    parsed = parse_fixture("no_message_id.eml")
    assert parsed.message_id is None
    assert parsed.from_addr == "fp.deu@example.test"


def test_duplicate_message_id_with_different_content() -> None:
    first = parse_fixture("duplicate_message_id_a.eml")
    second = parse_fixture("duplicate_message_id_b.eml")
    assert first.message_id == second.message_id == "<same-id.bra@example.test>"
    assert first.text != second.text


def test_no_from() -> None:
    parsed = parse_fixture("no_from.eml")
    assert parsed.from_addr == ""
    assert parsed.from_name == ""
    assert parsed.to == ("mailbot@example.test",)


def test_raw_utf8_headers() -> None:
    parsed = parse_fixture("raw_8bit_headers_utf8.eml")
    assert parsed.subject == "Rapport de violation : consulat général à Marseille — «urgent»"
    assert parsed.from_name == "Ministère des Affaires étrangères"
    assert parsed.from_addr == "fp.fra@example.test"


def test_raw_latin1_headers_keep_the_address() -> None:
    parsed = parse_fixture("raw_8bit_headers_latin1.eml")
    assert parsed.from_addr == "fp.deu@example.test"
    assert parsed.text.startswith("Das Gebäude des Generalkonsulats")


def test_raw_latin1_headers_are_read_as_latin1() -> None:
    parsed = parse_fixture("raw_8bit_headers_latin1.eml")
    assert parsed.subject == "Bericht über einen Vorfall in Köln - Gebäude beschädigt"
    assert parsed.from_name == "Auswärtiges Amt Büro"


def test_unknown_charset() -> None:
    parsed = parse_fixture("unknown_charset.eml")
    assert any("unknown charset 'x-klingon-8'" in d for d in parsed.defects)
    assert "Reporting State: Kenya" in parsed.text
    assert "café windows broken" in parsed.text  # not UTF-8: read as Latin-1


def test_broken_mime_boundaries() -> None:
    parsed = parse_fixture("broken_mime_boundary.eml")
    assert "CloseBoundaryNotFoundDefect" in parsed.defects
    assert "Reporting State: France" in parsed.text


def test_bad_base64_is_reported_as_a_defect() -> None:
    parsed = parse_fixture("bad_base64.eml")
    assert "InvalidBase64CharactersDefect" in parsed.defects
    assert parsed.text.startswith("Form: violation report\nReporting State: France")
    assert [a.filename for a in parsed.attachments] == ["annex.pdf"]


def test_html_only() -> None:
    parsed = parse_fixture("html_only.eml")
    assert parsed.html is not None and "<table>" in parsed.html
    assert "Brazil" in parsed.text and "Brasília" in parsed.text
    assert "<td>" not in parsed.text
    assert parsed.subject == "Relatório"


def test_threading_headers() -> None:
    parsed = parse_fixture("state_reply_cc_desk.eml")
    assert parsed.in_reply_to == "<letter-7@example.test>"
    assert parsed.thread_ids == ("<letter-7@example.test>", "<report-1.fra@example.test>")
    assert parsed.cc == ("mailbot@example.test",)


# -- bounces ----------------------------------------------------------------------------


def test_postfix_bounce_recipients() -> None:
    raw = (FIXTURES / "bounce_postfix.eml").read_bytes()
    assert bounce_info(raw) == BounceInfo(permanent=("undeliverable@example.test",))
    assert bounced_addresses(raw) == ("undeliverable@example.test",)
    assert parse_message(raw).content_type == "multipart/report"


def test_ordinary_mail_has_no_bounce_recipients() -> None:
    for name in ("state_report.eml", "ooo_exchange.eml", "mailing_list.eml", "no_from.eml"):
        assert not bounce_info((FIXTURES / name).read_bytes()), name


def test_temporary_failures_come_after_permanent_ones() -> None:
    raw = (FIXTURES / "bounce_postfix.eml").read_bytes()
    delayed = raw.replace(b"Action: failed\r\nStatus: 5.1.1", b"Action: delayed\r\nStatus: 4.4.1")
    assert delayed != raw
    info = bounce_info(delayed)
    assert info.permanent == ()
    assert info.temporary == ("undeliverable@example.test",)
    assert info.addresses == ("undeliverable@example.test",)


def test_a_bounce_returning_a_large_message_is_scanned_from_its_head() -> None:
    raw = (FIXTURES / "bounce_postfix.eml").read_bytes()
    returned_body = b"\r\nThe Secretary-General of the United Nations presents"
    assert raw.count(returned_body) == 1
    annex = b"\r\n" + b"A" * 76 * 8 * (SCAN_LIMIT // 76) + b"\r\n"  # about 2 MB of returned text
    large = raw.replace(returned_body, annex + returned_body)
    assert len(large) > 8 * SCAN_LIMIT
    assert bounce_info(large) == BounceInfo(permanent=("undeliverable@example.test",))
    # the scan limit is what keeps the recipients: the reports come before the returned mail
    assert bounce_info(large, limit=len(raw) // 2) == BounceInfo()


def test_a_large_ordinary_message_is_no_bounce() -> None:
    assert bounce_info(big_message(4 * SCAN_LIMIT)) == BounceInfo()


@pytest.mark.parametrize(
    "raw", [b"", b"\x00\xff" * 50, b"Content-Type: multipart/report\n\n--", b"From: <>\n\n"]
)
def test_bounce_info_never_raises(raw: bytes) -> None:
    assert bounce_info(raw) == BounceInfo()


# -- generated monsters -----------------------------------------------------------------


def test_committed_nested_fixture_matches_its_generator() -> None:
    assert (FIXTURES / "nested_3000.eml").read_bytes() == nested_multipart()


def test_three_thousand_nested_multiparts_do_not_crash() -> None:
    raw = nested_multipart()
    parsed = parse_or_parse_error(raw)
    if parsed is not None:
        assert parsed.defects
    assert bounce_info(raw) == BounceInfo()


def test_nesting_beyond_the_walk_limit_is_a_defect() -> None:
    parsed = parse_message(nested_multipart(MAX_DEPTH + 20))
    assert f"MIME nesting deeper than {MAX_DEPTH} levels; not read further" in parsed.defects
    assert parsed.text == ""


@pytest.mark.slow
def test_thirty_megabyte_message_parses_with_bounded_memory() -> None:
    raw = big_message()
    assert len(raw) >= BIG_SIZE * 0.95
    tracemalloc.start()
    try:
        parsed = parse_message(raw)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    ratio = peak / len(raw)
    print(f"\n30 MB message: {len(raw)} bytes, parse peak {peak} bytes ({ratio:.2f}x)")
    assert parsed.attachments[0].size == BIG_SIZE * 3 // 4
    assert parsed.text == "Please find the annex attached."
    # the stdlib parser holds the message several times over; twice that would be a regression
    assert ratio < 10


# -- the standard library's own test messages ---------------------------------------------


def stdlib_messages() -> list[Path]:
    return sorted(STDLIB_DATA.glob("msg_*.txt")) if STDLIB_DATA.is_dir() else []


def test_stdlib_test_messages_parse_and_classify() -> None:
    messages = stdlib_messages()
    if not messages:
        pytest.skip(f"no CPython email test data at {STDLIB_DATA} (test package not installed)")
    print(f"\n{len(messages)} CPython email test messages in {STDLIB_DATA}")
    parsed_count = 0
    for path in messages:
        raw = path.read_bytes()
        parsed = parse_or_parse_error(raw)
        if parsed is None:
            continue
        parsed_count += 1
        result = classify(parsed, CONTEXT, bounced_addresses(raw))
        assert result.rules, path.name
        assert isinstance(result.kind, MailClass)
    print(f"{parsed_count} parsed, {len(messages) - parsed_count} refused with ParseError")
    assert parsed_count > len(messages) // 2


# -- the single-part reading is the standard library's own -------------------------------------

#: header sections that are not a clean run of headers, and other edges of the shortcut
EDGE_CASES = [
    b"A: b\r\rbody\n\nmore",  # a bare CR ends a line for the stdlib
    b"\n\nbody",  # no header at all
    b"A: b\n\r\nbody",
    b"A: b\r\n\nbody",
    b"A: b\nnot a header\n\nbody",  # a stray line in the header section
    b"A: b\n\n",
    b"A: b\n c\n\nbody",  # a folded header
    b"From nobody Mon Jan  1 00:00:00 2024\nA: b\n\nbody",  # an mbox From_ line
    b"Subject: \xe9t\xe9\n\nbody \xff\n",  # 8-bit bytes in the header and the body
    b"Content-Type: multipart/mixed\n\nx",  # multipart without a boundary
    b"Content-Type: message/rfc822\n\nA: b\n\nc",
    b"Content-Type: TEXT/plain\n\nbody\r\nline\rline\n",
    b"A: b",  # no end of the header section
]


def _stdlib(raw: bytes) -> Message:
    parser = BytesFeedParser(policy=policy.compat32)
    parser.feed(raw)
    return parser.close()


def _samples() -> list[tuple[str, bytes]]:
    found = [(p.name, p.read_bytes()) for p in sorted(FIXTURES.glob("*.eml"))]
    found += [(p.name, p.read_bytes()) for p in stdlib_messages()]
    return found + [(f"edge {i}", raw) for i, raw in enumerate(EDGE_CASES)]


def test_single_part_messages_read_as_the_stdlib_reads_them() -> None:
    """Where the shortcut reads a message, the result is what the whole parser gives:
    the same headers, body, defects and bytes; elsewhere it declines."""
    taken = declined = 0
    for name, raw in _samples():
        mine = _parse_single_part(raw)
        if mine is None:
            declined += 1
            continue
        taken += 1
        theirs = _stdlib(raw)
        assert mine.items() == theirs.items(), name
        assert mine.get_payload() == theirs.get_payload(), name
        assert [type(d) for d in mine.defects] == [type(d) for d in theirs.defects], name
        assert mine.get_unixfrom() == theirs.get_unixfrom(), name
        assert mine.as_bytes() == theirs.as_bytes(), name
    assert taken > 20 and declined > 10, (taken, declined)


@pytest.mark.parametrize("raw", [EDGE_CASES[0], EDGE_CASES[1], EDGE_CASES[4], EDGE_CASES[9],
                                 EDGE_CASES[10], EDGE_CASES[12]])
def test_the_shortcut_declines_what_is_not_a_clean_single_part(raw: bytes) -> None:
    assert _parse_single_part(raw) is None


# --- header shapes the world sends ------------------------------------------------------------

def _with_part(part: str, encoding: str = "utf-8") -> bytes:
    return ("From: focal@mission.test\r\nTo: desk@example.test\r\nSubject: report\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n"
            "--BB\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            f"--BB\r\n{part}--BB--\r\n").encode(encoding)


ATTACHMENT_HEADERS = [
    ("raw UTF-8 name (a mail client in Russia)",
     'Content-Type: application/zip; name="ФНС_РФ558.zip"\r\n'
     'Content-Disposition: attachment; filename="ФНС_РФ558.zip"\r\n', "utf-8", "ФНС_РФ558.zip"),
    ("raw Windows-1252 name",
     'Content-Type: application/pdf; name="résumé.pdf"\r\n'
     'Content-Disposition: attachment; filename="résumé.pdf"\r\n', "cp1252", "résumé.pdf"),
    ("raw 8-bit disposition without a name",
     'Content-Type: application/pdf\r\nContent-Disposition: attachment; x-note="été"\r\n',
     "utf-8", None),
    ("a broken encoded-word",
     'Content-Type: application/pdf\r\nContent-Disposition: attachment; '
     'filename="=?utf-8?Q?a=ZZb?=.pdf"\r\n', "utf-8", "a=ZZb .pdf"),
    ("an encoded-word with an unknown charset",
     'Content-Type: application/pdf\r\nContent-Disposition: attachment; '
     'filename="=?x-unknown?B?YWJj?=.pdf"\r\n', "utf-8", None),
    ("RFC 2231 with an unknown charset",
     "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
     "filename*=unknown-charset''%E9t%E9.pdf\r\n", "utf-8", "été.pdf"),
    ("RFC 2231 continuations with a gap",
     "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
     "filename*0*=utf-8''%D0%A4; filename*1=.pdf; filename*3=x\r\n", "utf-8", None),
    ("a parameter list that is all punctuation",
     'Content-Type: ;;;==\r\nContent-Disposition: ===; "\r\n', "utf-8", None),
    ("an 8-bit charset name",
     'Content-Type: text/plain; charset="\xff\xfe"\r\n', "latin-1", None),
]


@pytest.mark.parametrize(("what", "headers", "encoding", "name"), ATTACHMENT_HEADERS,
                         ids=[c[0] for c in ATTACHMENT_HEADERS])
def test_attachment_headers_parse(what: str, headers: str, encoding: str, name: str | None) -> None:
    mail = parse_message(_with_part(headers + "\r\nJVBERi0=\r\n", encoding))
    assert mail.text.startswith("See the attachment.")
    if name is not None:
        assert [a.filename for a in mail.attachments] == [name]


# --- HTML keeps its structure -----------------------------------------------------------------

OUTLOOK_CELL = """<html><body><table>
<tr><td><p class=MsoNormal>Description of the facts:</p></td>
<td><p class=MsoNormal>A demonstration took place (case BLUEHERON).</p>
<p class=MsoNormal>The police arrived at 10:00.</p></td></tr>
<tr><td>Place:</td><td>Nairobi<br>Kenya</td></tr>
</table></body></html>"""


def test_two_paragraphs_of_one_table_cell_stay_two() -> None:
    from mailbot.mail.parse import html_to_text

    text = html_to_text(OUTLOOK_CELL)
    assert "BLUEHERON).The" not in text
    lines = [line.strip() for line in text.splitlines()]
    assert "The police arrived at 10:00." in lines
    assert any(line.endswith("A demonstration took place (case BLUEHERON).") for line in lines)
    assert "Kenya" in lines
