"""The obligation sweep and the Secretariat's daily digest: what fell due, queued once.

The scheduler calls :meth:`Sweeper.sweep` periodically and at start-up; it
reads every open obligation, asks the domain which reminders or escalations
are due at ``now`` (``domain.obligations.due_actions``) and queues each as an
outbox row whose key names the obligation and the reminder number, so a
restart, a second sweep or a clock jump never sends one twice.  A sweep after
downtime sends what fell due meanwhile: the database, not the scheduler,
remembers what is due.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from mailbot.domain.mails import Digest, Escalation, OutgoingMail, Reminder
from mailbot.domain.obligations import Escalate, ObligationPolicy, Remind, due_actions
from mailbot.domain.types import MailClass, MessageStatus, OutboxStatus
from mailbot.service.app import App
from mailbot.service.dispatch import failure_entry
from mailbot.service.outbox import Mailer, message_summary
from mailbot.service.queueing import Outbox
from mailbot.service.registry import followup_form, registry
from mailbot.store import confirmation_rows, obligation_rows, repo
from mailbot.store.db import Session, transaction
from mailbot.store.tables import InboundMessage, Incident, Obligation

log = logging.getLogger("mailbot.sweep")

PARAGRAPH_LABEL = {"10a": "10 (a)", "10b": "10 (b)", "10b-final": "10 (b)"}


class Sweeper:
    """Turns due obligations into reminders and escalations, in one transaction per sweep."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings
        self.policy = ObligationPolicy.from_settings(app.settings.policy)

    def sweep(self, now: datetime) -> int:
        mailer, outbox = Mailer(self.app), Outbox(self.app)
        queued = 0
        with transaction(self.app.sessions) as session:
            _expire_confirmations(session, now)
            for view, row in obligation_rows.open_views(session):
                for action in due_actions([view], now, self.policy):
                    incident = session.get(Incident, row.incident_id)
                    assert incident is not None
                    if isinstance(action, Remind):
                        mail = self._reminder(session, mailer, action, row, incident)
                        row.reminders_sent, row.last_reminded_at = action.number, now
                    else:
                        assert isinstance(action, Escalate)
                        mail = self._escalation(action, row, incident, now)
                        row.escalated_at = now
                    queued += outbox.put(session, mail, now)
        if queued:
            log.info("sweep queued %d reminders/escalations", queued)
        return queued

    def _reminder(self, session: Session, mailer: Mailer, action: Remind, row: Obligation,
                  incident: Incident) -> OutgoingMail:
        """Para 11 (d): the reminder to the State that owes the report, with its form."""
        lang = mailer.mail_lang(action.state_code)
        form = followup_form(self.settings, incident.reference, action.state_code, row.role, lang)
        return OutgoingMail(
            Reminder(paragraph=PARAGRAPH_LABEL.get(action.paragraph, action.paragraph),
                     due_date=row.due_at.date(), reminder_number=action.number,
                     gentle=action.gentle,
                     outstanding=["outcome"] if action.paragraph == "10b-final" else [],
                     prefilled_form=form),
            key=action.key, to=repo.focal_points_of(session, action.state_code), lang=lang,
            state_code=action.state_code, incident_id=incident.id, reference=incident.reference)

    def _escalation(self, action: Escalate, row: Obligation, incident: Incident,
                    now: datetime) -> OutgoingMail:
        """The Secretariat's memo on a report still overdue after the last reminder."""
        return OutgoingMail(
            Escalation(paragraph=PARAGRAPH_LABEL.get(action.paragraph, action.paragraph),
                       due_date=row.due_at.date(), reminders_sent=action.reminders_sent,
                       last_reminder_at=(row.last_reminded_at or now).date(),
                       obligation_key=action.key, state_name=self._name(action.state_code)),
            key=action.key, to=[self.settings.desk.secretariat_review], lang="en",
            state_code=action.state_code, incident_id=incident.id, reference=incident.reference,
            cap=False)

    def _name(self, code: str) -> str:
        reg = registry(self.settings)
        return reg.get(code).name if code in reg else code

    def digest(self, now: datetime) -> bool:
        """The Secretariat's daily digest of held and quarantined mail; once per day."""
        since = now - timedelta(days=1)
        with transaction(self.app.sessions) as session:
            recent = [m for m in repo.list_messages(session, None, 1000)
                      if m.processed_at and m.processed_at >= since]
            failed = [failure_entry(r) for r in repo.list_outbox(session, OutboxStatus.FAILED, 200)
                      if r.created_at >= since]
            failed += [failure_entry(r) for r in repo.list_outbox(session, OutboxStatus.HELD, 200)]
            content = Digest(
                digest_date=now.date(),
                held=[message_summary(m) for m in recent if m.status == MessageStatus.HELD],
                quarantined=[message_summary(m) for m in recent
                             if m.status == MessageStatus.QUARANTINED],
                unknown_senders=_unknown_senders(recent), delivery_failures=failed)
            if not (content.held or content.quarantined or failed or content.unknown_senders):
                return False
            return Outbox(self.app).put(session, OutgoingMail(
                content, key=f"digest:{now.date().isoformat()}",
                to=[self.settings.desk.secretariat_review], lang="en", cap=False), now)


def _expire_confirmations(session: Session, now: datetime) -> None:
    """Confirmations not given in time: their messages are never acted on, and the next digest
    lists them (with the command that still releases one)."""
    for conf in confirmation_rows.expire_confirmations(session, now):
        msg = session.get(InboundMessage, conf.message_id)
        if msg is not None and msg.status == MessageStatus.HELD:
            msg.reason = (f"not confirmed by {conf.address} before {conf.expires_at:%Y-%m-%d %H:%M}: "
                          f"never acted on (an officer may: mailbot messages release {msg.id})")
            msg.processed_at = now


def _unknown_senders(recent: list[InboundMessage]) -> list[dict[str, object]]:
    """Each unregistered sender of ``recent`` mail: address, how many, when last."""
    unknown: dict[str, dict[str, object]] = {}
    for m in recent:
        if m.classification == MailClass.UNKNOWN and m.from_addr:
            entry = unknown.setdefault(m.from_addr, {"address": m.from_addr, "count": 0,
                                                     "last_seen": m.received_at})
            entry["count"] = int(str(entry["count"])) + 1
    return list(unknown.values())
