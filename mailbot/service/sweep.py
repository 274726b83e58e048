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

from mailbot.domain.obligations import Escalate, ObligationPolicy, Remind, due_actions
from mailbot.service.app import App
from mailbot.service.outbox import Mailer, failure_entry, message_summary
from mailbot.service.registry import followup_form, registry
from mailbot.store import repo, timeq
from mailbot.store.db import transaction
from mailbot.store.tables import Incident

log = logging.getLogger("mailbot.sweep")

PARAGRAPH_LABEL = {"10a": "10 (a)", "10b": "10 (b)", "10b-final": "10 (b)"}


class Sweeper:
    """Turns due obligations into reminders and escalations, in one transaction per sweep."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings
        self.policy = ObligationPolicy.from_settings(app.settings.policy)

    def sweep(self, now: datetime) -> int:
        mailer = Mailer(self.app)
        queued = 0
        with transaction(self.app.sessions) as session:
            for view, row in timeq.open_views(session):
                for action in due_actions([view], now, self.policy):
                    incident = session.get(Incident, row.incident_id)
                    assert incident is not None
                    if isinstance(action, Remind):
                        lang = mailer.mail_lang(action.state_code)
                        form = followup_form(self.settings, incident.reference, action.state_code,
                                             row.role, lang)
                        out = mailer.queue(
                            session, kind="reminder", key=action.key,
                            to=repo.focal_points_of(session, action.state_code), lang=lang,
                            now=now, state_code=action.state_code, incident=incident, cap=False,
                            context={
                                "paragraph": PARAGRAPH_LABEL.get(action.paragraph, action.paragraph),
                                "due_date": row.due_at.date(),
                                "reminder_number": action.number,
                                "gentle": action.gentle,
                                "outstanding": ["outcome"] if action.paragraph == "10b-final" else [],
                                "prefilled_form": form,
                            })
                        row.reminders_sent, row.last_reminded_at = action.number, now
                    else:
                        assert isinstance(action, Escalate)
                        out = mailer.queue(
                            session, kind="escalation", key=action.key,
                            to=[self.settings.desk.secretariat_review], lang="en", now=now,
                            state_code=action.state_code, incident=incident, cap=False,
                            context={
                                "paragraph": PARAGRAPH_LABEL.get(action.paragraph, action.paragraph),
                                "due_date": row.due_at.date(),
                                "reminders_sent": action.reminders_sent,
                                "last_reminder_at": (row.last_reminded_at or now).date(),
                                "obligation_key": action.key,
                                "state_name": self._name(action.state_code),
                            })
                        row.escalated_at = now
                    if out:
                        queued += 1
        if queued:
            log.info("sweep queued %d reminders/escalations", queued)
        return queued

    def _name(self, code: str) -> str:
        reg = registry(self.settings)
        return reg.get(code).name if code in reg else code

    def digest(self, now: datetime) -> bool:
        """The Secretariat's daily digest of held and quarantined mail; once per day."""
        since = now - timedelta(days=1)
        with transaction(self.app.sessions) as session:
            recent = [m for m in repo.list_messages(session, None, 1000)
                      if m.processed_at and m.processed_at >= since]
            held = [message_summary(m) for m in recent if m.status == "held"]
            quarantined = [message_summary(m) for m in recent if m.status == "quarantined"]
            unknown: dict[str, dict[str, object]] = {}
            for m in recent:
                if m.classification == "unknown" and m.from_addr:
                    entry = unknown.setdefault(m.from_addr, {"address": m.from_addr, "count": 0,
                                                             "last_seen": m.received_at})
                    entry["count"] = int(str(entry["count"])) + 1
            failed = [failure_entry(r) for r in repo.list_outbox(session, "failed", 200)
                      if r.created_at >= since]
            failed += [failure_entry(r) for r in repo.list_outbox(session, "held", 200)]
            if not (held or quarantined or failed or unknown):
                return False
            out = Mailer(self.app).queue(
                session, kind="digest", key=f"digest:{now.date().isoformat()}",
                to=[self.settings.desk.secretariat_review], lang="en", now=now, cap=False,
                context={"digest_date": now.date(), "held": held, "quarantined": quarantined,
                         "unknown_senders": list(unknown.values()), "delivery_failures": failed})
            return out
