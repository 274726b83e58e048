"""Handlers: what the desk does with a classified message, inside the intake transaction.

As ``domain.classify.RULES`` is one table of rules, :data:`HANDLERS` is one
table of handlers: each class of mail maps to one small function.  A handler
files what it can (through ``service.filing``), decides the mails to send
(through the :class:`~mailbot.service.outbox.Mailer`) and returns a
:class:`~mailbot.service.results.HandlerResult` naming the status, the
outcome folder and those mails.  It never commits, never writes the outbox
and never talks to the network: intake writes the mails and commits, the
watcher moves the mail, the dispatcher sends.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from mailbot.domain.mails import Held, OutgoingMail, UnknownSender
from mailbot.domain.types import (
    Classification,
    Folder,
    InboundMail,
    MailClass,
    MessageStatus,
    RecipientStatus,
)
from mailbot.mail.bounces import bounce_info
from mailbot.mail.verp import row_of
from mailbot.service.confirming import answer_confirmation, await_confirmation, token_in
from mailbot.service.filing import Filing
from mailbot.service.outbox import Mailer
from mailbot.service.reading import FormReading
from mailbot.service.results import HandlerResult, Handling
from mailbot.service.secretariat import secretariat
from mailbot.store import repo
from mailbot.store.db import Session
from mailbot.store.tables import InboundMessage, OutboxMessage

if TYPE_CHECKING:
    from mailbot.service.app import App

__all__ = ["HANDLERS", "HandlerResult", "Handlers", "Handling"]

Handler = Callable[["Handlers", Handling], HandlerResult]


def own_mail(desk: Handlers, msg: Handling) -> HandlerResult:
    return HandlerResult.ignore("our own mail came back: " + ", ".join(msg.cls.rules))


def auto_reply(desk: Handlers, msg: Handling) -> HandlerResult:
    return HandlerResult.ignore("auto-submitted mail (" + ", ".join(msg.cls.rules) + "); not answered")


def list_mail(desk: Handlers, msg: Handling) -> HandlerResult:
    return HandlerResult.ignore("mailing-list traffic; not answered")


def spoofed(desk: Handlers, msg: Handling) -> HandlerResult:
    notice = desk.mailer.notify_secretariat(msg.row, "suspected spoofing: authentication "
                                            "failed for a registered address")
    return HandlerResult.held("suspected spoofing: " + "; ".join(msg.cls.notes or msg.cls.rules),
                              folder=Folder.QUARANTINE, mails=[notice])


def correspondence(desk: Handlers, msg: Handling) -> HandlerResult:
    """Letters on which the desk is copied: filed by reference or thread, never answered (and
    only once their sender is proven: until then the Secretariat sees them in its digest)."""
    if not msg.cls.verified:
        return HandlerResult.held(f"correspondence whose sender is not proven ({msg.cls.proof}); "
                                  "for review")
    incident = desk.filing.correlate(msg.session, msg.mail, msg.row)
    if incident is None:
        return HandlerResult.held("correspondence that matches no incident; for review")
    return HandlerResult.processed(f"correspondence filed on {incident.reference}",
                                   incident_id=incident.id)


def proven(handler: Handler) -> Handler:
    """``handler`` for a proven sender; a reply carrying a confirmation code confirms what it
    names, and anything else from an unproven sender waits for its confirmation."""

    def gated(desk: Handlers, msg: Handling) -> HandlerResult:
        token = token_in(msg.mail.subject, msg.mail.text)
        if token is not None:
            return answer_confirmation(desk, msg, token)
        if not msg.cls.verified:
            return await_confirmation(desk, msg)
        return handler(desk, msg)

    return gated


def state_mail(desk: Handlers, msg: Handling) -> HandlerResult:
    return desk.filing.state_mail(msg)


def unknown(desk: Handlers, msg: Handling) -> HandlerResult:
    """A stranger is answered only when proven (never quoted): else the desk would mail
    whoever a forger names in the From line."""
    mails = []
    if msg.mail.from_addr and msg.cls.verified:
        mails.append(desk.mailer.reply(UnknownSender(), msg.row, msg.mail, lang="en"))
    incident = desk.filing.correlate(msg.session, msg.mail, msg.row)
    return HandlerResult.held("unknown sender: not registered for any State; for review",
                              incident_id=incident.id if incident else None, mails=mails)


def bounce(desk: Handlers, msg: Handling) -> HandlerResult:
    """A delivery status notification: believed only when it came back to the return path of
    one of our mails (``mail.verp``); then each failed recipient of that mail is recorded."""
    original = _returned_mail(msg)
    if original is None:
        return HandlerResult.processed(
            f"bounce for {', '.join(msg.cls.bounced) or 'unknown recipients'} not addressed to a "
            "return path of ours: delivery records left unchanged")
    temporary = set(bounce_info(desk.app.blobs.get(msg.row.content_hash)).temporary)
    failed = [rec for rec in original.results if rec.address in msg.cls.bounced]
    for rec in failed:
        repo.record_bounce(msg.session, rec.address, rec.address not in temporary, msg.now)
        rec.status, rec.updated_at = RecipientStatus.BOUNCED, msg.now
        rec.detail = f"bounce message {msg.row.id}"
    reason = f"bounce for {', '.join(msg.cls.bounced) or 'unknown recipients'}"
    if failed:
        reason += f"; delivery failed for {original.kind}:{original.key}"
    return HandlerResult.processed(reason, incident_id=original.incident_id)


def _returned_mail(msg: Handling) -> OutboxMessage | None:
    """The outbox row whose return path this notification was delivered to (the address our
    mailbox server recorded, topmost first), when the token matches."""
    candidates = [*msg.mail.header_all("delivered-to")[:1], *msg.mail.header_all("x-original-to")[:1],
                  *msg.mail.to]
    for address in candidates:
        named = row_of(address)
        if named is None:
            continue
        row = msg.session.get(OutboxMessage, named[0])
        if row is not None and row.return_token and secrets.compare_digest(row.return_token, named[1]):
            return row
    return None


#: The handler of each class of mail.
HANDLERS: dict[MailClass, Handler] = {
    MailClass.OWN: own_mail,
    MailClass.BOUNCE: bounce,
    MailClass.AUTO_REPLY: auto_reply,
    MailClass.LIST: list_mail,
    MailClass.SPOOFED: spoofed,
    MailClass.CORRESPONDENCE: correspondence,
    MailClass.SECRETARIAT: proven(secretariat),
    MailClass.STATE: proven(state_mail),
    MailClass.UNKNOWN: unknown,
}


class Handlers:
    """Hands a classified message to the handler for its class (:data:`HANDLERS`)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.mailer = Mailer(app)
        self.filing = Filing(app, self.mailer)

    def handle(self, session: Session, row: InboundMessage, mail: InboundMail,
               cls: Classification, now: datetime,
               reading: FormReading | None = None) -> HandlerResult:
        """``reading``: the message's form as read ahead, which is not read again."""
        return HANDLERS[cls.kind](self, Handling(session, row, mail, cls, now, reading))

    def quarantined(self, session: Session, row: InboundMessage, mail: InboundMail | None,
                    cls: Classification | None, sender_reason: str, reason: str
                    ) -> list[OutgoingMail]:
        """Tell the Secretariat of a quarantined mail, and the sender what to fix when we may."""
        mails = [self.mailer.notify_secretariat(row, reason, status=MessageStatus.QUARANTINED)]
        if mail is None or cls is None or not cls.answerable or not mail.from_addr or not cls.verified:
            return mails
        if cls.kind is MailClass.SPOOFED:
            return mails
        lang = "en"
        if cls.state_code:
            state = repo.get_state(session, cls.state_code)
            lang = state.language if state else "en"
        mails.append(self.mailer.reply(Held(sender_reason), row, mail, lang=lang,
                                       state_code=cls.state_code))
        return mails
