"""Handlers: what the desk does with a classified message, inside the intake transaction.

Each class of mail has one handler.  A handler files what it can (through
``service.filing``), writes outbox rows through the :class:`Mailer` and
returns a :class:`HandlerResult` naming the status and the outcome folder.
It never commits and never talks to the network: the intake transaction
commits, the watcher moves the mail, the dispatcher sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mailbot.domain.types import Classification, InboundMail, MailClass
from mailbot.mail.bounces import bounce_info
from mailbot.service.prepare import NOT_READ, Prepared
from mailbot.store import repo
from mailbot.store.db import Session
from mailbot.store.tables import InboundMessage

if TYPE_CHECKING:
    from mailbot.service.app import App


@dataclass(frozen=True)
class HandlerResult:
    """The status of a handled message, the folder it belongs in, and why."""

    status: str  # processed | held | corrected | ignored | quarantined | duplicate
    folder: str  # processed | quarantine | ignored
    reason: str | None = None
    incident_id: int | None = None

    @classmethod
    def ignore(cls, reason: str, status: str = "ignored") -> HandlerResult:
        return cls(status, "ignored", reason)

    @classmethod
    def quarantine(cls, reason: str) -> HandlerResult:
        return cls("quarantined", "quarantine", reason)

    @classmethod
    def processed(cls, reason: str | None = None, incident_id: int | None = None) -> HandlerResult:
        return cls("processed", "processed", reason, incident_id)

    @classmethod
    def held(cls, reason: str, incident_id: int | None = None, folder: str = "processed") -> HandlerResult:
        return cls("held", folder, reason, incident_id)


class Handlers:
    """Dispatch a classified message to the handler for its class."""

    def __init__(self, app: App) -> None:
        from mailbot.service.filing import Filing
        from mailbot.service.outbox import Mailer

        self.app = app
        self.mailer = Mailer(app)
        self.filing = Filing(app, self.mailer)

    def handle(self, session: Session, row: InboundMessage, mail: InboundMail,
               cls: Classification, now: datetime, prepared: Prepared | None = None) -> HandlerResult:
        """``prepared``: the message as read ahead, whose form (when read) is not read again."""
        kind = cls.kind
        if kind is MailClass.OWN:
            return HandlerResult.ignore("our own mail came back: " + ", ".join(cls.rules))
        if kind is MailClass.AUTO_REPLY:
            return HandlerResult.ignore("auto-submitted mail (" + ", ".join(cls.rules) + "); not answered")
        if kind is MailClass.LIST:
            return HandlerResult.ignore("mailing-list traffic; not answered")
        if kind is MailClass.BOUNCE:
            return self.bounce(session, row, mail, cls, now)
        if kind is MailClass.SPOOFED:
            self.mailer.notify_secretariat(session, row, "suspected spoofing: authentication "
                                           "failed for a registered address", now)
            return HandlerResult.held("suspected spoofing: " + "; ".join(cls.notes or cls.rules),
                                      folder="quarantine")
        if kind is MailClass.CORRESPONDENCE:
            return self.filing.correspondence(session, row, mail, cls, now)
        if kind is MailClass.SECRETARIAT:
            return self.filing.secretariat(session, row, mail, cls, now)
        if kind is MailClass.STATE:
            form = prepared.form if prepared is not None and prepared.form_read else NOT_READ
            return self.filing.state_mail(session, row, mail, cls, now, form)
        return self.unknown(session, row, mail, cls, now)

    def quarantined(self, session: Session, row: InboundMessage, mail: InboundMail | None,
                    cls: Classification | None, sender_reason: str, reason: str,
                    now: datetime) -> None:
        """Tell the Secretariat of a quarantined mail, and the sender what to fix when we may."""
        self.mailer.notify_secretariat(session, row, reason, now, status="quarantined")
        if mail is None or cls is None or not cls.answerable or not mail.from_addr:
            return
        if cls.kind is MailClass.SPOOFED:
            return
        lang = "en"
        if cls.state_code:
            state = repo.get_state(session, cls.state_code)
            lang = state.language if state else "en"
        self.mailer.reply(session, "held", row, mail, now, lang=lang, state_code=cls.state_code,
                          context={"reason": sender_reason})

    def unknown(self, session: Session, row: InboundMessage, mail: InboundMail,
                cls: Classification, now: datetime) -> HandlerResult:
        if mail.from_addr:
            self.mailer.reply(session, "unknown_sender", row, mail, now, lang="en", context={})
        incident = self.filing.correlate(session, mail, row)
        return HandlerResult.held("unknown sender: not registered for any State; for review",
                                  incident_id=incident.id if incident else None)

    def bounce(self, session: Session, row: InboundMessage, mail: InboundMail,
               cls: Classification, now: datetime) -> HandlerResult:
        raw = self.app.blobs.get(row.content_hash)
        ours = set(re.findall(rb"<[^<>\s]+@" + re.escape(self.app.settings.desk.msgid_domain.encode())
                               + rb">", raw))
        originals = repo.find_outbox_by_message_ids(session, [m.decode() for m in ours])
        matched: list[str] = []
        temporary = set(bounce_info(raw).temporary)
        for address in cls.bounced:
            repo.record_bounce(session, address, address not in temporary, now)
            for out in originals:
                for rec in out.results:
                    if rec.address == address:
                        rec.status, rec.detail, rec.updated_at = "bounced", f"bounce message {row.id}", now
                        matched.append(f"{out.kind}:{out.key}")
        reason = f"bounce for {', '.join(cls.bounced) or 'unknown recipients'}"
        if matched:
            reason += "; delivery failed for " + ", ".join(sorted(set(matched)))
            incident_ids = {o.incident_id for o in originals if o.incident_id}
            if incident_ids:
                return HandlerResult.processed(reason, incident_id=min(incident_ids))
        return HandlerResult.processed(reason)
