"""The data model: typed SQLAlchemy tables for everything the desk files and sends.

The store layer is the only place that imports SQLAlchemy.  Rows are written
by ``store.repo`` inside the one transaction that handles a message (intake)
or a timer (sweeps, dispatch).  Alembic migrations in ``store/migrations``
create the same schema; ``tests/unit/test_migrations.py`` checks they agree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, configure_mappers, mapped_column, relationship

from mailbot.domain.types import (
    CycleStatus,
    IncidentStatus,
    MessageStatus,
    ObligationStatus,
    OutboxStatus,
    RecipientStatus,
    SubmissionStatus,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(),
    }


class State(Base):
    """A Member or observer State, loaded from config/states.toml."""

    __tablename__ = "states"
    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(2), default="en")
    observer: Mapped[bool] = mapped_column(Boolean, default=False)
    addresses: Mapped[list[Address]] = relationship(back_populates="state")


class Address(Base):
    """An address the desk knows: a State's focal point or a Secretariat officer."""

    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    state_code: Mapped[str | None] = mapped_column(ForeignKey("states.code"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # focal_point | secretariat
    name: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    bounce_state: Mapped[str] = mapped_column(String(10), default="ok")  # ok | soft | hard
    bounce_count: Mapped[int] = mapped_column(Integer, default=0)
    last_bounce_at: Mapped[datetime | None]
    state: Mapped[State | None] = relationship(back_populates="addresses")


class Incident(Base):
    """A reported serious violation, with its reference (e.g. DCM-2026-0007)."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(40), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default=IncidentStatus.OPEN.value)
    occurred_on: Mapped[date | None] = mapped_column(Date)
    place: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    possibly_same_as_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))
    created_at: Mapped[datetime]
    parties: Mapped[list[IncidentParty]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", order_by="IncidentParty.id"
    )
    __table_args__ = (UniqueConstraint("year", "seq", name="uq_incidents_year_seq"),)


class IncidentParty(Base):
    """A State (or organization) and its role in an incident."""

    __tablename__ = "incident_parties"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # reporting | host | sending | offender
    state_code: Mapped[str | None] = mapped_column(ForeignKey("states.code"))
    organization: Mapped[str | None] = mapped_column(String(300))
    incident: Mapped[Incident] = relationship(back_populates="parties")


class ReferenceCounter(Base):
    """The last sequence number issued per prefix and year: references are never reused."""

    __tablename__ = "reference_counters"
    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)


class Cycle(Base):
    """A reporting cycle, ending with the report to one session of the General Assembly."""

    __tablename__ = "cycles"
    id: Mapped[int] = mapped_column(primary_key=True)
    session: Mapped[int] = mapped_column(Integer, unique=True)
    opened_at: Mapped[datetime]
    deadline: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=CycleStatus.OPEN.value)
    circular_sent_at: Mapped[datetime | None]


class InboundMessage(Base):
    """A received message: where it was, what it is, why, and what became of it."""

    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    # Message-ID or sha256:...; looked up through uq_messages_key_hash, which it leads
    message_key: Mapped[str] = mapped_column(String(998))
    message_id: Mapped[str | None] = mapped_column(String(998))
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_date: Mapped[datetime | None]
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    classification: Mapped[str | None] = mapped_column(String(20))
    rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    notes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    state_code: Mapped[str | None] = mapped_column(ForeignKey("states.code"))
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.RECEIVED.value)
    # received | processed | held | quarantined | ignored | duplicate
    folder: Mapped[str | None] = mapped_column(String(200))  # the outcome folder
    reason: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"))  # ix below
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    locations: Mapped[list[MessageLocation]] = relationship(back_populates="message")
    attachments: Mapped[list[AttachmentRecord]] = relationship(
        back_populates="message", order_by="AttachmentRecord.id"
    )
    __table_args__ = (UniqueConstraint("message_key", "content_hash", name="uq_messages_key_hash"),)


class MessageLocation(Base):
    """Where a message was seen: mailbox, UIDVALIDITY and UID (a message may be seen twice)."""

    __tablename__ = "message_locations"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    mailbox: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(Integer)
    uid: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime]
    message: Mapped[InboundMessage] = relationship(back_populates="locations")
    __table_args__ = (
        UniqueConstraint("mailbox", "uidvalidity", "uid", name="uq_message_locations_uid"),
    )


class AttachmentRecord(Base):
    """An attachment of a message, stored content-addressed under its SHA-256."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    safe_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(20), default="ok")  # ok | blocked | too_large
    message: Mapped[InboundMessage] = relationship(back_populates="attachments")


class Submission(Base):
    """A filed form: a violation report, a follow-up report or views."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # violation | follow_up | views
    state_code: Mapped[str] = mapped_column(ForeignKey("states.code"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    extra_lines: Mapped[list[Any]] = mapped_column(JSON, default=list)
    circulation: Mapped[str] = mapped_column(String(20))  # circulate | confidential | pending
    circulation_defaulted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=SubmissionStatus.ACCEPTED.value)
    hold_reason: Mapped[str | None] = mapped_column(Text)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime]
    incident: Mapped[Incident | None] = relationship()


class Obligation(Base):
    """A report a State owes for an incident (para 10 (a) or 10 (b)), and its reminders."""

    __tablename__ = "obligations"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    state_code: Mapped[str] = mapped_column(ForeignKey("states.code"), index=True)
    paragraph: Mapped[str] = mapped_column(String(10))  # 10a | 10b | 10b-final
    role: Mapped[str] = mapped_column(String(20))  # host | offender
    gentle: Mapped[bool] = mapped_column(Boolean, default=False)
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default=ObligationStatus.OPEN.value)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    fulfilled_by_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    created_at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        UniqueConstraint("incident_id", "state_code", "paragraph", name="uq_obligations_owed"),
    )


class OutboxMessage(Base):
    """A mail the desk decided to send, written in the same transaction as the decision."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    recipients: Mapped[list[Any]] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)  # filled when the mail is rendered
    # The decision, rendered by the dispatcher when the row is first claimed: the
    # mail's name (kind), language and context, its attachments in the blob store,
    # and how it threads.  ``raw`` keeps the rendered bytes, so a resend is identical.
    lang: Mapped[str] = mapped_column(String(8), default="en")
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attachment_refs: Mapped[list[Any]] = mapped_column(JSON, default=list)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    thread_references: Mapped[list[Any]] = mapped_column(JSON, default=list)
    auto_submitted: Mapped[str] = mapped_column(String(20), default="auto-generated")
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    # both looked up through ix_outbox_due (below), which status leads
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.PENDING.value)
    # pending | sending | sent | failed | held
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    reported_at: Mapped[datetime | None]  # when a failure went into a Secretariat digest
    # the random part of the row's own return path (mail.verp): only a bounce to it counts
    return_token: Mapped[str | None] = mapped_column(String(16))
    state_code: Mapped[str | None] = mapped_column(ForeignKey("states.code"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    cause_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime]
    results: Mapped[list[OutboxRecipient]] = relationship(
        back_populates="outbox", cascade="all, delete-orphan"
    )


class OutboxRecipient(Base):
    """The delivery result of one outbox row for one recipient (sent, refused, bounced)."""

    __tablename__ = "outbox_recipients"
    id: Mapped[int] = mapped_column(primary_key=True)
    # looked up through uq_outbox_recipients_addr, which it leads
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    address: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default=RecipientStatus.PENDING.value)
    # pending | sent | refused | bounced
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]
    outbox: Mapped[OutboxMessage] = relationship(back_populates="results")
    __table_args__ = (UniqueConstraint("outbox_id", "address", name="uq_outbox_recipients_addr"),)


class Instrument(Base):
    """One of the seven instruments of paragraph 8 (config/instruments.toml)."""

    __tablename__ = "instruments"
    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    place: Mapped[str | None] = mapped_column(String(100))
    adopted_on: Mapped[date | None] = mapped_column(Date)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Ratification(Base):
    """A State's participation in an instrument, as the Secretariat's table records it."""

    __tablename__ = "ratifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    state_code: Mapped[str] = mapped_column(ForeignKey("states.code"))
    instrument_code: Mapped[str] = mapped_column(ForeignKey("instruments.code"))
    signed_on: Mapped[date | None] = mapped_column(Date)
    consent_on: Mapped[date | None] = mapped_column(Date)
    consent_kind: Mapped[str | None] = mapped_column(String(20))
    # ratification | accession | succession
    __table_args__ = (
        UniqueConstraint("state_code", "instrument_code", name="uq_ratifications_pair"),
    )


class Confirmation(Base):
    """A round trip asked of a registered address whose mail's sender was not proven.

    The mail stays held until a reply from that address carries the token, or
    an officer releases it; past ``expires_at`` it is never acted on.
    """

    __tablename__ = "confirmations"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    address: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # pending | confirmed | released | expired
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(320))  # an address, or "expiry"


Index("ix_outbox_due", OutboxMessage.status, OutboxMessage.next_attempt_at)
# an incident's messages; most messages belong to none, and an index holds only those that do
# (every index a row enters is one more page written at each commit)
Index("ix_messages_incident_id", InboundMessage.incident_id,
      sqlite_where=InboundMessage.incident_id.isnot(None),
      postgresql_where=InboundMessage.incident_id.isnot(None))
# the daily cap counts one address's mails of the last day: a range, not the address's whole history
Index("ix_outbox_recipients_address_created", OutboxRecipient.address, OutboxRecipient.created_at)

# every mapper complete now, not at the first ORM query: the store builds rows as loaded
# (``repo.load``) without one, and a CLI command's first lookup may be such a load
configure_mappers()
