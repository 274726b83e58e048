"""The classify stage: each .eml fixture and each rule of the table, and their precedence.

Pure unit tests: real fixtures from tests/fixtures/eml go through the real
``parse_message`` and ``bounce_info``; synthetic cases build an InboundMail
directly so each rule can be exercised alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from eml_fixtures import FIXTURES
from eml_fixtures import load_eml_fixtures as _load_eml_fixtures

from mailbot.domain.classify import (
    PRECEDENCE,
    RULE_NAMES,
    RULES,
    classify,
)
from mailbot.domain.types import Classification, InboundMail, MailClass, MailContext
from mailbot.mail.bounces import bounce_info
from mailbot.mail.parse import parse_message

#: the desk and the people the fixtures are written for
CTX: MailContext = _load_eml_fixtures().CONTEXT

DESK = "mailbot@example.test"
OFFICER = "officer@example.test"
FRA = "fp.fra@example.test"
STRANGER = "someone@elsewhere.example"

K = MailClass


def classify_fixture(name: str) -> Classification:
    raw = (FIXTURES / name).read_bytes()
    return classify(parse_message(raw), CTX, bounce_info(raw).addresses)


def mail(
    sender: str = FRA,
    *,
    to: tuple[str, ...] = (DESK,),
    cc: tuple[str, ...] = (),
    headers: tuple[tuple[str, str], ...] = (),
    **fields: Any,
) -> InboundMail:
    """A synthetic message: From ``sender`` to the desk unless told otherwise."""
    base: dict[str, Any] = {
        "message_id": "<m1@example.test>",
        "from_addr": sender,
        "to": to,
        "cc": cc,
        "subject": "Report",
        "headers": tuple((name.lower(), value) for name, value in headers),
    }
    base.update(fields)
    return InboundMail(**base)


# -- the fixtures -----------------------------------------------------------------------

#: fixture -> (class, every rule that matches, in table order, State code, bounced)
FIXTURE_CASES: list[tuple[str, MailClass, tuple[str, ...], str | None, tuple[str, ...]]] = [
    ("state_report.eml", K.STATE, ("from-focal-point",), "FRA", ()),
    ("secretariat_to_desk.eml", K.SECRETARIAT, ("from-secretariat",), None, ()),
    ("cc_only_officer_to_fp.eml", K.CORRESPONDENCE, ("cc-only", "from-secretariat"), None, ()),
    ("state_reply_cc_desk.eml", K.CORRESPONDENCE, ("cc-only", "from-focal-point"), "FRA", ()),
    ("no_message_id.eml", K.STATE, ("from-focal-point",), "DEU", ()),
    ("duplicate_message_id_a.eml", K.STATE, ("from-focal-point",), "BRA", ()),
    ("duplicate_message_id_b.eml", K.STATE, ("from-focal-point",), "BRA", ()),
    ("no_from.eml", K.UNKNOWN, ("unknown-sender",), None, ()),
    ("raw_8bit_headers_utf8.eml", K.STATE, ("from-focal-point",), "FRA", ()),
    ("raw_8bit_headers_latin1.eml", K.STATE, ("from-focal-point",), "DEU", ()),
    ("unknown_charset.eml", K.STATE, ("from-focal-point",), "KEN", ()),
    ("broken_mime_boundary.eml", K.STATE, ("from-focal-point",), "FRA", ()),
    ("bad_base64.eml", K.STATE, ("from-focal-point",), "FRA", ()),
    ("html_only.eml", K.STATE, ("from-focal-point",), "BRA", ()),
    (
        "ooo_exchange.eml",
        K.AUTO_REPLY,
        (
            "auto-submitted",
            "exchange-auto-response-suppress",
            "subject-auto-reply",
            "from-focal-point",
        ),
        "DEU",
        (),
    ),
    (
        "ooo_gmail_vacation.eml",
        K.AUTO_REPLY,
        ("auto-submitted", "precedence-bulk", "x-autoreply", "from-focal-point"),
        "KEN",
        (),
    ),
    (
        "own_message.eml",
        K.OWN,
        ("own-loop-header", "own-message-id", "own-from", "auto-submitted"),
        None,
        (),
    ),
    ("mailing_list.eml", K.LIST, ("precedence-bulk", "list-id", "unknown-sender"), None, ()),
    # a registered address whose mail our server failed: filed as a State's, but unproven
    ("spoofed_dmarc_fail.eml", K.STATE, ("from-focal-point",), "FRA", ()),
    ("forged_auth_results_untrusted.eml", K.STATE, ("from-focal-point",), "DEU", ()),
    (
        "bounce_postfix.eml",
        K.BOUNCE,
        (
            "bounce-dsn",
            "bounce-sender",
            "bounce-addresses",
            "bounce-subject",
            "auto-submitted",
            "unknown-sender",
        ),
        None,
        ("undeliverable@example.test",),
    ),
]


@pytest.mark.parametrize(
    ("name", "kind", "rules", "state_code", "bounced"),
    FIXTURE_CASES,
    ids=[case[0] for case in FIXTURE_CASES],
)
def test_fixture_classification(
    name: str,
    kind: MailClass,
    rules: tuple[str, ...],
    state_code: str | None,
    bounced: tuple[str, ...],
) -> None:
    result = classify_fixture(name)
    assert result.kind is kind, result.notes
    assert result.rules == rules, result.notes
    assert result.state_code == state_code
    assert result.bounced == bounced
    assert result.notes[-1].startswith(f"class {kind.value}, decided by ")


def test_every_committed_fixture_has_a_classification_case() -> None:
    committed = {p.name for p in FIXTURES.glob("*.eml")} - {"nested_3000.eml"}
    assert committed == {case[0] for case in FIXTURE_CASES}


def test_bounces_and_auto_replies_are_never_answered() -> None:
    for name in (
        "bounce_postfix.eml",
        "ooo_exchange.eml",
        "ooo_gmail_vacation.eml",
        "own_message.eml",
        "mailing_list.eml",
    ):
        assert not classify_fixture(name).answerable, name
    assert classify_fixture("state_report.eml").answerable


# -- the table itself -------------------------------------------------------------------


def test_rule_names_are_stable() -> None:
    # stored in the database with every message: a rename must be a deliberate migration
    assert RULE_NAMES == (
        "own-loop-header",
        "own-message-id",
        "own-from",
        "bounce-dsn",
        "bounce-sender",
        "bounce-addresses",
        "bounce-failed-recipients",
        "bounce-subject",
        "auto-submitted",
        "precedence-bulk",
        "x-autoreply",
        "exchange-auto-response-suppress",
        "subject-auto-reply",
        "list-id",
        "ambiguous-sender",
        "cc-only",
        "from-secretariat",
        "from-focal-point",
        "unknown-sender",
    )


def test_table_is_in_precedence_order() -> None:
    ranks = [PRECEDENCE.index(rule.kind) for rule in RULES]
    assert ranks == sorted(ranks)
    assert set(PRECEDENCE) == set(MailClass)


# -- one rule at a time -----------------------------------------------------------------

LOOP = ("X-Mailbot-Loop", "mailbot")
DSN_TYPE = ("Content-Type", 'multipart/report; report-type="delivery-status"; boundary="x"')

RULE_CASES: list[tuple[str, InboundMail, MailClass, tuple[str, ...]]] = [
    # own-*
    ("loop header", mail(headers=(LOOP,)), K.OWN, ("own-loop-header", "from-focal-point")),
    (
        "loop header of another deployment",
        mail(headers=(("X-Mailbot-Loop", "mailbot-staging"),)),
        K.STATE,
        ("from-focal-point",),
    ),
    (
        "our Message-ID",
        mail(message_id="<x.1@MAILBOT.example.test>"),
        K.OWN,
        ("own-message-id", "from-focal-point"),
    ),
    (
        "a Message-ID in a look-alike domain",
        mail(message_id="<x.1@evil-mailbot.example.test>"),
        K.STATE,
        ("from-focal-point",),
    ),
    ("our From, with a +token", mail("mailbot+dcm-7@example.test"), K.OWN, ("own-from",)),
    # bounce-*
    (
        "delivery-status report",
        mail(STRANGER, content_type="multipart/report", headers=(DSN_TYPE,)),
        K.BOUNCE,
        ("bounce-dsn", "unknown-sender"),
    ),
    (
        "read receipt is not a bounce",
        mail(
            STRANGER,
            content_type="multipart/report",
            headers=(("Content-Type", "multipart/report; report-type=disposition-notification"),),
        ),
        K.UNKNOWN,
        ("unknown-sender",),
    ),
    (
        "MAILER-DAEMON",
        mail("mailer-daemon@mx.example.org"),
        K.BOUNCE,
        ("bounce-sender", "unknown-sender"),
    ),
    ("postmaster", mail("postmaster@example.org"), K.BOUNCE, ("bounce-sender", "unknown-sender")),
    (
        "null Return-Path",
        mail(STRANGER, headers=(("Return-Path", "<>"),)),
        K.BOUNCE,
        ("bounce-sender", "unknown-sender"),
    ),
    (
        "null Return-Path of an RFC 3834 auto-reply is not a bounce",
        mail(FRA, headers=(("Return-Path", "<>"), ("Auto-Submitted", "auto-replied"))),
        K.AUTO_REPLY,
        ("auto-submitted", "from-focal-point"),
    ),
    # auto-replies
    (
        "Auto-Submitted: auto-generated with a parameter",
        mail(headers=(("Auto-Submitted", "Auto-Generated; owner-email=x@example.test"),)),
        K.AUTO_REPLY,
        ("auto-submitted", "from-focal-point"),
    ),
    (
        "Auto-Submitted: no",
        mail(headers=(("Auto-Submitted", "no"),)),
        K.STATE,
        ("from-focal-point",),
    ),
    (
        "Precedence: junk",
        mail(headers=(("Precedence", "junk"),)),
        K.AUTO_REPLY,
        ("precedence-bulk", "from-focal-point"),
    ),
    (
        "Precedence: list decides a list",
        mail(STRANGER, headers=(("Precedence", "list"),)),
        K.LIST,
        ("precedence-bulk", "unknown-sender"),
    ),
    (
        "Precedence: first-class",
        mail(headers=(("Precedence", "first-class"),)),
        K.STATE,
        ("from-focal-point",),
    ),
    (
        "X-Autorespond",
        mail(headers=(("X-Autorespond", "vacation"),)),
        K.AUTO_REPLY,
        ("x-autoreply", "from-focal-point"),
    ),
    (
        "X-Auto-Response-Suppress: OOF",
        mail(headers=(("X-Auto-Response-Suppress", "DR, OOF"),)),
        K.AUTO_REPLY,
        ("exchange-auto-response-suppress", "from-focal-point"),
    ),
    (
        "X-Auto-Response-Suppress of receipts only",
        mail(headers=(("X-Auto-Response-Suppress", "DR, RN, NRN"),)),
        K.STATE,
        ("from-focal-point",),
    ),
    # lists
    (
        "List-Unsubscribe alone",
        mail(STRANGER, headers=(("List-Unsubscribe", "<mailto:leave@lists.example.org>"),)),
        K.LIST,
        ("list-id", "unknown-sender"),
    ),
    # a From line that is not one mailbox
    (
        "two mailboxes in From",
        mail(headers=(("From", f"{FRA}, attacker@evil.test"),)),
        K.SPOOFED,
        ("ambiguous-sender", "from-focal-point"),
    ),
    (
        "the officer's address before the attacker's",
        mail(OFFICER, headers=(("From", f"{OFFICER} <attacker@evil.test>"),)),
        K.SPOOFED,
        ("ambiguous-sender", "from-secretariat"),
    ),
    # correspondence
    (
        "the desk only in Cc of a Secretariat letter",
        mail(OFFICER, to=(FRA,), cc=(DESK,)),
        K.CORRESPONDENCE,
        ("cc-only", "from-secretariat"),
    ),
    (
        "the desk only in Cc, +token address",
        mail(FRA, to=(OFFICER,), cc=("MailBot+DCM-2026-0007@example.test",)),
        K.CORRESPONDENCE,
        ("cc-only", "from-focal-point"),
    ),
    (
        "the desk only in Cc of a stranger's letter",
        mail(STRANGER, to=(FRA,), cc=(DESK,)),
        K.UNKNOWN,
        ("cc-only", "unknown-sender"),
    ),
    (
        "the desk in To and Cc",
        mail(OFFICER, to=(DESK,), cc=(DESK, FRA)),
        K.SECRETARIAT,
        ("from-secretariat",),
    ),
    (
        "the desk in neither To nor Cc (Bcc)",
        mail(OFFICER, to=(FRA,)),
        K.SECRETARIAT,
        ("from-secretariat",),
    ),
    # senders
    (
        "a focal point, address in capitals",
        mail("FP.BRA@Example.Test"),
        K.STATE,
        ("from-focal-point",),
    ),
    ("no From at all", mail(""), K.UNKNOWN, ("unknown-sender",)),
]


@pytest.mark.parametrize(
    ("label", "message", "kind", "rules"), RULE_CASES, ids=[case[0] for case in RULE_CASES]
)
def test_rule(label: str, message: InboundMail, kind: MailClass, rules: tuple[str, ...]) -> None:
    result = classify(message, CTX)
    assert result.kind is kind, result.notes
    assert result.rules == rules, result.notes


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Report",
        "out of the office until 3 March",
        "Automatic reply: [DCM-2026-0007] Circulation",
        "AutoReply: your message",
        "Auto-Response",
        "Réponse automatique : Rapport",
        "Respuesta automática: Informe",
        "Absence",
        "Absence : Rapport",
        "Absent du bureau",
        "Auto: Report",
        "Abwesenheitsnotiz: Bericht",
        "Автоматический ответ: отчёт",
    ],
)
def test_auto_reply_subjects(subject: str) -> None:
    result = classify(mail(subject=subject), CTX)
    assert result.kind is K.AUTO_REPLY
    assert "subject-auto-reply" in result.rules


@pytest.mark.parametrize(
    "subject",
    [
        "Absence of police protection at the embassy",
        "Report on automatic weapons used in the attack",
        "Re: Out of Office",
        "Follow-up: out of office hours attack",
        "Autonomous region: violation report",
        "Automobile set on fire near the consulate",
    ],
)
def test_ordinary_subjects_are_not_auto_replies(subject: str) -> None:
    result = classify(mail(subject=subject), CTX)
    assert result.kind is K.STATE
    assert "subject-auto-reply" not in result.rules


def test_bounce_addresses_fill_the_classification() -> None:
    result = classify(mail(STRANGER), CTX, bounced=["X@Example.Org", "x@example.org", " "])
    assert result.kind is K.BOUNCE
    assert result.rules == ("bounce-addresses", "unknown-sender")
    assert result.bounced == ("x@example.org",)


def test_bounce_addresses_from_a_registered_sender_are_evidence_only() -> None:
    # a focal point forwarding a bounce it received is still the focal point writing
    result = classify(mail(FRA), CTX, bounced=["x@example.org"])
    assert result.kind is K.STATE
    assert result.rules == ("bounce-addresses", "from-focal-point")
    assert result.bounced == ()
    assert any("not decisive" in note for note in result.notes)


def test_no_from_is_explained() -> None:
    result = classify(mail(""), CTX)
    assert "unknown-sender: no From address" in result.notes


def test_every_matching_rule_has_a_note() -> None:
    result = classify_fixture("ooo_exchange.eml")
    for name in result.rules:
        assert any(note.startswith(f"{name}: ") for note in result.notes), name
    assert result.notes[-1] == "class auto_reply, decided by auto-submitted"


# -- precedence -------------------------------------------------------------------------

TWO_FROM = ("From", f"{FRA}, attacker@evil.test")

PRECEDENCE_CASES: list[tuple[str, InboundMail, MailClass]] = [
    (
        "own beats bounce",
        mail("mailer-daemon@example.test", headers=(LOOP,)),
        K.OWN,
    ),
    (
        "bounce beats auto-reply",
        mail(
            STRANGER,
            content_type="multipart/report",
            headers=(DSN_TYPE, ("Auto-Submitted", "auto-replied")),
        ),
        K.BOUNCE,
    ),
    (
        "auto-reply beats list",
        mail(STRANGER, headers=(("Auto-Submitted", "auto-replied"), ("List-Id", "<l.x>"))),
        K.AUTO_REPLY,
    ),
    (
        "an auto-reply's Precedence: list does not make it a list",
        mail(STRANGER, headers=(("Precedence", "list"), ("X-Autoreply", "yes"))),
        K.AUTO_REPLY,
    ),
    ("list beats spoofed", mail(FRA, headers=(TWO_FROM, ("List-Id", "<l.x>"))), K.LIST),
    (
        "spoofed beats correspondence",
        mail(FRA, to=(OFFICER,), cc=(DESK,), headers=(TWO_FROM,)),
        K.SPOOFED,
    ),
    ("correspondence beats secretariat", mail(OFFICER, to=(FRA,), cc=(DESK,)), K.CORRESPONDENCE),
    ("correspondence beats state", mail(FRA, to=(OFFICER,), cc=(DESK,)), K.CORRESPONDENCE),
]


@pytest.mark.parametrize(
    ("label", "message", "kind"), PRECEDENCE_CASES, ids=[case[0] for case in PRECEDENCE_CASES]
)
def test_precedence(label: str, message: InboundMail, kind: MailClass) -> None:
    assert classify(message, CTX).kind is kind


def test_secretariat_beats_state_for_an_address_in_both() -> None:
    ctx = MailContext(
        bot_addresses=CTX.bot_addresses,
        msgid_domain=CTX.msgid_domain,
        loop_header=CTX.loop_header,
        loop_value=CTX.loop_value,
        secretariat=frozenset({"dual@example.test"}),
        focal_points={"dual@example.test": "FRA"},
    )
    result = classify(mail("dual@example.test"), ctx)
    assert result.kind is K.SECRETARIAT
    assert result.rules == ("from-secretariat", "from-focal-point")


def test_spoofed_mail_carries_no_state_code() -> None:
    result = classify(mail(FRA, headers=(TWO_FROM,)), CTX)
    assert result.kind is K.SPOOFED
    assert result.state_code is None


# -- who really wrote: the class stays, the proof is recorded -----------------------------

MX = "mx.example.test"
TRUST_CASES: list[tuple[str, InboundMail, MailClass, bool]] = [
    ("no Authentication-Results", mail(headers=(("From", FRA),)), K.STATE, False),
    ("dmarc=pass for the From domain",
     mail(headers=(("Authentication-Results", f"{MX}; dmarc=pass header.from=example.test"),
                   ("From", FRA))), K.STATE, True),
    ("aligned dkim=pass",
     mail(OFFICER, headers=(("Authentication-Results", f"{MX}; dkim=pass header.d=example.test"),
                            ("From", OFFICER))), K.SECRETARIAT, True),
    ("dmarc=fail for a focal point",
     mail(headers=(("Authentication-Results", f"{MX}; dmarc=fail header.from=example.test"),
                   ("From", FRA))), K.STATE, False),
    ("spf=pass alone",
     mail(headers=(("Authentication-Results", f"{MX}; spf=pass smtp.mailfrom=example.test"),
                   ("From", FRA))), K.STATE, False),
    ("a pass written by another server",
     mail(headers=(("Authentication-Results", "mx.attacker.example; dmarc=pass"),
                   ("From", FRA))), K.STATE, False),
    ("a pass below the border (written by the sender)",
     mail(headers=(("Received", "from x by mx.example.test (Postfix); date"),
                   ("Authentication-Results", f"{MX}; dmarc=pass header.from=example.test"),
                   ("From", FRA))), K.STATE, False),
    ("a stranger proven", mail(STRANGER, headers=(
        ("Authentication-Results", f"{MX}; dkim=pass header.d=elsewhere.example"),
        ("From", STRANGER))), K.UNKNOWN, True),
]


@pytest.mark.parametrize(("label", "message", "kind", "verified"), TRUST_CASES,
                         ids=[case[0] for case in TRUST_CASES])
def test_who_really_wrote(label: str, message: InboundMail, kind: MailClass, verified: bool) -> None:
    ctx = MailContext(bot_addresses=CTX.bot_addresses, msgid_domain=CTX.msgid_domain,
                      loop_header=CTX.loop_header, loop_value=CTX.loop_value,
                      secretariat=CTX.secretariat, focal_points=CTX.focal_points,
                      authserv_ids=frozenset({MX}))
    result = classify(message, ctx)
    assert (result.kind, result.verified) == (kind, verified), result.proof
    assert any(n.startswith("sender ") for n in result.notes)
