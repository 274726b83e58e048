"""Confidentiality and loop safety through intake, the outbox and the dispatcher, without IMAP.

Messages go through ``Intake.process`` on a real SQLite file and blob store;
every queued mail is rendered as the dispatcher would render it and read
back as a recipient would (MIME decoded), so a leak in any template or
context shows.  The dispatcher test sends to a loopback port nobody listens
on: a mail it tried to send would count as a retry.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from desk_app import as_received, desk_app
from sqlalchemy import select

from mailbot.domain.forms import FormKind, render_blank
from mailbot.domain.mails import Circular, OutgoingMail
from mailbot.service.app import App
from mailbot.service.intake import Fetched, Intake, Outcome
from mailbot.service.outbox import Dispatcher, Mailer
from mailbot.service.queueing import Outbox
from mailbot.service.registry import catalog
from mailbot.service.rendering import MailRenderer
from mailbot.store.tables import Incident, OutboxMessage, Submission

NOW = datetime(2026, 11, 27, 12, 0)
FRA = "fp.fra@example.test"
PLACE, DESCRIPTION = "Riverside PLACEMARK-4471 Drive", "DESCMARK-9902 the gate was forced"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    app = desk_app(tmp_path, smtp={"port": free_port(), "timeout": 5})
    yield app
    app.close()


class Sender:
    """Hands messages to intake as the watcher would, one UID each."""

    def __init__(self, app: App, now: datetime = NOW) -> None:
        self.intake = Intake(app, clock=lambda: now)
        self.uid = 0

    def send(self, body: str, subject: str = "Report", sender: str = FRA,
             headers: dict[str, str] | None = None) -> Outcome:
        self.uid += 1
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = sender, "mailbot@example.test", subject
        msg["Message-ID"] = f"<m{self.uid}@mission.example.test>"
        for name, value in (headers or {}).items():
            msg[name] = value
        msg.set_content(body)
        raw = as_received(bytes(msg))
        return self.intake.process(Fetched("INBOX", 1, self.uid, len(raw), raw))


def violation(app: App, circulate: str) -> str:
    return render_blank(catalog(app.settings), FormKind.VIOLATION, "en", {
        "reporting_state": "France", "date": "2026-11-20", "place": PLACE, "host_state": "Kenya",
        "affected": "Embassy of France in Nairobi", "affected_kind": "diplomatic_mission",
        "sending_state": "France", "description": DESCRIPTION, "offender_state": "Brazil",
        "circulate": circulate, "contact": FRA})


def views(app: App) -> str:
    return render_blank(catalog(app.settings), FormKind.VIEWS, "en", {
        "reporting_state": "France", "views": DESCRIPTION, "contact": FRA})


def mails(app: App) -> list[tuple[OutboxMessage, str]]:
    """Every queued mail with its text as the recipient reads it (MIME decoded)."""
    out = []
    with app.sessions() as session:
        for row in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
            msg = email.message_from_bytes(MailRenderer(app).render_row(row), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            parts = [str(p.get_content()) for p in msg.walk() if p.get_content_maintype() == "text"]
            out.append((row, str(msg["Subject"]) + "\n" + "\n".join(parts)))
    return out


def quoted(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines())


def ack_of(app: App) -> tuple[str, str]:
    row, text = next((r, t) for r, t in mails(app) if r.kind.startswith("ack_"))
    return row.message_id, text


def circulations(app: App) -> dict[str, int]:
    counts: dict[str, int] = {}
    with app.sessions() as session:
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "circulation")):
            counts[row.status] = counts.get(row.status, 0) + 1
    return counts


# --- para 11 (c): the States concerned are told, not shown ------------------------------------


@pytest.mark.parametrize("circulate", ["no", "perhaps"])  # confidential, and not understood (pending)
def test_notice_to_the_states_concerned_carries_no_text_of_a_withheld_report(
        app: App, circulate: str) -> None:
    out = Sender(app).send(violation(app, circulate))
    assert out.status == "processed"
    sent = mails(app)
    notices = [(r, t) for r, t in sent if r.kind == "attention"]
    assert sorted(r.recipients[0] for r, _t in notices) == ["fp.bra@example.test", "fp.ken@example.test"]
    for row, text in sent:
        if FRA in row.recipients:
            continue
        assert "PLACEMARK" not in text and "DESCMARK" not in text, row.kind
    assert all("not circulated" in t and "20 November 2026" in t for _r, t in notices)
    own = [t for r, t in sent if FRA in r.recipients]
    assert own and "PLACEMARK" in own[0]  # the reporting State still reads its own words


def test_notice_of_a_circulated_report_names_the_place(app: App) -> None:
    Sender(app).send(violation(app, "yes"))
    notices = [t for r, t in mails(app) if r.kind == "attention"]
    assert len(notices) == 2 and all("PLACEMARK" in t for t in notices)
    assert all("not circulated" not in t for t in notices)


# --- an objection in reply to the acknowledgement --------------------------------------------


def test_objection_quoting_the_views_acknowledgement_withdraws_the_circulation(app: App) -> None:
    sender = Sender(app)
    sender.send(views(app), "Views")  # no answer on circulation: it leaves after the grace period
    assert circulations(app) == {"pending": 11}
    msgid, text = ack_of(app)
    out = sender.send("Please do not circulate our views.\n\n" + quoted(text), "Re: Views",
                      headers={"In-Reply-To": msgid, "References": msgid})
    assert out.status == "processed" and "asked not to circulate" in (out.reason or "")
    assert circulations(app) == {"cancelled": 11}
    with app.sessions() as session:
        subs = session.scalars(select(Submission)).all()
    assert [(s.kind, s.circulation) for s in subs] == [("views", "confidential")]


def test_objection_quoting_the_violation_acknowledgement_withdraws_and_files_nothing_new(
        app: App) -> None:
    sender = Sender(app)
    sender.send(violation(app, ""))
    msgid, text = ack_of(app)
    sender.send("We ask that this report not be circulated.\n\n" + quoted(text), "Re: Report",
                headers={"In-Reply-To": msgid})
    assert circulations(app) == {"cancelled": 11}
    with app.sessions() as session:
        assert len(session.scalars(select(Incident)).all()) == 1
        assert [s.circulation for s in session.scalars(select(Submission))] == ["confidential"]


def test_thanks_quoting_the_acknowledgement_is_a_letter_not_a_second_report(app: App) -> None:
    sender = Sender(app)
    sender.send(violation(app, "yes"))
    msgid, text = ack_of(app)
    before = len(mails(app))
    out = sender.send("Thank you.\n\n" + quoted(text), "Re: Report", headers={"In-Reply-To": msgid})
    assert out.status == "processed" and "letter filed" in (out.reason or "")
    assert len(mails(app)) == before
    with app.sessions() as session:
        assert len(session.scalars(select(Incident)).all()) == 1
        assert len(session.scalars(select(Submission)).all()) == 1


def test_corrected_report_in_reply_to_the_acknowledgement_is_still_filed(app: App) -> None:
    sender = Sender(app)
    sender.send(violation(app, "yes"))
    msgid, text = ack_of(app)
    corrected = violation(app, "yes").replace("2026-11-20", "2026-11-19")
    out = sender.send(corrected + "\n\n" + quoted(text), "Re: Report", headers={"In-Reply-To": msgid})
    assert out.status == "processed" and "violation report filed" in (out.reason or "")


def test_circulation_withdrawn_after_its_claim_is_not_sent(app: App) -> None:
    Sender(app).send(violation(app, "yes"))
    with app.sessions.begin() as session:  # a dispatcher claimed the notes, then died
        for row in session.scalars(select(OutboxMessage)):
            row.status, row.claimed_at = "sending", NOW
        incident = session.scalars(select(Incident)).one()
        Mailer(app).withdraw_circulation(session, incident, "FRA", NOW)
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.kind != "circulation")):
            row.status = "sent"
    later = NOW + timedelta(hours=1)
    stats = asyncio.run(Dispatcher(app, clock=lambda: later).dispatch(later))
    assert (stats.sent, stats.retried, stats.failed) == (0, 0, 0)  # no connection was even tried
    assert circulations(app) == {"cancelled": 11}


# --- loop safety --------------------------------------------------------------------------------


def test_daily_cap_counts_every_automatic_mail_to_an_address(app: App) -> None:
    """Circulations and notices count, and are held past the cap too (listed, never dropped)."""
    outbox = Outbox(app)
    cap = app.settings.policy.daily_cap_per_address
    for i in range(cap + 5):  # each decided in a transaction of its own, as they would be
        with app.sessions.begin() as session:
            outbox.put(session, OutgoingMail(
                Circular(cycle="2025-2027", ga_session=82, deadline=NOW.date(), blank_forms=[]),
                key=f"circular:{i}:FRA", to=[FRA], lang="en"), NOW)
    out = Sender(app).send("Hello, no form here.", "Letter")
    assert out.status == "corrected"
    with app.sessions() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    statuses = [r.status for r in rows]
    assert statuses[:cap] == ["pending"] * cap
    assert set(statuses[cap:]) == {"held"}  # five circulars and the correction
    assert all("daily cap" in (r.last_error or "") for r in rows[cap:])


def test_answers_go_to_the_from_address_never_to_reply_to(app: App) -> None:
    out = Sender(app).send("Hello", "Question", sender="someone@elsewhere.example",
                           headers={"Reply-To": "MailBot+DCM-2026-0001@example.test, list@lists.example"})
    assert out.status == "held"
    assert [(r.kind, r.recipients) for r, _t in mails(app)] == [
        ("unknown_sender", ["someone@elsewhere.example"])]
