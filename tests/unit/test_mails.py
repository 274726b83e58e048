"""Typed mail decisions: every mail kind renders in every language from its content class,
and each content class carries exactly the variables its templates use."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from jinja2 import meta

from mailbot.config import REPO_ROOT
from mailbot.domain import mails as m
from mailbot.domain.mails import CONTENTS, NOTE_FIELDS, REPLY_FIELDS, MailContent, MailKind
from mailbot.mail.render import LANGUAGES, MAIL_NAMES, Renderer
from mailbot.service.rendering import freeze, thaw

TEMPLATES = REPO_ROOT / "templates"
RECEIVED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
DAY = date(2026, 11, 20)
FORM = "Incident reference: DCM-2026-0007\nReporting State: France\n"
#: variables the renderer supplies itself
RENDERER_FIELDS = frozenset({"lang", "resolution"})
#: kinds sent only as answers to a received message (they get :data:`REPLY_FIELDS`)
ANSWERS = frozenset({MailKind.ACK_VIOLATION, MailKind.ACK_FOLLOW_UP, MailKind.ACK_VIEWS,
                     MailKind.CORRECTION, MailKind.HELD, MailKind.UNKNOWN_SENDER,
                     MailKind.COMMAND_RESULT, MailKind.CONFIRMATION_REQUEST})

MESSAGE = {"received_at": RECEIVED, "from_addr": "a@example.test", "subject": "Report",
           "reason": "not a party", "message_key": "<abc@example.test>"}
FAILURE = {"recipient": "b@example.test", "subject": "Note", "outbox_key": "attention:1:FRA",
           "error": "550 no such user", "failed_at": RECEIVED}
SUMMARY = [("Place", "Paris"), ("Description", "Windows broken")]

SAMPLES: dict[MailKind, MailContent] = {
    MailKind.ACK_VIOLATION: m.AckViolation(SUMMARY, [("photo.jpg", 2048)], "circulation_defaulted",
                                           RECEIVED, False, DAY),
    MailKind.ACK_FOLLOW_UP: m.AckFollowUp(SUMMARY, [], "confidential", None, True,
                                          ["justice", "outcome"]),
    MailKind.ACK_VIEWS: m.AckViews(SUMMARY, [], "circulate", None, False, "2026-2028"),
    MailKind.CORRECTION: m.Correction([("Date", "not a date")], FORM, "violation", None),
    MailKind.UNKNOWN_SENDER: m.UnknownSender(),
    MailKind.HELD: m.Held("not_party"),
    MailKind.CONFIRMATION_REQUEST: m.ConfirmationRequest("CNF-7Q2XK4M9RT3WAPLD", RECEIVED),
    MailKind.CIRCULATION: m.CirculationNote(
        "violation", "Mexico", DAY, SUMMARY, "2026-2028",
        [{"name": "photo.jpg", "size": 2048, "attached": True},
         {"name": "video.mp4", "size": 9 << 20, "attached": False}], "review@example.test"),
    MailKind.ATTENTION: m.Attention("host", "Mexico", DAY, DAY, "Paris", False, DAY, FORM),
    MailKind.REMINDER: m.Reminder("10 (b)", DAY, 2, True, ["outcome"], FORM),
    MailKind.ESCALATION: m.Escalation("10 (a)", DAY, 3, DAY, "reminder:3:1@2027-03-06", "France"),
    MailKind.CIRCULAR: m.Circular("2026-2028", 83, DAY,
                                  [{"title": "Violation", "filename": "violation-en.pdf",
                                    "text": FORM}]),
    MailKind.DIGEST: m.Digest(DAY, [MESSAGE], [], [{"address": "x@example.test", "count": 2,
                                                    "last_seen": RECEIVED}], [FAILURE]),
    MailKind.SECRETARIAT_NOTICE: m.SecretariatNotice("held", RECEIVED, "a@example.test", "Report",
                                                     "not a party", "<abc@example.test>",
                                                     ["mailbot messages show 1"]),
    MailKind.COMMAND_RESULT: m.CommandResult(["#help: done"], True, "#help"),
    MailKind.DELIVERY_FAILURE: m.DeliveryFailure([FAILURE]),
}


def context_of(content: MailContent, lang: str) -> dict[str, Any]:
    """The stored context as the outbox builds it (note frame, answer fields, own fields)."""
    frame = {"state_name": {"en": "France", "fr": "France", "es": "Francia"}[lang],
             "observer": False, "reference": "DCM-2026-0007",
             "note_reference": "LA/COD/61-31/DCM-2026-0007", "note_date": DAY,
             "confidential": False}
    answer = ({"received_at": RECEIVED, "original_subject": "Report",
               "sender_address": "a@example.test"} if content.kind in ANSWERS else {})
    return thaw(freeze({**frame, **answer, **content.context()}))


def test_every_kind_has_one_content_class_and_a_template() -> None:
    assert set(CONTENTS) == set(MailKind) == set(SAMPLES)
    assert {k.value for k in MailKind} == set(MAIL_NAMES)
    for kind, cls in CONTENTS.items():
        assert cls.kind is kind and isinstance(SAMPLES[kind], cls)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", list(MailKind))
def test_every_kind_renders_in_every_language(kind: MailKind, lang: str) -> None:
    rendered = Renderer(TEMPLATES).render(kind.value, lang, context_of(SAMPLES[kind], lang))
    assert rendered.lang == lang
    assert rendered.subject.strip() and rendered.text.strip()


def _variables(lang: str, kind: MailKind) -> tuple[set[str], set[str]]:
    """What a kind's templates read directly, and what the shared note pieces read."""
    env = Renderer(TEMPLATES).env
    found: set[str] = set()
    for part in ("txt", "subject", "html"):
        name = f"{lang}/{kind.value}.{part}.j2"
        if (TEMPLATES / "mail" / Path(name)).is_file():
            assert env.loader is not None
            source = env.loader.get_source(env, name)[0]
            found |= meta.find_undeclared_variables(env.parse(source))
    note = f"{lang}/_note.j2"
    shared = meta.find_undeclared_variables(env.parse(env.loader.get_source(env, note)[0])) \
        if env.loader is not None else set()
    return found, shared


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("kind", list(MailKind))
def test_content_fields_are_exactly_the_template_variables(kind: MailKind, lang: str) -> None:
    own, shared = _variables(lang, kind)
    fields = set(SAMPLES[kind].context())
    supplied = fields | NOTE_FIELDS | RENDERER_FIELDS | (REPLY_FIELDS if kind in ANSWERS else set())
    assert own <= supplied, f"{kind}: variables no field supplies: {sorted(own - supplied)}"
    unused = fields - own - shared
    assert not unused, f"{kind}: fields no template reads: {sorted(unused)}"
