"""The round trip: mail from a registered address whose sender is not proven waits for its
confirmation before the desk acts on it.

Place in the flow: the handlers of a State's and the Secretariat's mail
(``service.handlers``) call :func:`await_confirmation` when the sender is not
proven (``domain.trust``): the message is filed as held, and the registered
address gets a short note with a single-use code.  A reply from that address
carrying the code (:func:`answer_confirmation`), or an officer's release
(:func:`release`, ``mailbot messages release ID``), has the desk handle the
held message as proven, in the same transaction; a code past its time is
never honoured (the sweep marks it expired and the digest lists it).  Only
the registered address receives the code, so a forger who wrote its From
line cannot confirm; and the State is told only that every communication is
confirmed, never that its mail looked forged.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mailbot.domain.classify import unplussed
from mailbot.domain.mails import ConfirmationRequest
from mailbot.domain.types import Classification, MailClass, MessageStatus
from mailbot.mail.parse import parse_message
from mailbot.service.results import HandlerResult, Handling
from mailbot.store import confirmation_rows, repo
from mailbot.store.db import Session
from mailbot.store.tables import Confirmation, InboundMessage

if TYPE_CHECKING:
    from mailbot.service.handlers import Handlers

TOKEN = re.compile(r"\bCNF-[A-Z2-7]{16}\b")
#: the classes of held mail an officer may release
RELEASABLE = frozenset({MailClass.STATE.value, MailClass.SECRETARIAT.value})
#: how much of a reply's text is searched for the code (a quoted note is near the top)
SEARCHED = 20_000


class ReleaseError(Exception):
    """The message cannot be released (unknown, or not waiting for a confirmation)."""


def new_token() -> str:
    """A single-use code: 80 random bits, written in letters and digits that read unambiguously."""
    return "CNF-" + base64.b32encode(secrets.token_bytes(10)).decode("ascii")


def token_in(subject: str, text: str) -> str | None:
    """The confirmation code a reply carries in its subject or its text, if any."""
    found = TOKEN.search(subject) or TOKEN.search(text[:SEARCHED])
    return found.group(0) if found else None


def await_confirmation(desk: Handlers, msg: Handling) -> HandlerResult:
    """Hold ``msg`` and ask its registered address to confirm it (once per message)."""
    settings = desk.app.settings
    conf = confirmation_rows.confirmation_of_message(msg.session, msg.row.id)
    if conf is None:
        conf = confirmation_rows.add_confirmation(
            msg.session, token=new_token(), message_id=msg.row.id,
            address=unplussed(msg.mail.from_addr.lower()), now=msg.now,
            expires_at=msg.now + timedelta(hours=settings.policy.confirmation_hours))
    request = desk.mailer.reply(ConfirmationRequest(conf.token, conf.expires_at), msg.row, msg.mail,
                                lang=desk.mailer.mail_lang(msg.cls.state_code),
                                state_code=msg.cls.state_code)
    until = f"{conf.expires_at:%Y-%m-%d %H:%M}"
    return HandlerResult.held(f"awaiting confirmation by {conf.address} until {until} "
                              f"(sender not proven: {msg.cls.proof})", mails=[request])


def answer_confirmation(desk: Handlers, msg: Handling, token: str) -> HandlerResult:
    """A reply carrying a code: the held message is handled as proven, when the code is valid."""
    conf = confirmation_rows.confirmation_by_token(msg.session, token)
    sender = unplussed(msg.mail.from_addr.lower())
    problem = _invalid(conf, sender, msg.now)
    if problem or conf is None:
        return HandlerResult.held(f"confirmation code {token}: {problem}; not acted on")
    conf.status, conf.decided_at, conf.decided_by = "confirmed", msg.now, sender
    acted = act_on(desk, msg.session, conf.message_id, msg.now,
                   proof=f"confirmed by a reply from {sender} (message {msg.row.id})")
    outcome = acted.reason or acted.status
    return HandlerResult.processed(f"confirmation of message {conf.message_id}: {outcome}",
                                   incident_id=acted.incident_id, mails=acted.mails)


def _invalid(conf: Confirmation | None, sender: str, now: datetime) -> str | None:
    if conf is None:
        return "matches no confirmation asked"
    if conf.status != "pending":
        return f"already {conf.status}"
    if now >= conf.expires_at:
        conf.status, conf.decided_at, conf.decided_by = "expired", now, "expiry"
        return "arrived after it expired"
    if sender != conf.address:
        return f"sent from {sender}, not from {conf.address} to which it was sent"
    return None


def act_on(desk: Handlers, session: Session, message_id: int, now: datetime, proof: str,
           released: bool = False) -> HandlerResult:
    """Handle a held message again, its sender now proven; record the outcome on it."""
    row = session.get(InboundMessage, message_id)
    if row is None or row.classification is None:
        raise ReleaseError(f"message {message_id} was not classified")
    mail = parse_message(desk.app.blobs.get(row.content_hash))
    cls = replace(_classification_of(row), verified=True, proof=proof, released=released)
    result = desk.handle(session, row, mail, cls, now)
    repo.finish_message(session, row, status=result.status, reason=result.reason,
                        folder=row.folder or result.folder, processed_at=now,
                        duplicate_of_id=row.duplicate_of_id,
                        incident_id=row.incident_id if result.incident_id is None else result.incident_id)
    return result


def _classification_of(row: InboundMessage) -> Classification:
    return Classification(kind=MailClass(row.classification or MailClass.UNKNOWN), rules=tuple(row.rules),
                          state_code=row.state_code, notes=tuple(row.notes))


def release(desk: Handlers, session: Session, message_id: int, officer: str, now: datetime
            ) -> HandlerResult:
    """An officer vouches for a held message (``mailbot messages release``): handled as proven
    and released (past the day's number of reports too), whatever held it."""
    row = session.get(InboundMessage, message_id)
    if row is None:
        raise ReleaseError(f"no message {message_id}")
    if row.status != MessageStatus.HELD or row.classification not in RELEASABLE:
        raise ReleaseError(f"message {message_id} is not a State's or the Secretariat's held mail")
    conf = confirmation_rows.confirmation_of_message(session, message_id)
    if conf is not None and conf.status in ("pending", "expired"):
        conf.status, conf.decided_at, conf.decided_by = "released", now, officer
    return act_on(desk, session, message_id, now, proof=f"released by {officer}", released=True)
