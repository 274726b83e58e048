"""Plain values that flow through the pipeline: the parsed mail, its classification, statuses.

``mail.parse`` turns raw bytes into an :class:`InboundMail`; ``domain.classify``
turns that into a :class:`Classification`; the service layer persists both.
The statuses a message, an outbox row, a submission, an incident or an
obligation can have are string enums here, so the database keeps the same
words and a misspelt status is a type error.  Nothing here performs I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MailClass(StrEnum):
    """What a message is, as far as the desk is concerned (first matching rule wins)."""

    OWN = "own"  # our own mail coming back to us
    BOUNCE = "bounce"  # a delivery status notification
    AUTO_REPLY = "auto_reply"  # out-of-office and other auto-submitted mail
    LIST = "list"  # mailing-list traffic
    SPOOFED = "spoofed"  # a registered address whose authentication failed
    CORRESPONDENCE = "correspondence"  # letters on which the desk is only in Cc
    SECRETARIAT = "secretariat"  # written to the desk by a Secretariat officer
    STATE = "state"  # written to the desk by a registered focal point
    UNKNOWN = "unknown"  # an unregistered sender


class MessageStatus(StrEnum):
    """What became of a received message."""

    RECEIVED = "received"  # recorded, not handled yet
    PROCESSED = "processed"
    HELD = "held"
    CORRECTED = "corrected"  # a form with errors: a correction was sent
    IGNORED = "ignored"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class Folder(StrEnum):
    """The outcome folder (by role) a handled message is moved to."""

    PROCESSED = "processed"
    QUARANTINE = "quarantine"
    IGNORED = "ignored"


class OutboxStatus(StrEnum):
    """Where a queued mail stands."""

    PENDING = "pending"
    HELD = "held"  # over the daily cap: kept for the Secretariat
    SENDING = "sending"  # claimed by a dispatcher
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RecipientStatus(StrEnum):
    """Where one recipient of a queued mail stands."""

    PENDING = "pending"
    SENT = "sent"
    REFUSED = "refused"
    BOUNCED = "bounced"


class Circulation(StrEnum):
    """What the reporting State chose for its report (paragraph 11 (b))."""

    CIRCULATE = "circulate"
    CONFIDENTIAL = "confidential"
    #: the form said nothing: circulated after a grace period (acknowledgements only)
    DEFAULTED = "circulation_defaulted"


class PartyRole(StrEnum):
    """How a State is party to an incident."""

    REPORTING = "reporting"  # it reported the violation
    HOST = "host"  # the violation took place on its territory
    OFFENDER = "offender"  # the alleged offender is present there
    SENDING = "sending"  # it sent the mission or representative affected


class SubmissionStatus(StrEnum):
    ACCEPTED = "accepted"
    HELD = "held"


class IncidentStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CycleStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class ObligationStatus(StrEnum):
    OPEN = "open"
    FULFILLED = "fulfilled"
    WAIVED = "waived"


#: Classes that must never receive an automatic answer (loop safety).
NEVER_ANSWER: frozenset[MailClass] = frozenset(
    {MailClass.OWN, MailClass.BOUNCE, MailClass.AUTO_REPLY, MailClass.LIST}
)


@dataclass(frozen=True)
class Attachment:
    """One attachment as the sender sent it; ``filename`` is display data only."""

    filename: str | None
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class InboundMail:
    """A received message reduced to the values the desk works with."""

    message_id: str | None
    from_addr: str  # lower-cased addr-spec; "" when the message has no usable From
    from_name: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    subject: str = ""
    date: datetime | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # (lower-cased name, unfolded value), in order
    text: str = ""  # the best plain-text rendering of the body (HTML converted)
    html: str | None = None  # the HTML body when there was one
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()  # what the MIME parser complained about
    size: int = 0
    content_type: str = "text/plain"

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        key = name.lower()
        for hname, value in self.headers:
            if hname == key:
                return value
        return None

    def header_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (case-insensitive), in order."""
        key = name.lower()
        return [value for hname, value in self.headers if hname == key]

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers: In-Reply-To first, then References newest first."""
        ids: list[str] = []
        if self.in_reply_to:
            ids.append(self.in_reply_to)
        ids.extend(reversed(self.references))
        return tuple(dict.fromkeys(ids))


@dataclass(frozen=True)
class MailContext:
    """What classification needs to know about the desk and the people it knows."""

    bot_addresses: frozenset[str]  # the desk's own addresses (lower-case)
    msgid_domain: str  # the domain of the Message-IDs the desk generates
    loop_header: str  # name of the desk's own loop header, e.g. "X-Mailbot-Loop"
    loop_value: str  # its value, identifying this deployment
    secretariat: frozenset[str]  # Secretariat officers' addresses
    focal_points: dict[str, str] = field(default_factory=dict)  # address -> State code
    authserv_ids: frozenset[str] = frozenset()  # trusted Authentication-Results authserv-ids
    relays: frozenset[str] = frozenset()  # our hosts whose Received stand above the border


@dataclass(frozen=True)
class Classification:
    """The outcome of the rule table: a class, the rules that matched, and what they found."""

    kind: MailClass
    rules: tuple[str, ...]  # names of every rule that matched, in table order
    state_code: str | None = None  # the sender's registered State, when known
    bounced: tuple[str, ...] = ()  # failing recipients reported by a bounce
    notes: tuple[str, ...] = ()  # human-readable explanations of the decision
    verified: bool = False  # the sender is proven (domain.trust), by our servers or the desk
    proof: str = ""  # how it was proven, or why not
    released: bool = False  # an officer vouched for the message (``messages release``)

    @property
    def answerable(self) -> bool:
        """Whether the desk may send an automatic answer to this message."""
        return self.kind not in NEVER_ANSWER
