"""Outgoing-mail decisions: one typed value per mail kind, and the routing it travels with.

Place in the flow: the handlers, the sweep and the cycle opening decide what
to send and return :class:`OutgoingMail` values; the outbox
(``service.queueing``) writes each as one row, and the dispatcher renders the
row's template at sending time.  Each content class carries exactly the
variables its template (``templates/mail/<lang>/<kind>.*.j2``) uses, beyond
those every note shares (:data:`NOTE_FIELDS`, from the routing) and those of
an answer (:data:`REPLY_FIELDS`, from the received message).  Nothing here
performs I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar


class MailKind(StrEnum):
    """Every mail the desk sends (the outbox ``kind`` and the template name)."""

    ACK_VIOLATION = "ack_violation"
    ACK_FOLLOW_UP = "ack_follow_up"
    ACK_VIEWS = "ack_views"
    CORRECTION = "correction"
    UNKNOWN_SENDER = "unknown_sender"
    HELD = "held"
    CONFIRMATION_REQUEST = "confirmation_request"
    CIRCULATION = "circulation"
    ATTENTION = "attention"
    REMINDER = "reminder"
    ESCALATION = "escalation"
    CIRCULAR = "circular"
    DIGEST = "digest"
    SECRETARIAT_NOTICE = "secretariat_notice"
    COMMAND_RESULT = "command_result"
    DELIVERY_FAILURE = "delivery_failure"


#: What the outbox adds to every mail from its routing: the note verbale's frame.
NOTE_FIELDS = frozenset({"state_name", "observer", "reference", "note_reference", "note_date",
                         "confidential"})
#: What the outbox adds to an answer from the message it answers.
REPLY_FIELDS = frozenset({"received_at", "original_subject", "sender_address"})

Pairs = Sequence[tuple[str, str]]
Record = dict[str, Any]


class MailContent:
    """A mail's own template variables; subclasses are frozen dataclasses with slots."""

    __slots__ = ()
    kind: ClassVar[MailKind]

    def context(self) -> dict[str, Any]:
        """The fields as a template context (a shallow dict: values are shared, not copied)."""
        names: tuple[str, ...] = self.__slots__
        return {name: getattr(self, name) for name in names}


@dataclass(frozen=True, slots=True)
class AckViolation(MailContent):
    kind: ClassVar[MailKind] = MailKind.ACK_VIOLATION
    summary: Pairs
    attachments: Sequence[tuple[str, int]]
    circulation: str
    objection_deadline: datetime | None
    confidential: bool
    follow_up_due: date | None


@dataclass(frozen=True, slots=True)
class AckFollowUp(MailContent):
    kind: ClassVar[MailKind] = MailKind.ACK_FOLLOW_UP
    summary: Pairs
    attachments: Sequence[tuple[str, int]]
    circulation: str
    objection_deadline: datetime | None
    confidential: bool
    outstanding: Sequence[str]


@dataclass(frozen=True, slots=True)
class AckViews(MailContent):
    kind: ClassVar[MailKind] = MailKind.ACK_VIEWS
    summary: Pairs
    attachments: Sequence[tuple[str, int]]
    circulation: str
    objection_deadline: datetime | None
    confidential: bool
    cycle: str


@dataclass(frozen=True, slots=True)
class Correction(MailContent):
    kind: ClassVar[MailKind] = MailKind.CORRECTION
    problems: Pairs
    prefilled_form: str
    form_kind: str
    reference: str | None


@dataclass(frozen=True, slots=True)
class UnknownSender(MailContent):
    kind: ClassVar[MailKind] = MailKind.UNKNOWN_SENDER


@dataclass(frozen=True, slots=True)
class Held(MailContent):
    kind: ClassVar[MailKind] = MailKind.HELD
    reason: str


@dataclass(frozen=True, slots=True)
class ConfirmationRequest(MailContent):
    """Asks a registered address to confirm a communication before the desk acts on it (the
    round trip for mail whose sender could not be proven)."""

    kind: ClassVar[MailKind] = MailKind.CONFIRMATION_REQUEST
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CirculationNote(MailContent):
    """Shared by every State's note in one language (the outbox converts it once)."""

    kind: ClassVar[MailKind] = MailKind.CIRCULATION
    report_kind: str
    reporting_state: str
    communication_date: date
    summary: Pairs
    cycle: str
    attachments: Sequence[Record]
    request_address: str


@dataclass(frozen=True, slots=True)
class Attention(MailContent):
    kind: ClassVar[MailKind] = MailKind.ATTENTION
    role: str
    reporting_state: str
    communication_date: date
    incident_date: date | None
    place: str
    confidential: bool
    due_date: date
    followup_form: str


@dataclass(frozen=True, slots=True)
class Reminder(MailContent):
    kind: ClassVar[MailKind] = MailKind.REMINDER
    paragraph: str
    due_date: date
    reminder_number: int
    gentle: bool
    outstanding: Sequence[str]
    prefilled_form: str


@dataclass(frozen=True, slots=True)
class Escalation(MailContent):
    kind: ClassVar[MailKind] = MailKind.ESCALATION
    paragraph: str
    due_date: date
    reminders_sent: int
    last_reminder_at: date
    obligation_key: str
    state_name: str


@dataclass(frozen=True, slots=True)
class Circular(MailContent):
    kind: ClassVar[MailKind] = MailKind.CIRCULAR
    cycle: str
    ga_session: int
    deadline: date
    blank_forms: Sequence[Record]


@dataclass(frozen=True, slots=True)
class Digest(MailContent):
    kind: ClassVar[MailKind] = MailKind.DIGEST
    digest_date: date
    held: Sequence[Record]
    quarantined: Sequence[Record]
    unknown_senders: Sequence[Record]
    delivery_failures: Sequence[Record]


@dataclass(frozen=True, slots=True)
class SecretariatNotice(MailContent):
    kind: ClassVar[MailKind] = MailKind.SECRETARIAT_NOTICE
    status: str
    received_at: datetime
    from_addr: str
    original_subject: str
    reason: str
    message_key: str
    actions: Sequence[str]


@dataclass(frozen=True, slots=True)
class CommandResult(MailContent):
    kind: ClassVar[MailKind] = MailKind.COMMAND_RESULT
    lines: Sequence[str]
    ok: bool
    command_subject: str


@dataclass(frozen=True, slots=True)
class DeliveryFailure(MailContent):
    kind: ClassVar[MailKind] = MailKind.DELIVERY_FAILURE
    failures: Sequence[Record]


#: Each mail kind's content class.
CONTENTS: dict[MailKind, type[MailContent]] = {
    c.kind: c for c in (AckViolation, AckFollowUp, AckViews, Correction, UnknownSender, Held,
                        ConfirmationRequest, CirculationNote, Attention, Reminder, Escalation,
                        Circular, Digest,
                        SecretariatNotice, CommandResult, DeliveryFailure)
}

#: (file name, media type, bytes) of an attachment to store; (name, type, digest) of a stored one
FileData = tuple[str, str, bytes]
FileRef = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Reply:
    """The received message an answer replies to (threading and the answer's own fields)."""

    received_at: datetime
    original_subject: str
    sender_address: str
    message_id: str | None
    references: tuple[str, ...] = ()

    def context(self) -> dict[str, Any]:
        return {"received_at": self.received_at, "original_subject": self.original_subject,
                "sender_address": self.sender_address}


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """One decided mail: its content and where it goes, under a key that is queued once.

    ``cap``: counts against the recipients' daily cap of automatic mails;
    ``not_before``: leaves no earlier (a circulation's grace period);
    ``known_new``: the caller checked that no row has this key.
    """

    content: MailContent
    key: str
    to: Sequence[str]
    lang: str
    state_code: str | None = None
    incident_id: int | None = None
    reference: str | None = None  # the incident's, for the note's reference line
    submission_id: int | None = None
    cause_id: int | None = None  # the received message that caused it
    reply: Reply | None = None
    attachments: Sequence[FileData] = ()
    attachment_refs: Sequence[FileRef] = ()
    cap: bool = True  # held past the daily cap of automatic mails to an address (a State's);
    # mail to the Secretariat is never held
    not_before: datetime | None = None
    known_new: bool = False

    @property
    def kind(self) -> MailKind:
        return self.content.kind

    @property
    def auto_submitted(self) -> str:
        """The Auto-Submitted value (RFC 3834): answers are auto-replied."""
        return "auto-replied" if self.reply is not None else "auto-generated"
