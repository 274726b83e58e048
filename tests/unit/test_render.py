"""Outgoing mail: every template renders in every language, snapshots, headers, safety.

The templates are the real ones from ``templates/``; a temporary templates
directory (the renderer's seam) is used only for the HTML and fallback cases.
Snapshots live in ``tests/unit/snapshots/<lang>/<name>.txt``; run with
``UPDATE_SNAPSHOTS=1`` to rewrite them after an intended change, then read
the diff.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, MIMEPart
from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError

from mailbot.config import REPO_ROOT
from mailbot.mail.render import (
    LANGUAGES,
    MAIL_NAMES,
    MAX_REFERENCES,
    RenderedMail,
    Renderer,
    TemplateMissing,
    build_message,
    format_date,
    format_datetime,
    format_size,
    make_message_id,
    session_words,
    state_of,
)

TEMPLATES = REPO_ROOT / "templates"
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"

STATE = {"en": "France", "fr": "France", "es": "Francia"}
REPORTER = {"en": "Mexico", "fr": "Mexique", "es": "México"}
LABELS = {
    "en": ("Reporting State", "Date of the violation", "Place", "Description of the facts"),
    "fr": ("État auteur du rapport", "Date de la violation", "Lieu", "Exposé des faits"),
    "es": ("Estado que informa", "Fecha de la violación", "Lugar", "Descripción de los hechos"),
}
RECEIVED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
NOTE_DATE = date(2026, 11, 20)


def _summary(lang: str) -> list[tuple[str, str]]:
    state, day, place, facts = LABELS[lang]
    return [
        (state, REPORTER[lang]),
        (day, "2026-11-18"),
        (place, "Paris, 12 rue de l'Exemple"),
        (facts, "Stones were thrown at the chancery.\nTwo windows were broken."),
    ]


def _note(lang: str) -> dict[str, Any]:
    return {
        "note_reference": "LA/COD/61-31/DCM-2026-0007",
        "note_date": NOTE_DATE,
        "state_name": STATE[lang],
        "confidential": False,
    }


FORM = (
    "Reporting State: France\n"
    "Incident reference: DCM-2026-0007\n"
    "Measures taken to bring the offender to justice: \n"
)
FAILURE = {
    "recipient": "fp.xyz@example.test",
    "subject": "Resolution 61/31 circular note",
    "outbox_key": "circular:2026:XYZ",
    "error": "550 5.1.1 User unknown",
    "failed_at": RECEIVED,
}
HELD_MAIL = {
    "received_at": RECEIVED,
    "from_addr": "someone@example.org",
    "subject": "Report",
    "reason": "unknown sender",
    "message_key": "<abc@example.org>",
}


def sample_context(name: str, lang: str) -> dict[str, Any]:
    """A complete context for mail ``name`` (the docstring table of render.py, as data)."""
    note = _note(lang)
    ack = {
        **note,
        "received_at": RECEIVED,
        "summary": _summary(lang),
        "attachments": [("photo.jpg", 245_760), ("police-report.pdf", 1_572_864)],
        "circulation": "circulation_defaulted",
        "objection_deadline": datetime(2026, 11, 27, 17, 0, tzinfo=UTC),
    }
    contexts: dict[str, dict[str, Any]] = {
        "ack_violation": {
            **ack,
            "reference": "DCM-2026-0007",
            "follow_up_due": date(2027, 2, 18),
        },
        "ack_follow_up": {
            **ack,
            "reference": "DCM-2026-0007",
            "circulation": "circulate",
            "outstanding": ["outcome", "prevention"],
        },
        "ack_views": {
            **ack,
            "cycle": "2026-2028",
            "circulation": "confidential",
            "attachments": [],
        },
        "correction": {
            **note,
            "form_kind": "violation",
            "reference": None,
            "received_at": RECEIVED,
            "original_subject": "Violation report",
            "problems": [
                (LABELS[lang][1], "not a date: 'last Tuesday'"),
                (LABELS[lang][2], "missing"),
            ],
            "prefilled_form": FORM,
        },
        "unknown_sender": {
            "sender_address": "someone@example.org",
            "received_at": RECEIVED,
        },
        "confirmation_request": {
            **note,
            "received_at": RECEIVED,
            "sender_address": "fp.fra@example.test",
            "token": "CNF-7Q2XK4M9RT3WAPLD",
            "expires_at": RECEIVED,
            "reference": None,
        },
        "held": {
            **note,
            "received_at": RECEIVED,
            "original_subject": "Follow-up",
            "reason": "not_party",
            "reference": "DCM-2026-0007",
        },
        "circulation": {
            **note,
            "report_kind": "violation",
            "reporting_state": REPORTER[lang],
            "reference": "DCM-2026-0007",
            "cycle": "2026-2028",
            "communication_date": date(2026, 11, 20),
            "summary": _summary(lang),
            "attachments": [
                {"name": "photo.jpg", "size": 245_760, "attached": True},
                {"name": "video.mp4", "size": 48_234_496, "attached": False},
            ],
            "request_address": "mailbot@example.test",
        },
        "attention": {
            **note,
            "role": "host",
            "reference": "DCM-2026-0007",
            "reporting_state": REPORTER[lang],
            "communication_date": date(2026, 11, 20),
            "incident_date": date(2026, 11, 18),
            "place": "Paris",
            "followup_form": FORM,
            "due_date": date(2027, 2, 18),
        },
        "reminder": {
            **note,
            "reference": "DCM-2026-0007",
            "paragraph": "10 (b)",
            "due_date": date(2027, 2, 18),
            "reminder_number": 2,
            "gentle": False,
            "outstanding": ["justice"],
            "prefilled_form": FORM,
        },
        "escalation": {
            "reference": "DCM-2026-0007",
            "state_name": STATE[lang],
            "paragraph": "10 (b)",
            "due_date": date(2027, 2, 18),
            "reminders_sent": 3,
            "last_reminder_at": date(2027, 5, 19),
            "obligation_key": "obligation:12",
        },
        "circular": {
            **note,
            "cycle": "2026-2028",
            "ga_session": 83,
            "deadline": date(2028, 5, 15),
            "blank_forms": [
                {
                    "title": "Violation report",
                    "filename": "violation.txt",
                    "text": "Reporting State:\n",
                },
                {"title": "Views", "filename": "views.txt", "text": "Reporting State:\nViews:\n"},
            ],
        },
        "digest": {
            "digest_date": NOTE_DATE,
            "held": [HELD_MAIL],
            "quarantined": [],
            "unknown_senders": [
                {"address": "someone@example.org", "count": 2, "last_seen": RECEIVED}
            ],
            "delivery_failures": [FAILURE],
        },
        "secretariat_notice": {
            "status": "held",
            "received_at": RECEIVED,
            "from_addr": "fp.fra@example.test",
            "original_subject": "Follow-up DCM-2026-0007",
            "reason": "sender is not a party to the incident",
            "message_key": "<abc@example.test>",
            "state_name": STATE[lang],
            "reference": "DCM-2026-0007",
            "actions": ["accept <abc@example.test>", "reject <abc@example.test>"],
        },
        "command_result": {
            "command_subject": "close DCM-2026-0007",
            "received_at": RECEIVED,
            "ok": True,
            "lines": ["Incident DCM-2026-0007 closed.", "2 obligations closed."],
        },
        "delivery_failure": {"failures": [FAILURE]},
    }
    return contexts[name]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES)


# ------------------------------------------------------------------ every mail, every language


def test_every_mail_name_has_a_sample() -> None:
    for name in MAIL_NAMES:
        assert sample_context(name, "en")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_template_set_is_complete(renderer: Renderer, lang: str) -> None:
    assert set(renderer.available(lang)) == set(MAIL_NAMES)
    for name in MAIL_NAMES:
        assert (TEMPLATES / "mail" / lang / f"{name}.subject.j2").is_file()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", MAIL_NAMES)
def test_renders_and_matches_snapshot(renderer: Renderer, name: str, lang: str) -> None:
    mail = renderer.render(name, lang, sample_context(name, lang))
    assert mail.lang == lang
    assert mail.subject and "\n" not in mail.subject and "  " not in mail.subject
    assert mail.text.endswith("\n") and "\n\n\n" not in mail.text
    snapshot = SNAPSHOTS / lang / f"{name}.txt"
    got = f"Subject: {mail.subject}\n\n{mail.text}"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(got, encoding="utf-8")
    assert snapshot.is_file(), f"no snapshot {snapshot}; run with UPDATE_SNAPSHOTS=1"
    assert got == snapshot.read_text(encoding="utf-8")


NOTES_VERBALES = [
    "ack_violation",
    "ack_follow_up",
    "ack_views",
    "correction",
    "held",
    "circulation",
    "attention",
    "reminder",
    "circular",
]
OPENING = {
    "en": "The Secretary-General of the United Nations presents his compliments to the "
    "Permanent Representative of France to the United Nations and has the honour to ",
    "fr": "Le Secrétaire général de l'Organisation des Nations Unies présente ses compliments "
    "au Représentant permanent de la France auprès de l'Organisation des Nations Unies et a "
    "l'honneur d",
    "es": "El Secretario General de las Naciones Unidas saluda atentamente al Representante "
    "Permanente de Francia ante las Naciones Unidas y tiene el honor de ",
}
CLOSING = {
    "en": "The Secretary-General avails himself of this opportunity to renew to the Permanent "
    "Representative of France to the United Nations the assurances of his highest "
    "consideration.",
    "fr": "Le Secrétaire général saisit cette occasion pour renouveler au Représentant permanent "
    "de la France auprès de l'Organisation des Nations Unies les assurances de sa très haute "
    "considération.",
    "es": "El Secretario General aprovecha la oportunidad para reiterar al Representante "
    "Permanente de Francia ante las Naciones Unidas las seguridades de su más alta "
    "consideración.",
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", NOTES_VERBALES)
def test_notes_verbales_have_the_formulas(renderer: Renderer, name: str, lang: str) -> None:
    mail = renderer.render(name, lang, sample_context(name, lang))
    assert mail.text.startswith("LA/COD/61-31/DCM-2026-0007\n")
    assert OPENING[lang] in mail.text
    assert CLOSING[lang] in mail.text
    assert format_date(NOTE_DATE, lang) in mail.text.rsplit(CLOSING[lang], 1)[1]
    assert "61/31" in mail.subject


@pytest.mark.parametrize("lang", LANGUAGES)
def test_confidential_is_marked_under_the_reference(renderer: Renderer, lang: str) -> None:
    ctx = {**sample_context("ack_views", lang), "confidential": True}
    lines = renderer.render("ack_views", lang, ctx).text.splitlines()
    assert lines[0] == "LA/COD/61-31/DCM-2026-0007"
    assert lines[1] == {"en": "Confidential", "fr": "Confidentiel", "es": "Confidencial"}[lang]
    plain = renderer.render("ack_views", lang, sample_context("ack_views", lang)).text
    assert plain.splitlines()[1] == ""


@pytest.mark.parametrize(
    ("lang", "name", "phrase"),
    [
        ("en", "Holy See", "to the Permanent Observer of the Holy See to the United Nations"),
        ("fr", "Saint-Siège", "à l'Observateur permanent du Saint-Siège auprès de l'Organisation"),
        ("es", "Estado de Palestina", "al Observador Permanente del Estado de Palestina ante"),
    ],
)
def test_observer_state_has_a_permanent_observer(
    renderer: Renderer, lang: str, name: str, phrase: str
) -> None:
    ctx = {**sample_context("circular", lang), "state_name": name, "observer": True}
    text = renderer.render("circular", lang, ctx).text
    assert text.count(phrase) == 2  # opening and closing formulas


@pytest.mark.parametrize("name", ["ack_violation", "attention", "reminder", "circulation"])
def test_incident_mails_carry_the_reference_tag(renderer: Renderer, name: str) -> None:
    for lang in LANGUAGES:
        assert renderer.render(name, lang, sample_context(name, lang)).subject.startswith(
            "[DCM-2026-0007] "
        )


# ------------------------------------------------------------------ variants


CIRCULATION_PHRASES = {
    "circulate": "will be circulated to all States",
    "circulation_defaulted": "before 27 November 2026, 17:00 UTC",
    "confidential": "will not be circulated to other States",
    "pending": "is held until the reporting State indicates",
}


@pytest.mark.parametrize(("circulation", "phrase"), CIRCULATION_PHRASES.items())
def test_ack_states_what_happens_to_circulation(
    renderer: Renderer, circulation: str, phrase: str
) -> None:
    ctx = {**sample_context("ack_violation", "en"), "circulation": circulation}
    text = renderer.render("ack_violation", "en", ctx).text
    assert phrase in text
    for other, other_phrase in CIRCULATION_PHRASES.items():
        if other != circulation and other != "circulate":
            assert other_phrase not in text


def test_defaulted_circulation_names_para_11_b_and_deadline_in_each_language(
    renderer: Renderer,
) -> None:
    deadlines = {
        "fr": "27 novembre 2026 à 17 h 00 (UTC)",
        "es": "27 de noviembre de 2026, a las 17.00 horas (UTC)",
    }
    for lang, deadline in deadlines.items():
        text = renderer.render("ack_violation", lang, sample_context("ack_violation", lang)).text
        assert deadline in text
        assert "11 b)" in text  # French and Spanish cite subparagraphs as "11 b)"


def test_unknown_circulation_value_is_refused(renderer: Renderer) -> None:
    ctx = {**sample_context("ack_violation", "en"), "circulation": "maybe"}
    with pytest.raises(ValueError, match="maybe"):
        renderer.render("ack_violation", "en", ctx)


def test_ack_violation_lists_summary_attachments_and_next_steps(renderer: Renderer) -> None:
    text = renderer.render("ack_violation", "en", sample_context("ack_violation", "en")).text
    assert "  Place: Paris, 12 rue de l'Exemple\n" in text
    assert "Stones were thrown at the chancery.\n    Two windows were broken." in text
    assert "  - police-report.pdf (1.5 MB)" in text
    assert "  - photo.jpg (240 kB)" in text
    assert "paragraph 11 (c)" in text and "paragraph 10 (b)" in text
    assert "expected by 18 February 2027" in text


@pytest.mark.parametrize(
    ("role", "phrase"),
    [
        ("host", "As the State in which the violation took place, France is requested"),
        ("offender", "to the extent possible, to report"),
        ("sending", "as the sending State of the mission or representative affected"),
    ],
)
def test_attention_by_role(renderer: Renderer, role: str, phrase: str) -> None:
    ctx = {**sample_context("attention", "en"), "role": role}
    mail = renderer.render("attention", "en", ctx)
    assert phrase in mail.text
    assert "bring the offender to justice" in mail.text
    assert "final outcome of the proceedings" in mail.text
    assert "preventing a repetition" in mail.text
    assert FORM.strip() in mail.text
    assert ("by 18 February 2027" in mail.text) == (role != "sending")


def test_gentle_reminder_for_the_offenders_state(renderer: Renderer) -> None:
    for lang, phrase in {
        "en": "to the extent possible",
        "fr": "dans la mesure du possible",
        "es": "en la medida de lo posible",
    }.items():
        ctx = sample_context("reminder", lang)
        assert phrase not in renderer.render("reminder", lang, ctx).text
        gentle = renderer.render("reminder", lang, {**ctx, "gentle": True}).text
        assert phrase in gentle


def test_reminder_names_paragraph_due_date_and_number(renderer: Renderer) -> None:
    mail = renderer.render("reminder", "en", sample_context("reminder", "en"))
    assert "paragraph 10 (b)" in mail.subject and "18 February 2027" in mail.subject
    assert "reminder 2" in mail.subject
    ctx = {**sample_context("reminder", "en"), "paragraph": "10 (a)", "reminder_number": 1}
    first = renderer.render("reminder", "en", ctx)
    assert "report under paragraph 10 (a)" in first.text
    assert "reminder number" not in first.text


def test_held_without_a_state_is_a_plain_letter(renderer: Renderer) -> None:
    ctx = {
        **sample_context("held", "en"),
        "state_name": None,
        "note_reference": None,
        "note_date": None,
        "reason": "authentication",
        "reference": None,
    }
    text = renderer.render("held", "en", ctx).text
    assert "presents his compliments" not in text
    assert "did not pass the checks" in text


def test_held_with_free_text_reason(renderer: Renderer) -> None:
    ctx = {**sample_context("held", "fr"), "reason": "motif libre"}
    assert "motif libre" in renderer.render("held", "fr", ctx).text


def test_circulation_attachments_attached_or_on_request(renderer: Renderer) -> None:
    text = renderer.render("circulation", "en", sample_context("circulation", "en")).text
    assert "photo.jpg (240 kB): attached to this note." in text
    assert "video.mp4 (46 MB): not attached" in text and "mailbot@example.test" in text
    assert "Permanent Mission of Mexico" in text


def test_circular_carries_forms_deadline_and_session(renderer: Renderer) -> None:
    mail = renderer.render("circular", "fr", sample_context("circular", "fr"))
    assert "quatre-vingt-troisième session" in mail.text
    assert "15 mai 2028" in mail.text and "15 mai 2028" in mail.subject
    assert "Views:\n" in mail.text
    assert "paragraphe 12" in mail.text


# ------------------------------------------------------------------ language fallback, seam


@pytest.mark.parametrize("lang", ["ar", "ru", "zh", "zh-Hans", ""])
def test_languages_without_templates_fall_back_to_english(renderer: Renderer, lang: str) -> None:
    mail = renderer.render("command_result", lang, sample_context("command_result", "en"))
    assert mail.lang == "en"
    assert renderer.resolve_lang("command_result", lang) == "en"
    assert "has been carried out" in mail.text


def test_region_subtags_use_the_language(renderer: Renderer) -> None:
    assert renderer.resolve_lang("reminder", "fr-CH") == "fr"
    assert renderer.resolve_lang("reminder", "ES") == "es"


def test_unknown_mail_name(renderer: Renderer) -> None:
    with pytest.raises(TemplateMissing):
        renderer.render("no_such_mail", "en", {})
    with pytest.raises(TemplateMissing):
        renderer.render("../en/reminder", "en", {})


def _write(root: Path, rel: str, text: str) -> None:
    path = root / "mail" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_html_part_is_autoescaped_and_text_is_not(tmp_path: Path) -> None:
    _write(tmp_path, "en/hello.subject.j2", "Hello\n  {{ who }}\n")
    _write(tmp_path, "en/hello.txt.j2", "Dear {{ who }},\n")
    _write(tmp_path, "en/hello.html.j2", "<p>Dear {{ who }},</p>\n")
    _write(tmp_path, "fr/hello.subject.j2", "Bonjour {{ who }}")
    _write(tmp_path, "fr/hello.txt.j2", "Cher {{ who }},\n")
    r = Renderer(tmp_path)
    mail = r.render("hello", "en", {"who": "<Ann & Bob>"})
    assert mail.subject == "Hello <Ann & Bob>"
    assert mail.text == "Dear <Ann & Bob>,\n"
    assert mail.html == "<p>Dear &lt;Ann &amp; Bob&gt;,</p>\n"
    fr = r.render("hello", "fr", {"who": "Ann"})
    assert (fr.lang, fr.html, fr.subject) == ("fr", None, "Bonjour Ann")
    assert r.render("hello", "es", {"who": "Ann"}).text == "Dear Ann,\n"


# ------------------------------------------------------------------ safety


def test_sender_values_are_data_not_templates(renderer: Renderer) -> None:
    ctx = sample_context("correction", "en")
    ctx["original_subject"] = "{{ 7*7 }} {% raw %}x"
    ctx["problems"] = [("Place", "{{ 7*7 }}")]
    ctx["prefilled_form"] = "Place: {{ 7*7 }}\n{% if true %}yes{% endif %}"
    text = renderer.render("correction", "en", ctx).text
    assert '"{{ 7*7 }} {% raw %}x"' in text
    assert "  - Place: {{ 7*7 }}" in text
    assert "Place: {{ 7*7 }}\n{% if true %}yes{% endif %}" in text
    assert "49" not in text


# Keys a sample context carries that its template reads only in other variants.
READ_ONLY_IN_OTHER_VARIANTS = {
    ("ack_follow_up", "objection_deadline"),  # read only for circulation_defaulted
    ("ack_views", "objection_deadline"),
    ("circulation", "cycle"),  # read only for views
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", MAIL_NAMES)
def test_a_missing_variable_raises(renderer: Renderer, name: str, lang: str) -> None:
    full = sample_context(name, lang)
    for key in full:
        if (name, key) in READ_ONLY_IN_OTHER_VARIANTS:
            continue
        ctx = {k: v for k, v in full.items() if k != key}
        with pytest.raises(UndefinedError, match=re.escape(key)):
            renderer.render(name, lang, ctx)


def test_context_cannot_override_renderer_values(renderer: Renderer) -> None:
    with pytest.raises(ValueError, match="lang"):
        renderer.render("reminder", "en", {**sample_context("reminder", "en"), "lang": "fr"})


# ------------------------------------------------------------------ formatting helpers


@pytest.mark.parametrize(
    ("d", "lang", "expected"),
    [
        (date(2026, 11, 20), "en", "20 November 2026"),
        (date(2026, 11, 20), "fr", "20 novembre 2026"),
        (date(2026, 11, 20), "es", "20 de noviembre de 2026"),
        (date(2027, 2, 1), "fr", "1er février 2027"),
        (date(2027, 8, 3), "fr", "3 août 2027"),
        (date(2027, 9, 3), "es", "3 de septiembre de 2027"),
        (date(2027, 9, 3), "ar", "3 September 2027"),
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "en", "31 December 2026"),
    ],
)
def test_format_date(d: date, lang: str, expected: str) -> None:
    assert format_date(d, lang) == expected


def test_format_datetime_is_in_utc() -> None:
    from datetime import timedelta, timezone

    new_york = timezone(timedelta(hours=-5))
    assert format_datetime(datetime(2026, 11, 20, 20, 0, tzinfo=new_york), "en") == (
        "21 November 2026, 01:00 UTC"
    )
    assert format_datetime(datetime(2026, 11, 20, 9, 5), "fr") == "20 novembre 2026 à 9 h 05 (UTC)"


@pytest.mark.parametrize(
    ("n", "lang", "expected"),
    [
        (512, "en", "512 bytes"),
        (512, "fr", "512 octets"),
        (1536, "en", "1.5 kB"),
        (1536, "fr", "1,5 Ko"),
        (48_234_496, "es", "46 MB"),
    ],
)
def test_format_size(n: int, lang: str, expected: str) -> None:
    assert format_size(n, lang) == expected


@pytest.mark.parametrize(
    ("n", "lang", "expected"),
    [
        (63, "en", "sixty-third session"),
        (80, "en", "eightieth session"),
        (83, "en", "eighty-third session"),
        (61, "fr", "soixante et unième session"),
        (71, "fr", "soixante et onzième session"),
        (80, "fr", "quatre-vingtième session"),
        (85, "fr", "quatre-vingt-cinquième session"),
        (89, "fr", "quatre-vingt-neuvième session"),
        (81, "es", "octogésimo primer período de sesiones"),
        (83, "es", "octogésimo tercer período de sesiones"),
        (100, "es", "centésimo período de sesiones"),
    ],
)
def test_session_words(n: int, lang: str, expected: str) -> None:
    assert session_words(n, lang) == expected


@pytest.mark.parametrize(
    ("name", "lang", "expected"),
    [
        ("France", "en", "of France"),
        ("Sudan", "en", "of the Sudan"),
        ("United States of America", "en", "of the United States of America"),
        ("South Sudan", "en", "of South Sudan"),
        ("France", "fr", "de la France"),
        ("Mexique", "fr", "du Mexique"),
        ("Algérie", "fr", "de l'Algérie"),
        ("États-Unis d'Amérique", "fr", "des États-Unis d'Amérique"),
        ("Haïti", "fr", "d'Haïti"),
        ("Cuba", "fr", "de Cuba"),
        ("Yémen", "fr", "du Yémen"),
        ("Guinée-Bissau", "fr", "de la Guinée-Bissau"),
        ("Francia", "es", "de Francia"),
        ("Perú", "es", "del Perú"),
        ("Argentina", "es", "de la Argentina"),
        (
            "Reino Unido de Gran Bretaña e Irlanda del Norte",
            "es",
            "del Reino Unido de Gran Bretaña e Irlanda del Norte",
        ),
        ("Estados Unidos de América", "es", "de los Estados Unidos de América"),
    ],
)
def test_state_of(name: str, lang: str, expected: str) -> None:
    assert state_of(name, lang) == expected


# ------------------------------------------------------------------ the message on the wire


def _parse(raw: bytes) -> EmailMessage:
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def _text(part: MIMEPart) -> str:
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def _build(rendered: RenderedMail, **kw: Any) -> bytes:
    args: dict[str, Any] = {
        "from_addr": "mailbot@example.test",
        "from_name": "United Nations Secretariat, Office of Legal Affairs",
        "to": ["fp.fra@example.test", "fp2.fra@example.test"],
        "message_id": make_message_id("ack:17", "mailbot.example.test"),
        "date": datetime(2026, 11, 20, 10, 0, tzinfo=UTC),
        "loop_header": ("X-Mailbot-Loop", "mailbot"),
    }
    args.update(kw)
    return build_message(rendered, **args)


def test_message_headers_threading_and_loop_protection(renderer: Renderer) -> None:
    rendered = renderer.render("ack_violation", "fr", sample_context("ack_violation", "fr"))
    raw = _build(
        rendered,
        in_reply_to="<their-2@mission.example>",
        references=["<root@mission.example>", "<their-1@mission.example>"],
        extra_headers={"X-Mailbot-Incident": "DCM-2026-0007"},
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = _parse(raw)
    assert msg["Subject"] == rendered.subject
    assert (
        msg["From"]
        == '"United Nations Secretariat, Office of Legal Affairs" <mailbot@example.test>'
    )
    assert msg["To"] == "fp.fra@example.test, fp2.fra@example.test"
    assert msg["Date"] == "Fri, 20 Nov 2026 10:00:00 +0000"
    assert msg["Message-ID"] == make_message_id("ack:17", "mailbot.example.test")
    assert msg["In-Reply-To"] == "<their-2@mission.example>"
    assert msg["References"].split() == [
        "<root@mission.example>",
        "<their-1@mission.example>",
        "<their-2@mission.example>",
    ]
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Mailbot-Loop"] == "mailbot"
    assert msg["X-Mailbot-Incident"] == "DCM-2026-0007"
    assert msg["Content-Language"] == "fr"
    assert msg["Precedence"] is None
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert _text(msg) == rendered.text


def test_references_are_capped_keeping_the_root() -> None:
    refs = [f"<r{i}@x.example>" for i in range(30)]
    msg = _parse(_build(RenderedMail("s", "t\n"), in_reply_to="<last@x.example>", references=refs))
    chain = msg["References"].split()
    assert len(chain) == MAX_REFERENCES
    assert chain[0] == "<r0@x.example>" and chain[-1] == "<last@x.example>"


def test_no_threading_headers_for_unsolicited_mail() -> None:
    msg = _parse(_build(RenderedMail("s", "t\n"), auto_submitted="auto-generated"))
    assert msg["In-Reply-To"] is None and msg["References"] is None
    assert msg["Auto-Submitted"] == "auto-generated"


def test_html_alternative_and_attachments() -> None:
    rendered = RenderedMail("Note — été", "Texte accentué\n", "<p>Texte accentué</p>\n", "fr")
    pdf = b"%PDF-1.4 binary \x00\xff"
    raw = _build(
        rendered,
        attachments=[
            ("rapport é.pdf", "application/pdf", pdf),
            ("form.txt", "text/plain", b"A: b\n"),
        ],
    )
    msg = _parse(raw)
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert body is not None and _text(body) == "Texte accentué\n"
    assert html is not None and _text(html) == "<p>Texte accentué</p>\n"
    files = {part.get_filename(): part.get_payload(decode=True) for part in msg.iter_attachments()}
    assert files == {"rapport é.pdf": pdf, "form.txt": b"A: b\n"}
    assert msg["Subject"] == "Note — été"


def test_message_id_is_stable_and_distinct() -> None:
    a = make_message_id("reminder:42:1", "mailbot.example.test")
    assert a == make_message_id("reminder:42:1", "mailbot.example.test")
    assert a != make_message_id("reminder:42:2", "mailbot.example.test")
    assert re.fullmatch(r"<[0-9a-f]{32}@mailbot\.example\.test>", a)


def test_same_input_gives_the_same_bytes(renderer: Renderer) -> None:
    rendered = renderer.render("reminder", "es", sample_context("reminder", "es"))
    assert _build(rendered) == _build(rendered)


def test_header_injection_is_refused() -> None:
    with pytest.raises(ValueError):
        _build(RenderedMail("s", "t\n"), extra_headers={"X-Note": "a\r\nBcc: x@example.org"})
    msg = _parse(_build(RenderedMail("line one\r\nBcc: x@example.org", "t\n")))
    assert msg["Bcc"] is None
    assert msg["Subject"] == "line one Bcc: x@example.org"


def test_at_least_one_recipient() -> None:
    with pytest.raises(ValueError):
        _build(RenderedMail("s", "t\n"), to=[])
