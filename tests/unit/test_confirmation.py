"""Only proven senders act: the round trip for mail whose sender is not proven, without IMAP.

Messages go through ``Intake.process`` on a real SQLite desk whose receiving
server is ``mx.example.test``.  Mail it passed (``as_received``) is proven;
mail it did not vouch for is held, and its registered address asked to
confirm it.  Each test says which line of defence stopped an attack and
that nothing acted: no circulation, no notice, no obligation changed, no
mail to a third party.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from desk_app import as_received, desk_app
from sqlalchemy import select

from mailbot.domain.forms import FormKind, render_blank
from mailbot.service.app import App
from mailbot.service.intake import Fetched, Intake, Outcome
from mailbot.service.registry import catalog
from mailbot.service.releasing import release_message
from mailbot.service.sweep import Sweeper
from mailbot.store.tables import Confirmation, InboundMessage, Obligation, OutboxMessage

NOW = datetime(2026, 11, 27, 12, 0)
FRA = "fp.fra@example.test"
OFFICER = "officer@example.test"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    app = desk_app(tmp_path)
    yield app
    app.close()


class Desk:
    """Hands messages to intake as the watcher would, one UID each, at a given time."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.uid = 0

    def send(self, body: str, *, sender: str = FRA, subject: str = "Report", proven: bool = False,
             at: datetime = NOW, from_line: str | None = None) -> Outcome:
        self.uid += 1
        msg = EmailMessage()
        msg["From"] = from_line or sender
        msg["To"], msg["Subject"] = "mailbot@example.test", subject
        msg["Message-ID"] = f"<c{self.uid}@mission.example.test>"
        msg.set_content(body)
        raw = as_received(bytes(msg)) if proven else bytes(msg)
        return Intake(self.app, clock=lambda: at).process(Fetched("INBOX", 1, self.uid, len(raw), raw))

    def mails(self) -> list[OutboxMessage]:
        with self.app.sessions() as session:
            return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))

    def kinds(self) -> list[str]:
        return [m.kind for m in self.mails()]

    def token(self) -> str:
        with self.app.sessions() as session:
            conf = session.scalars(select(Confirmation).order_by(Confirmation.id.desc())).first()
            assert conf is not None
            return conf.token


def report(app: App) -> str:
    return render_blank(catalog(app.settings), FormKind.VIOLATION, "en", {
        "reporting_state": "France", "date": "2026-11-20", "place": "Riverside Drive",
        "host_state": "Kenya", "affected": "Embassy of France in Nairobi",
        "affected_kind": "diplomatic_mission", "sending_state": "France",
        "description": "The gate was forced.", "circulate": "yes", "contact": FRA})


def acted(kinds: list[str]) -> set[str]:
    """The mails that show the desk acted on a report: acknowledged, circulated, noticed."""
    return {k for k in kinds if k.startswith("ack_") or k in ("circulation", "attention")}


def test_a_forged_report_is_held_and_its_registered_address_asked(app: App) -> None:
    desk = Desk(app)
    out = desk.send(report(app))
    assert out.status == "held" and "awaiting confirmation by fp.fra@example.test" in (out.reason or "")
    rows = desk.mails()
    assert [(r.kind, list(r.recipients)) for r in rows] == [("confirmation_request", [FRA])]
    assert acted(desk.kinds()) == set()  # line of defence: the sender was not proven
    assert re.fullmatch(r"CNF-[A-Z2-7]{16}", desk.token())


def test_the_registered_address_confirms_and_the_report_goes_out_once(app: App) -> None:
    desk = Desk(app)
    desk.send(report(app))
    token = desk.token()
    confirm = desk.send("Yes, we sent it.", subject=f"Re: Confirmation of a communication [{token}]")
    assert confirm.status == "processed" and "confirmation of message 1" in (confirm.reason or "")
    kinds = desk.kinds()
    assert {"ack_violation", "circulation", "attention"} <= acted(kinds)
    circulated = kinds.count("circulation")
    again = desk.send(f"Confirming again: {token}")  # the code is single-use
    assert again.status == "held" and "already confirmed" in (again.reason or "")
    assert desk.kinds().count("circulation") == circulated


def test_a_code_from_another_address_confirms_nothing(app: App) -> None:
    desk = Desk(app)
    desk.send(report(app))
    out = desk.send(f"code {desk.token()}", sender="fp.deu@example.test")
    assert out.status == "held" and "not from fp.fra@example.test" in (out.reason or "")
    assert acted(desk.kinds()) == set()


def test_an_expired_code_is_never_honoured(app: App) -> None:
    desk = Desk(app)
    desk.send(report(app))
    token = desk.token()
    later = NOW + timedelta(hours=73)
    Sweeper(app).sweep(later)
    with app.sessions() as session:
        held = session.get(InboundMessage, 1)
        assert held is not None and "not confirmed by fp.fra@example.test" in (held.reason or "")
    out = desk.send(f"Re: [{token}]", at=later + timedelta(minutes=1))
    assert out.status == "held" and "already expired" in (out.reason or "")
    assert acted(desk.kinds()) == set()


def test_an_officer_releases_a_held_report(app: App) -> None:
    desk = Desk(app)
    desk.send(report(app))
    said = release_message(app, 1, OFFICER, NOW + timedelta(hours=1))
    assert "released by officer@example.test" in said
    assert {"ack_violation", "circulation", "attention"} <= acted(desk.kinds())


def test_a_proven_report_needs_no_round_trip(app: App) -> None:
    desk = Desk(app)
    out = desk.send(report(app), proven=True)
    assert out.status == "processed"
    assert "confirmation_request" not in desk.kinds()
    assert {"ack_violation", "circulation", "attention"} <= acted(desk.kinds())


def test_a_forged_command_is_not_obeyed(app: App) -> None:
    desk = Desk(app)
    desk.send(report(app), proven=True)
    with app.sessions() as session:
        open_before = [o.status for o in session.scalars(select(Obligation))]
    out = desk.send("#waive DCM-2026-0001 proceedings closed", sender=OFFICER, subject="Waiver")
    assert out.status == "held"
    with app.sessions() as session:
        assert [o.status for o in session.scalars(select(Obligation))] == open_before
    assert desk.mails()[-1].kind == "confirmation_request"
    assert list(desk.mails()[-1].recipients) == [OFFICER]


@pytest.mark.parametrize("from_line", [
    f"{FRA}, attacker@evil.test",
    f"{OFFICER} <attacker@evil.test>",
])
def test_a_from_line_of_several_mailboxes_moves_nothing(app: App, from_line: str) -> None:
    desk = Desk(app)
    out = desk.send(report(app), from_line=from_line, proven=True)
    assert out.classification == "spoofed"
    assert [m.kind for m in desk.mails()] in ([], ["secretariat_notice"])
    for mail in desk.mails():
        assert "attacker@evil.test" not in mail.recipients and FRA not in mail.recipients


def test_no_backscatter_to_an_unproven_stranger(app: App) -> None:
    desk = Desk(app)
    out = desk.send("Cheap pills at http://spam.example/", sender="victim@elsewhere.example",
                    subject="Cheap pills at http://spam.example/")
    assert out.status == "held"
    assert desk.mails() == []


def test_a_proven_stranger_is_answered_without_being_quoted(app: App) -> None:
    desk = Desk(app)
    desk.send("Hello", sender="someone@elsewhere.example", subject="QUOTEMARK-5521", proven=True)
    rows = desk.mails()
    assert [r.kind for r in rows] == ["unknown_sender"]
    from mailbot.service.rendering import MailRenderer

    assert b"QUOTEMARK-5521" not in MailRenderer(app).render_row(rows[0]).split(b"\r\n\r\n", 1)[1]


def test_a_flood_of_reports_from_one_state_is_held_past_the_days_number(app: App) -> None:
    desk = Desk(app)
    limit = app.settings.policy.reports_per_state_per_day
    for i in range(limit + 1):
        desk.send(report(app).replace("The gate was forced.", f"Event number {i}."), proven=True,
                  at=NOW + timedelta(minutes=i))
    with app.sessions() as session:
        last = session.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        assert last is not None
        assert last.status == "held" and f"more than {limit} reports from FRA" in (last.reason or "")
        flooded = last.id
    circulated = desk.kinds().count("circulation")
    assert desk.kinds()[-1] == "secretariat_notice"  # the Secretariat is told
    said = release_message(app, flooded, OFFICER, NOW + timedelta(hours=2))
    assert "released by officer@example.test" in said
    assert desk.kinds().count("circulation") > circulated  # released: it goes out


def test_an_officer_releases_a_held_report_by_mail(app: App) -> None:
    desk = Desk(app)
    desk.send(report(app))  # unproven: held, France asked
    out = desk.send("#release 1", sender=OFFICER, subject="Release", proven=True)
    assert out.status == "processed" and "message 1 released" in (out.reason or "")
    assert {"ack_violation", "circulation", "attention"} <= acted(desk.kinds())
    assert desk.kinds()[-1] == "command_result"


def test_a_release_by_an_unproven_officer_waits_for_its_own_confirmation(app: App) -> None:
    desk = Desk(app)
    desk.send(report(app))
    out = desk.send("#release 1", sender=OFFICER, subject="Release")
    assert out.status == "held"
    assert acted(desk.kinds()) == set()
