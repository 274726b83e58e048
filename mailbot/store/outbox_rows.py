"""Outbox rows in the database: written with the decision, claimed and counted for sending.

The queue side of the outbox: ``service`` writes a decided mail as a row
(and its recipients) in the caller's transaction, the dispatcher claims due
rows with a conditional UPDATE, and the daily cap counts what an address
was sent.  Like ``store.repo`` (which re-exports these functions), nothing
here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, String, bindparam, func, insert, literal, select, update
from sqlalchemy.orm import Session, selectinload

from mailbot.store.direct import Direct
from mailbot.store.tables import Address, Base, OutboxMessage, OutboxRecipient

#: ``session.info`` key of the outbox rows decided in this transaction and not yet written
PENDING_OUTBOX = "outbox_pending"


_OUTBOX_KEY_EXISTS = Direct(select(OutboxMessage.id).where(OutboxMessage.key == bindparam("key")))


def enqueue(session: Session, values: dict[str, Any], known_new: bool = False) -> bool:
    """Queue an outbox row (column values) unless one with the same key exists; True when queued.

    Rows are not ORM objects: a filed report queues half a dozen mails and a
    circulation one per State, and the unit of work's per-object bookkeeping was
    most of intake's cost.  They are kept on the session and written with two
    executemany statements (:func:`flush_outbox`) when the session flushes,
    commits or runs its next ORM statement, so every query in the transaction
    still sees them.  The keys queued in this session are remembered, so a key
    is never queued twice before that.  ``known_new`` skips the lookup when the
    caller checked a batch of keys at once (:func:`existing_keys`).
    """
    added: set[str] = session.info.setdefault("outbox_keys", set())
    key = values["key"]
    if key in added:
        return False
    # a plain statement: the rows queued in this session are in ``added`` already, so
    # there is no need to write them first (as an ORM statement would)
    if not known_new and _OUTBOX_KEY_EXISTS.first(session, {"key": key}) is not None:
        return False
    added.add(key)
    missing = [name for name in OUTBOX_COLUMNS if name not in values]
    if missing:  # a column left out takes its default, as it would from the ORM
        values = {**values, **{name: _column_default(OutboxMessage, name) for name in missing}}
    session.info.setdefault(PENDING_OUTBOX, []).append(values)
    return True


def _column_default(model: type[Base], name: str) -> Any:
    """The Python-side default of a column (None when it has none)."""
    default = model.__table__.c[name].default
    if default is None:
        return None
    if default.is_callable:
        return default.arg(None)
    return default.arg


#: the columns a queued outbox row sets (:func:`enqueue`'s values; the rest are filled in
#: when the mail is claimed, sent or reported)
OUTBOX_COLUMNS = ("key", "kind", "message_id", "recipients", "subject", "lang", "context",
                  "attachment_refs", "in_reply_to", "thread_references", "auto_submitted", "raw",
                  "status", "attempts", "next_attempt_at", "last_error", "state_code", "incident_id",
                  "submission_id", "cause_message_id", "created_at", "return_token")
_INSERT_OUTBOX = Direct(insert(OutboxMessage), OUTBOX_COLUMNS)
# each recipient's pending result finds its row by the row's unique key: no ids to read back
_INSERT_RESULTS = Direct(insert(OutboxRecipient).from_select(
    ["outbox_id", "address", "status", "created_at"],
    select(OutboxMessage.id, bindparam("address", type_=String()), literal("pending", String()),
           bindparam("created_at", type_=DateTime()))
    .where(OutboxMessage.key == bindparam("key", type_=String())),
))


def flush_outbox(session: Session) -> int:
    """Write the queued outbox rows and one pending result per recipient; how many rows."""
    pending: list[dict[str, Any]] | None = session.info.pop(PENDING_OUTBOX, None)
    if not pending:
        return 0
    _INSERT_OUTBOX.run_many(session, pending)
    _INSERT_RESULTS.run_many(session, [
        {"key": values["key"], "address": address, "created_at": values["created_at"]}
        for values in pending for address in values["recipients"]])
    return len(pending)


#: ``key IN (...)`` for each number of keys asked so far (a circulation asks one per State)
_EXISTING_KEYS: dict[int, Direct] = {}


def _keys_in(n: int) -> Direct:
    if n not in _EXISTING_KEYS:
        _EXISTING_KEYS[n] = Direct(select(OutboxMessage.key).where(
            OutboxMessage.key.in_([bindparam(f"k{i}") for i in range(n)])))
    return _EXISTING_KEYS[n]


def existing_keys(session: Session, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` the outbox holds already (one query for a batch of decisions)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        found.update(k for (k,) in _keys_in(len(part)).all(
            session, {f"k{i}": key for i, key in enumerate(part)}))
    added: set[str] = session.info.get("outbox_keys", set())
    return found | (set(keys) & added)


def focal_point_map(session: Session) -> dict[str, list[str]]:
    """Every State's active focal-point addresses (one query, for circulations)."""
    out: dict[str, list[str]] = {}
    rows = session.execute(
        select(Address.state_code, Address.address).where(
            Address.role == "focal_point", Address.active.is_(True), Address.state_code.is_not(None)
        ).order_by(Address.address)
    )
    for code, address in rows:
        if code:
            out.setdefault(code, []).append(address)
    return out


_AUTOMATIC_MAIL_COUNT = Direct(select(func.count()).select_from(
    select(OutboxRecipient.id)
    .join(OutboxMessage, OutboxMessage.id == OutboxRecipient.outbox_id)
    .where(
        OutboxRecipient.address == bindparam("address"),
        OutboxRecipient.created_at >= bindparam("since"),
        # every automatic mail to the address counts, answers and notes alike (circulations,
        # notices, reminders): a flood of reports must not become a flood of mail to a State
        OutboxMessage.status != "held",
    )
    .limit(bindparam("limit"))
    .subquery()
))


def automatic_mail_count(session: Session, address: str, since: datetime, limit: int) -> int:
    """How many automatic mails were queued for ``address`` since ``since``, counted up to ``limit``.

    Counting stops at the cap: past it, the exact number does not matter.
    """
    found = _AUTOMATIC_MAIL_COUNT.scalar(session, {"address": address, "since": since, "limit": limit})
    return int(found or 0)


def claim_due(session: Session, now: datetime, worker: str, limit: int,
              stale_after: timedelta) -> list[OutboxMessage]:
    """Claim due rows with a conditional UPDATE, so two dispatchers never take the same row.

    A row left in ``sending`` by a dispatcher that died is claimable again after
    ``stale_after``: at most that mail is sent twice, with the same Message-ID.
    """
    candidates = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(
                ((OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now))
                | ((OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < now - stale_after))
            )
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
    )
    claimed: list[int] = []
    for oid in candidates:
        res = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == oid,
                ((OutboxMessage.status == "pending") & (OutboxMessage.next_attempt_at <= now))
                | ((OutboxMessage.status == "sending") & (OutboxMessage.claimed_at < now - stale_after)),
            )
            .values(status="sending", claimed_at=now, claimed_by=worker)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(oid)
    if not claimed:
        return []
    return list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(claimed))
                        .options(selectinload(OutboxMessage.results))
                        .order_by(OutboxMessage.id).execution_options(populate_existing=True))
    )


def unreported_failures(session: Session, limit: int = 500) -> list[OutboxMessage]:
    """Rows the Secretariat has not heard of yet: failed, or sent with a recipient refused (5xx)."""
    refused = (select(OutboxRecipient.id)
               .where(OutboxRecipient.outbox_id == OutboxMessage.id, OutboxRecipient.status == "refused")
               .exists())
    return list(
        session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.reported_at.is_(None), OutboxMessage.kind != "delivery_failure",
                   (OutboxMessage.status == "failed") | ((OutboxMessage.status == "sent") & refused))
            .order_by(OutboxMessage.id).limit(limit)
        )
    )


def list_outbox(session: Session, status: str | None = None, limit: int = 200) -> list[OutboxMessage]:
    q = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        q = q.where(OutboxMessage.status == status)
    return list(session.scalars(q))


def outbox_by_ids(session: Session, ids: Sequence[int]) -> list[OutboxMessage]:
    """These outbox rows with their recipients' results."""
    if not ids:
        return []
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(list(ids)))
                                .options(selectinload(OutboxMessage.results))))
