"""The outbox's writer: each decided mail becomes one outbox row, inside the caller's transaction.

Place in the flow: handlers, the sweep and the cycle opening decide
:class:`~mailbot.domain.mails.OutgoingMail` values; :class:`Outbox` writes
them.  It gives each a stable Message-ID derived from its unique key, applies
loop safety (never to the desk's own addresses, a daily cap per address) and
stores the context as JSON for the dispatcher to render at sending time
(``service.rendering``); the same key never enqueues twice.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailbot.domain.classify import unplussed
from mailbot.domain.mails import MailContent, OutgoingMail
from mailbot.domain.types import OutboxStatus
from mailbot.mail.msgid import make_message_id
from mailbot.service.registry import registry
from mailbot.service.rendering import freeze
from mailbot.store import repo
from mailbot.store.db import Session

if TYPE_CHECKING:
    from mailbot.service.app import App

#: contexts converted lately and kept by identity (a circulation shares one per language)
FROZEN_KEPT = 8


class Outbox:
    """Writes decided mails as outbox rows."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings
        self._registry = registry(self.settings)
        self._own = frozenset(unplussed(a) for a in self.settings.desk.addresses)
        #: contexts converted lately, by identity (each with its content, which keeps its id unique)
        self._frozen: dict[int, tuple[MailContent, dict[str, Any]]] = {}

    def write(self, session: Session, mails: Iterable[OutgoingMail], now: datetime) -> int:
        """Write each mail in order; how many were queued."""
        return sum(self.put(session, mail, now) for mail in mails)

    def put(self, session: Session, mail: OutgoingMail, now: datetime) -> bool:
        """Queue one mail; False when it is not queued.

        Not queued: no recipient left once the desk's own addresses are removed, or
        a row with the same key exists.
        """
        recipients = [a for a in dict.fromkeys(x.strip().lower() for x in mail.to)
                      if a and unplussed(a) not in self._own]  # desk+token@ is the desk too
        if not recipients:
            return False
        in_reply_to, references = None, []
        if mail.reply is not None and mail.reply.message_id:
            in_reply_to, references = mail.reply.message_id, list(mail.reply.references)
        refs = [[name, ctype, self.app.blobs.put(data)] for name, ctype, data in mail.attachments]
        refs += [list(ref) for ref in mail.attachment_refs]
        status, error = self._cap(session, mail, recipients, now)
        return repo.enqueue(session, {
            "key": mail.key, "kind": mail.kind.value,
            "message_id": make_message_id(mail.key, self.settings.desk.msgid_domain),
            "recipients": recipients, "subject": "", "lang": mail.lang,
            "context": self._context(mail, now), "attachment_refs": refs,
            "in_reply_to": in_reply_to, "thread_references": references,
            "auto_submitted": mail.auto_submitted, "raw": None, "status": status.value,
            "attempts": 0, "next_attempt_at": mail.not_before or now, "last_error": error,
            "state_code": mail.state_code, "incident_id": mail.incident_id,
            "submission_id": mail.submission_id, "cause_message_id": mail.cause_id,
            "created_at": now, "return_token": secrets.token_hex(8),
        }, known_new=mail.known_new)

    def _cap(self, session: Session, mail: OutgoingMail, recipients: list[str],
             now: datetime) -> tuple[OutboxStatus, str | None]:
        """Pending, or held when a recipient had its daily cap of automatic mails."""
        if not mail.cap:
            return OutboxStatus.PENDING, None
        since = now - timedelta(days=1)
        limit = self.settings.policy.daily_cap_per_address
        over = [a for a in recipients if repo.automatic_mail_count(session, a, since, limit) >= limit]
        if not over:
            return OutboxStatus.PENDING, None
        return OutboxStatus.HELD, f"daily cap of {limit} automatic mails reached for {', '.join(over)}"

    def _context(self, mail: OutgoingMail, now: datetime) -> dict[str, Any]:
        """The stored context: the note's frame, the answer's fields, then the mail's own.

        The content shared by several mails (a circulation's, one per language) is
        converted once, not once per State.
        """
        content = mail.content
        frozen = self._frozen.get(id(content))
        if frozen is None or frozen[0] is not content:
            if len(self._frozen) >= FROZEN_KEPT:
                self._frozen.clear()
            frozen = self._frozen[id(content)] = (content, freeze(content.context()))
        own = frozen[1]
        if mail.reply is not None:
            own = {**freeze(mail.reply.context()), **own}
        return {**freeze(self.note_frame(mail, now)), **own}

    def note_frame(self, mail: OutgoingMail, now: datetime) -> dict[str, Any]:
        """What every note verbale needs: reference line, date, addressee, confidentiality."""
        code = mail.state_code
        state = self._registry.get(code) if code and code in self._registry else None
        reference = mail.reference
        return {
            "state_name": state.display_name(mail.lang) if state else None,
            "observer": bool(state and state.observer),
            "reference": reference,
            "note_reference": f"LA/COD/61-31/{reference}" if reference else "LA/COD/61-31",
            "note_date": now.date(),
            "confidential": False,
        }
