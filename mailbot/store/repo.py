"""Queries and writes the service layer needs, on a session it owns.

Functions here take an open :class:`~sqlalchemy.orm.Session` (the caller's
transaction) and plain values, and return rows or plain values.  They never
commit: the unit of work (one message, one sweep) belongs to the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import bindparam, func, insert, inspect, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from mailbot.store import outbox_rows as _outbox
from mailbot.store.direct import Direct
from mailbot.store.tables import (
    Address,
    AttachmentRecord,
    Base,
    InboundMessage,
    Incident,
    IncidentParty,
    MessageLocation,
    Obligation,
    OutboxMessage,
    ReferenceCounter,
    State,
    Submission,
)

# the outbox's queries live in store.outbox_rows; the service reaches them as repo.*
OUTBOX_COLUMNS = _outbox.OUTBOX_COLUMNS
PENDING_OUTBOX = _outbox.PENDING_OUTBOX
automatic_mail_count = _outbox.automatic_mail_count
claim_due = _outbox.claim_due
enqueue = _outbox.enqueue
existing_keys = _outbox.existing_keys
flush_outbox = _outbox.flush_outbox
focal_point_map = _outbox.focal_point_map
list_outbox = _outbox.list_outbox
outbox_by_ids = _outbox.outbox_by_ids
unreported_failures = _outbox.unreported_failures

T = TypeVar("T", bound=Base)

# --- States and addresses -------------------------------------------------------------------


def upsert_states(session: Session, states: Iterable[tuple[str, str, str, bool]]) -> int:
    """Insert or update (code, name, language, observer) rows; returns how many were given."""
    existing = {s.code: s for s in session.scalars(select(State))}
    n = 0
    for code, name, language, observer in states:
        row = existing.get(code)
        if row is None:
            session.add(State(code=code, name=name, language=language, observer=observer))
        else:
            row.name, row.language, row.observer = name, language, observer
        n += 1
    session.flush()
    return n


def replace_addresses(
    session: Session, entries: Iterable[tuple[str, str | None, str, str | None]]
) -> int:
    """Make the registered addresses exactly ``(address, state_code, role, name)`` entries.

    Addresses no longer listed are deactivated (kept, because past messages refer to them).
    """
    current = {a.address: a for a in session.scalars(select(Address))}
    seen: set[str] = set()
    for address, state_code, role, name in entries:
        seen.add(address)
        row = current.get(address)
        if row is None:
            session.add(Address(address=address, state_code=state_code, role=role, name=name))
        else:
            row.state_code, row.role, row.name, row.active = state_code, role, name, True
    for address, row in current.items():
        if address not in seen:
            row.active = False
    session.flush()
    return len(seen)


def known_addresses(session: Session) -> tuple[dict[str, str], set[str]]:
    """(focal point address -> State code, Secretariat addresses), active ones only."""
    focal: dict[str, str] = {}
    secretariat: set[str] = set()
    for a in session.scalars(select(Address).where(Address.active.is_(True))):
        if a.role == "secretariat":
            secretariat.add(a.address)
        elif a.state_code:
            focal[a.address] = a.state_code
    return focal, secretariat


def focal_points_of(session: Session, state_code: str) -> list[str]:
    rows = session.scalars(
        select(Address.address).where(
            Address.state_code == state_code,
            Address.role == "focal_point",
            Address.active.is_(True),
        ).order_by(Address.address)
    )
    return list(rows)


def states_with_focal_points(session: Session) -> list[State]:
    q = (
        select(State)
        .join(Address, Address.state_code == State.code)
        .where(Address.active.is_(True), Address.role == "focal_point")
        .distinct()
        .order_by(State.code)
    )
    return list(session.scalars(q))


def get_state(session: Session, code: str) -> State | None:
    return session.get(State, code)


def record_bounce(session: Session, address: str, permanent: bool, now: datetime) -> None:
    row = session.scalar(select(Address).where(Address.address == address))
    if row is not None:
        row.bounce_count += 1
        row.last_bounce_at = now
        row.bounce_state = "hard" if permanent else "soft"


# --- Inbound messages ------------------------------------------------------------------------


def message_at(session: Session, mailbox: str, uidvalidity: int, uid: int) -> InboundMessage | None:
    return session.scalar(
        select(InboundMessage).join(MessageLocation, MessageLocation.message_id == InboundMessage.id)
        .where(
            MessageLocation.mailbox == mailbox,
            MessageLocation.uidvalidity == uidvalidity,
            MessageLocation.uid == uid,
        )
    )


# Statements intake runs for every message, built once: building a statement costs
# several times what SQLite takes to run it.
_STATUS_AT = Direct(
    select(InboundMessage.id, InboundMessage.status)
    .join(MessageLocation, MessageLocation.message_id == InboundMessage.id)
    .where(MessageLocation.mailbox == bindparam("mailbox"),
           MessageLocation.uidvalidity == bindparam("uidvalidity"),
           MessageLocation.uid == bindparam("uid"))
)
_HASHES_BY_KEY = Direct(
    select(InboundMessage.id, InboundMessage.content_hash)
    .where(InboundMessage.message_key == bindparam("key")).order_by(InboundMessage.id)
)


def status_at(session: Session, mailbox: str, uidvalidity: int, uid: int) -> tuple[int, str] | None:
    """(id, status) of the message recorded at this mailbox location, if any.

    Intake asks this and :func:`hashes_by_key` of every message before it files
    it; they are plain statements on the session's connection, which cost a
    fraction of loading ORM rows that are almost never there.
    """
    found = _STATUS_AT.first(session, {"mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid})
    return (int(found[0]), str(found[1])) if found is not None else None


def hashes_by_key(session: Session, key: str) -> list[tuple[int, str]]:
    """(id, content hash) of the messages recorded under ``key``, oldest first."""
    return [(int(i), str(h)) for i, h in _HASHES_BY_KEY.all(session, {"key": key})]


_INSERT_LOCATION = Direct(insert(MessageLocation),
                          ("message_id", "mailbox", "uidvalidity", "uid", "seen_at"))
_INSERTS: dict[type[Any], tuple[Direct, tuple[str, ...]]] = {}


def insert_loaded(session: Session, model: type[T], values: dict[str, Any]) -> T:
    """Insert one row with a prepared statement and return it as a row of the session.

    Every column but the id must be given: the row is attached as if loaded,
    with exactly these values, and later changes to it are flushed as usual;
    its relationships load from the database when first read.  Intake writes a
    message, and a report its incident and submission, this way: the unit of
    work's insert machinery cost more than the rest of writing them.
    """
    if model not in _INSERTS:
        table = model.__table__
        columns = tuple(c.key for c in table.columns if c.key != "id")
        _INSERTS[model] = (Direct(insert(model).returning(table.c.id), columns), columns)
    statement, columns = _INSERTS[model]
    full = {name: values[name] for name in columns}  # a missing column is a bug: KeyError
    row_id = int(statement.scalar(session, full))
    return _attach(session, model, {**full, "id": row_id})


def _attach(session: Session, model: type[T], values: dict[str, Any]) -> T:
    """A row of the session with these column values (all of them), built as loading builds
    one: without the constructor, whose attribute events record changes never made."""
    row = cast(T, inspect(model).class_manager.new_instance())
    instance_dict(row).update(values)
    make_transient_to_detached(row)
    session.add(row)
    return row


def columns_of(model: type[Base]) -> Any:
    """A SELECT of every column of ``model``'s table, to load rows with :func:`load`."""
    return select(*model.__table__.columns)


def load(session: Session, model: type[T], statement: Direct,
         params: dict[str, Any]) -> list[T]:
    """Rows of ``model`` selected by a direct statement over :func:`columns_of` it.

    A row the session holds already is returned as it is (as the ORM's own
    queries do); the others are attached as loaded.  This costs a fraction of
    an ORM query, for the lookups intake makes for most messages.
    """
    mapper = inspect(model)
    keys = [c.key for c in model.__table__.columns]
    out: list[T] = []
    for values in statement.all(session, params):
        row = dict(zip(keys, values, strict=True))
        held = session.identity_map.get(mapper.identity_key_from_primary_key((row["id"],)))
        out.append(cast(T, held) if held is not None else _attach(session, model, row))
    return out


def record_message(session: Session, values: dict[str, Any], mailbox: str, uidvalidity: int,
                   uid: int, seen_at: datetime) -> InboundMessage:
    """Insert a received message and its location; return it as a row of the session."""
    row = insert_loaded(session, InboundMessage, values)
    _INSERT_LOCATION.run(session, {
        "message_id": row.id, "mailbox": mailbox, "uidvalidity": uidvalidity, "uid": uid,
        "seen_at": seen_at})
    return row


_FINISH_MESSAGE = Direct(
    update(InboundMessage).where(InboundMessage.id == bindparam("row_id"))
    .values(status=bindparam("status"), reason=bindparam("reason"), folder=bindparam("folder"),
            processed_at=bindparam("processed_at"), duplicate_of_id=bindparam("duplicate_of_id"),
            incident_id=bindparam("incident_id"))
)


def finish_message(session: Session, row: InboundMessage, *, status: str, reason: str | None,
                   folder: str, processed_at: datetime, duplicate_of_id: int | None,
                   incident_id: int | None) -> None:
    """Record what became of a message, in one prepared UPDATE; ``row`` shows the same values.

    The values are set on the row as already written, so the commit's flush has
    nothing left to do for it (its unit of work was a good part of a plain
    letter's cost).
    """
    values = {"status": status, "reason": reason, "folder": folder, "processed_at": processed_at,
              "duplicate_of_id": duplicate_of_id, "incident_id": incident_id}
    _FINISH_MESSAGE.run(session, {"row_id": row.id, **values})
    for name, value in values.items():
        set_committed_value(row, name, value)


def messages_by_key(session: Session, key: str) -> list[InboundMessage]:
    return list(
        session.scalars(
            select(InboundMessage).where(InboundMessage.message_key == key).order_by(InboundMessage.id)
        )
    )


def add_location(
    session: Session, msg: InboundMessage, mailbox: str, uidvalidity: int, uid: int, now: datetime
) -> None:
    if message_at(session, mailbox, uidvalidity, uid) is None:
        session.add(
            MessageLocation(message=msg, mailbox=mailbox, uidvalidity=uidvalidity, uid=uid, seen_at=now)
        )


def find_message_ids(session: Session, message_ids: Sequence[str]) -> dict[str, InboundMessage]:
    """Stored inbound messages by RFC Message-ID (for threading)."""
    if not message_ids:
        return {}
    rows = session.scalars(
        select(InboundMessage).where(InboundMessage.message_id.in_(list(message_ids)))
    )
    return {r.message_id: r for r in rows if r.message_id}


def find_outbox_by_message_ids(session: Session, message_ids: Sequence[str]) -> list[OutboxMessage]:
    if not message_ids:
        return []
    return list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.message_id.in_(list(message_ids))))
    )


def list_messages(
    session: Session, status: str | None = None, limit: int = 100
) -> list[InboundMessage]:
    q = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(limit)
    if status:
        q = q.where(InboundMessage.status == status)
    return list(session.scalars(q))


def remember_attachments(session: Session, message_id: int, rows: list[AttachmentRecord]) -> None:
    """Intake records a message's attachments here, so filing need not query them back."""
    session.info.setdefault("attachments", {})[message_id] = rows


_LINK_ATTACHMENTS = Direct(update(AttachmentRecord)
                           .where(AttachmentRecord.message_id == bindparam("message_id"))
                           .values(submission_id=bindparam("submission_id")))


def link_attachments(session: Session, message_id: int, submission_id: int) -> None:
    """File a message's attachments with its submission (one UPDATE; the rows the session
    holds show it as written)."""
    _LINK_ATTACHMENTS.run(session, {"message_id": message_id, "submission_id": submission_id})
    for att in attachments_of(session, message_id):
        set_committed_value(att, "submission_id", submission_id)


def attachments_of(session: Session, message_id: int) -> list[AttachmentRecord]:
    known: dict[int, list[AttachmentRecord]] = session.info.get("attachments", {})
    if message_id in known:
        return list(known[message_id])
    return list(
        session.scalars(
            select(AttachmentRecord).where(AttachmentRecord.message_id == message_id)
            .order_by(AttachmentRecord.id)
        )
    )


# --- Incidents -------------------------------------------------------------------------------


_BUMP_COUNTER = Direct(
    update(ReferenceCounter)
    .where(ReferenceCounter.prefix == bindparam("counter_prefix"),
           ReferenceCounter.year == bindparam("counter_year"))
    .values(last_seq=ReferenceCounter.last_seq + 1)
    .returning(ReferenceCounter.last_seq)
)
_INSERT_COUNTER = Direct(insert(ReferenceCounter), ("prefix", "year", "last_seq"))


def next_reference(session: Session, prefix: str, year: int) -> tuple[str, int]:
    """Issue the next reference for ``year``; the counter only grows (never reused).

    One UPDATE ... RETURNING, which also locks the counter's row until the
    transaction ends (two desks never issue the same number); the year's first
    reference inserts the counter.
    """
    seq = _BUMP_COUNTER.scalar(session, {"counter_prefix": prefix, "counter_year": year})
    if seq is None:
        _INSERT_COUNTER.run(session, {"prefix": prefix, "year": year, "last_seq": 1})
        seq = 1
    return f"{prefix}-{year}-{int(seq):04d}", int(seq)


_INSERT_PARTIES = Direct(insert(IncidentParty), ("incident_id", "role", "state_code", "organization"))
_INSERT_OBLIGATIONS = Direct(insert(Obligation), ("incident_id", "state_code", "paragraph", "role", "gentle",
                                                  "due_at", "status", "created_at"))


def add_parties(session: Session, incident_id: int,
                parties: Sequence[tuple[str, str | None, str | None]]) -> None:
    """The States (or organization) concerned by an incident: (role, State code, organization)."""
    _INSERT_PARTIES.run_many(session, [
        {"incident_id": incident_id, "role": role, "state_code": code, "organization": org}
        for role, code, org in parties])


_PARTIES_OF = Direct(select(IncidentParty.role, IncidentParty.state_code)
                     .where(IncidentParty.incident_id == bindparam("incident_id"))
                     .order_by(IncidentParty.id))


def party_states(session: Session, incident_id: int) -> list[tuple[str, str | None]]:
    """(role, State code) of each party to an incident, as filing asks of most follow-ups
    and letters (read directly, not through ``Incident.parties``: an ORM query each time)."""
    return [(role, code) for role, code in _PARTIES_OF.all(session, {"incident_id": incident_id})]


def add_obligations(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Open obligations (incident, State, paragraph, role, gentle, due, status, created), in one
    statement."""
    _INSERT_OBLIGATIONS.run_many(session, rows)


_INCIDENT_BY_REFERENCE = Direct(columns_of(Incident).where(Incident.reference == bindparam("reference")))
_OPEN_INCIDENTS_AT = Direct(
    columns_of(Incident)
    .join(IncidentParty, IncidentParty.incident_id == Incident.id)
    .where(
        IncidentParty.role == "host",
        IncidentParty.state_code == bindparam("host"),
        Incident.occurred_on == bindparam("occurred_on"),
        Incident.status == "open",
    )
    .order_by(Incident.id)
)


def incident_by_reference(session: Session, reference: str) -> Incident | None:
    found = load(session, Incident, _INCIDENT_BY_REFERENCE, {"reference": reference.upper()})
    return found[0] if found else None


def open_incidents_at(session: Session, host_state: str, occurred_on: Any) -> list[Incident]:
    return load(session, Incident, _OPEN_INCIDENTS_AT, {"host": host_state, "occurred_on": occurred_on})


def list_incidents(session: Session, limit: int = 200) -> list[Incident]:
    return list(session.scalars(select(Incident).order_by(Incident.id.desc()).limit(limit)))


def incident_messages(session: Session, incident_id: int) -> list[InboundMessage]:
    return list(
        session.scalars(
            select(InboundMessage).where(InboundMessage.incident_id == incident_id)
            .order_by(InboundMessage.received_at, InboundMessage.id)
        )
    )


_SUBMISSION_OF_MESSAGE = select(Submission).where(Submission.message_id == bindparam("message_id")).limit(1)


def submission_of_message(session: Session, message_id: int) -> Submission | None:
    return session.scalar(_SUBMISSION_OF_MESSAGE, {"message_id": message_id})


def incident_submissions(session: Session, incident_id: int) -> list[Submission]:
    return list(
        session.scalars(
            select(Submission).where(Submission.incident_id == incident_id)
            .order_by(Submission.received_at, Submission.id)
        )
    )


def incident_outbox(session: Session, incident_id: int) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.incident_id == incident_id)
            .order_by(OutboxMessage.id)
        )
    )


def submission_outbox(session: Session, submission_id: int) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.submission_id == submission_id)
            .order_by(OutboxMessage.id)
        )
    )


def incident_references(session: Session, message_ids: Sequence[int]) -> dict[int, str]:
    """The reference of the incident each of these messages is filed against (when it is)."""
    if not message_ids:
        return {}
    rows = session.execute(select(InboundMessage.id, Incident.reference)
                           .join(Incident, Incident.id == InboundMessage.incident_id)
                           .where(InboundMessage.id.in_(list(message_ids))))
    return {int(message_id): str(reference) for message_id, reference in rows}


def submissions_since(session: Session, state_code: str, since: datetime) -> int:
    """How many submissions ``state_code`` made since ``since`` (the daily limit of reports)."""
    return int(session.scalar(select(func.count()).select_from(Submission).where(
        Submission.state_code == state_code, Submission.received_at >= since)) or 0)
