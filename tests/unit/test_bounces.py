"""Bounces recognised from any server: the real corpus, the subject table and its false positives.

Every ``.eml`` of tests/fixtures/bounces goes through the real ``parse_message``,
``bounce_info`` and ``classify``, as intake does, and must come out as a bounce
or an automatic notice: a class the desk never answers. Synthetic cases check
that mail a person writes (a State quoting such words, a focal point forwarding
a bounce) is not taken for one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eml_fixtures import load_eml_fixtures

from mailbot.domain.bounces import NONDELIVERY_SUBJECTS, nondelivery_subject
from mailbot.domain.classify import classify
from mailbot.domain.types import NEVER_ANSWER, Classification, InboundMail, MailClass, MailContext
from mailbot.mail.bounces import bounce_info, looks_like_bounce
from mailbot.mail.parse import parse_message

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
CTX: MailContext = load_eml_fixtures().CONTEXT
FRA = "fp.fra@example.test"
OFFICER = "officer@example.test"
STRANGER = "someone@elsewhere.example"
K = MailClass

REPORTS = sorted(p.name for p in CORPUS.glob("*.eml"))


def classify_report(name: str) -> Classification:
    raw = (CORPUS / name).read_bytes()
    return classify(parse_message(raw), CTX, bounce_info(raw).addresses)


def mail(sender: str = STRANGER, subject: str = "Report", **fields: Any) -> InboundMail:
    headers = tuple((n.lower(), v) for n, v in fields.pop("headers", ()))
    base: dict[str, Any] = {
        "message_id": "<m1@example.org>",
        "from_addr": sender,
        "to": ("mailbot@example.test",),
        "subject": subject,
        "headers": (("from", sender), ("subject", subject), *headers),
    }
    base.update(fields)
    return InboundMail(**base)


# -- the corpus ---------------------------------------------------------------------------


def test_the_corpus_is_large_and_documented() -> None:
    assert len(REPORTS) >= 20
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    assert "BSD 2-Clause" in readme
    for name in REPORTS:
        assert f"`{name}`" in readme, f"{name} is not listed in tests/fixtures/bounces/README.md"


@pytest.mark.parametrize("name", REPORTS)
def test_every_real_report_is_never_answered(name: str) -> None:
    result = classify_report(name)
    assert result.kind in (K.BOUNCE, K.AUTO_REPLY), f"{name} classified {result.kind.value}: {result.notes}"
    assert result.kind in NEVER_ANSWER
    assert not result.answerable, f"{name} would be answered: {result.notes}"
    assert result.state_code is None, name


@pytest.mark.parametrize("name", REPORTS)
def test_every_real_report_is_worth_scanning(name: str) -> None:
    # intake scans a message for failing recipients only when it looks like a bounce
    assert looks_like_bounce(parse_message((CORPUS / name).read_bytes())), name


def test_classifying_the_corpus_stays_fast() -> None:
    raws = [(CORPUS / name).read_bytes() for name in REPORTS]
    mails = [parse_message(raw) for raw in raws]
    start = time.perf_counter()
    for message in mails:
        classify(message, CTX)
    per_message = (time.perf_counter() - start) / len(mails)
    assert per_message < 0.005, f"{per_message * 1000:.2f} ms per message"


# -- the shapes named in the issue, one at a time ----------------------------------------

SHAPES: list[tuple[str, InboundMail]] = [
    ("ndr@ sender", mail("ndr@mail.example.org", "Mail delivery failed: returning message to sender")),
    ("NDR@ in capitals", mail("NDR@Mail.Example.org", "Hello")),
    (
        "System Administrator",
        mail("sysadmin@gw.example.org", "Delivery Failure", from_name="System Administrator"),
    ),
    (
        "From: Postmaster <>",
        mail("", "Undeliverable mail - returning to sender", headers=(("From", "Postmaster <>"),)),
    ),
    (
        "From: <Postmaster\\@example.com@xxx.com>",
        mail("", "Hello", headers=(("From", "<Postmaster\\@example.com@xxx.com>"),)),
    ),
    ("From: mailer-daemon (no domain)", mail("", "x", headers=(("From", "mailer-daemon"),))),
    ("X-Failed-Recipients", mail(headers=(("X-Failed-Recipients", "a@example.org"),))),
    ("Return-Path <MAILER-DAEMON>", mail(headers=(("Return-Path", "<MAILER-DAEMON>"),))),
    (
        "report-type in capitals and quotes",
        mail(
            content_type="multipart/report",
            headers=(("Content-Type", 'multipart/report; report-type="Delivery-Status"; boundary=b'),),
        ),
    ),
    ("InterScan", mail("virus@gw.example.org", "Mail could not be delivered")),
    ("gateway notice", mail("gw@example.org", "Delivery failure notification")),
    ("error during delivery", mail("gw@example.org", "Returned Mail - Error During Delivery")),
    ("French", mail("gw@example.org", "non remis (delivery failed)")),
    ("German", mail("gw@example.org", "Unzustellbar: Bericht")),
    ("Spanish", mail("gw@example.org", "No se puede entregar: Informe")),
    ("Italian", mail("gw@example.org", "Non recapitabile: Rapporto")),
    ("Dutch", mail("gw@example.org", "Onbestelbaar: Rapport")),
    ("Russian", mail("gw@example.org", "Не доставлено: отчёт")),
    ("Chinese", mail("gw@example.org", "系统退信")),
    ("Polish", mail("gw@example.org", "Niedostarczalne: Raport")),
    ("asterisks", mail("gw@example.org", "**Message you sent blocked by our bulk email filter**")),
]


@pytest.mark.parametrize(("label", "message"), SHAPES, ids=[s[0] for s in SHAPES])
def test_each_shape_is_a_bounce(label: str, message: InboundMail) -> None:
    result = classify(message, CTX)
    assert result.kind is K.BOUNCE, result.notes
    assert looks_like_bounce(message)


def test_an_antivirus_notice_is_automatic() -> None:
    result = classify(mail("scanner@gw.example.org", "VIRUS ALERT: report.doc"), CTX)
    assert result.kind is K.AUTO_REPLY
    assert "bounce-subject" in result.rules


def test_every_table_entry_matches_at_the_start_only() -> None:
    for pattern, _kind in NONDELIVERY_SUBJECTS:
        assert not pattern.startswith("^"), pattern  # anchoring is added once, for all
    assert nondelivery_subject("Undeliverable: report") is not None
    assert nondelivery_subject("Report: undeliverable") is None


# -- false positives ---------------------------------------------------------------------

PEOPLE: list[tuple[str, InboundMail, MailClass]] = [
    ("a State quoting the word", mail(FRA, "Re: report on the undeliverable diplomatic pouch"), K.STATE),
    ("a State forwarding a bounce", mail(FRA, "Fwd: Undeliverable: Report of 3 March"), K.STATE),
    ("a stranger forwarding a bounce", mail(STRANGER, "Fwd: Mail delivery failed"), K.UNKNOWN),
    ("a reply to a bounce", mail(STRANGER, "RE: Delivery Status Notification (Failure)"), K.UNKNOWN),
    (
        "a State whose subject starts with the words",
        mail(FRA, "Undeliverable diplomatic pouch seized at the border"),
        K.STATE,
    ),
    ("the Secretariat, same words", mail(OFFICER, "Returned mail from the mission"), K.SECRETARIAT),
    ("a report on delivery status", mail(FRA, "Delivery status of the humanitarian convoy"), K.STATE),
    (
        "a State signed 'System Administrator'",
        mail(FRA, "Report", from_name="System Administrator"),
        K.STATE,
    ),
    ("a State with X-Failed-Recipients", mail(FRA, headers=(("X-Failed-Recipients", "a@b.test"),)), K.STATE),
    ("a postmaster-like name inside a word", mail("postmasters.union@example.org", "Hello"), K.UNKNOWN),
]


@pytest.mark.parametrize(("label", "message", "kind"), PEOPLE, ids=[p[0] for p in PEOPLE])
def test_mail_written_by_people_is_not_a_bounce(label: str, message: InboundMail, kind: MailClass) -> None:
    result = classify(message, CTX)
    assert result.kind is kind, result.notes


def test_a_forwarded_bounce_keeps_its_evidence_in_the_notes() -> None:
    result = classify(mail(FRA, "Undeliverable: Report"), CTX)
    assert result.kind is K.STATE
    assert "bounce-subject" in result.rules
    assert any("not decisive" in note for note in result.notes)


# -- failing recipients that flufl.bounce misses -----------------------------------------


def test_failed_recipient_lines_and_x_failed_recipients_are_extracted() -> None:
    raw = (
        b'From: "System Administrator" <admin@gw.example.org>\n'
        b"Subject: Delivery Failure\n"
        b"X-Failed-Recipients: first@example.org, <second@example.org>\n"
        b"Content-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: text/plain\n\n"
        b"Your message could not be delivered.\n"
        b"Failed Recipient: Someone <Third@Example.org>\n"
        b"--b\nContent-Type: message/rfc822\n\n"
        b"From: a@b.example\nSubject: x\n\nFailed Recipient: quoted@example.org\n"
        b"--b--\n"
    )
    info = bounce_info(raw)
    assert set(info.addresses) == {"first@example.org", "second@example.org", "third@example.org"}
    result = classify(parse_message(raw), CTX, info.addresses)
    assert result.kind is K.BOUNCE
    assert "bounce-failed-recipients" in result.rules


def test_hostile_input_yields_nothing() -> None:
    assert not bounce_info(b"\x00\xff" * 100)
    assert not bounce_info(b"Content-Type: text/plain; charset=nonsense\n\nFailed Recipient: \xff@\n")
