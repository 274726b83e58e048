"""A message in hand and what handling it comes to: status, folder, why, and the mails decided.

Place in the flow: every handler (``service.handlers``, ``service.filing``)
returns a :class:`HandlerResult`; intake writes its mails to the outbox
(``service.queueing``), records the status and reason on the message and
commits; the watcher then moves the mail to the folder named here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from mailbot.domain.mails import OutgoingMail
from mailbot.domain.types import Classification, Folder, InboundMail, MessageStatus
from mailbot.service.reading import FormReading
from mailbot.store.db import Session
from mailbot.store.tables import InboundMessage


@dataclass(frozen=True)
class Handling:
    """A classified message in the hands of its handler, inside the intake transaction.

    ``reading``: its form as read already (by the parse-ahead worker); None when
    it was not looked for yet.
    """

    session: Session
    row: InboundMessage
    mail: InboundMail
    cls: Classification
    now: datetime
    reading: FormReading | None = None


@dataclass(frozen=True)
class HandlerResult:
    """The status of a handled message, the folder it belongs in, why, and the mails to queue."""

    status: MessageStatus
    folder: Folder
    reason: str | None = None
    incident_id: int | None = None
    mails: Sequence[OutgoingMail] = ()

    @classmethod
    def ignore(cls, reason: str, status: MessageStatus = MessageStatus.IGNORED) -> HandlerResult:
        return cls(status, Folder.IGNORED, reason)

    @classmethod
    def quarantine(cls, reason: str, mails: Sequence[OutgoingMail] = ()) -> HandlerResult:
        return cls(MessageStatus.QUARANTINED, Folder.QUARANTINE, reason, mails=mails)

    @classmethod
    def processed(cls, reason: str | None = None, incident_id: int | None = None,
                  mails: Sequence[OutgoingMail] = ()) -> HandlerResult:
        return cls(MessageStatus.PROCESSED, Folder.PROCESSED, reason, incident_id, mails)

    @classmethod
    def held(cls, reason: str, incident_id: int | None = None, folder: Folder = Folder.PROCESSED,
             mails: Sequence[OutgoingMail] = ()) -> HandlerResult:
        return cls(MessageStatus.HELD, folder, reason, incident_id, mails)

    @classmethod
    def corrected(cls, reason: str, mails: Sequence[OutgoingMail] = ()) -> HandlerResult:
        return cls(MessageStatus.CORRECTED, Folder.PROCESSED, reason, mails=mails)
