"""Reporting cycles in the database: the open one, by session, their submissions and notes.

Used by filing (a submission joins the open cycle), the cycle opening, the
outbox (the cycle a note names) and the inspection commands.  Nothing here
commits.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.store.direct import Direct
from mailbot.store.repo import columns_of, load
from mailbot.store.tables import Cycle, OutboxMessage, Submission

_OPEN_CYCLE = Direct(columns_of(Cycle).where(Cycle.status == "open")
                     .order_by(Cycle.opened_at.desc()).limit(1))


def open_cycle(session: Session) -> Cycle | None:
    """The open reporting cycle (looked up once per transaction)."""
    if "open_cycle" not in session.info:
        found = load(session, Cycle, _OPEN_CYCLE, {})
        session.info["open_cycle"] = found[0] if found else None
    cycle: Cycle | None = session.info["open_cycle"]
    return cycle


def cycle_by_session(session: Session, number: int) -> Cycle | None:
    return session.scalar(select(Cycle).where(Cycle.session == number))


def list_cycles(session: Session) -> list[Cycle]:
    return list(session.scalars(select(Cycle).order_by(Cycle.session)))


def add_cycle(session: Session, number: int, deadline: date, now: datetime) -> Cycle:
    for other in session.scalars(select(Cycle).where(Cycle.status == "open")):
        other.status = "closed"
    cycle = Cycle(session=number, deadline=deadline, opened_at=now, status="open")
    session.add(cycle)
    session.flush()
    session.info["open_cycle"] = cycle
    return cycle


def cycle_submission_counts(session: Session, cycle_id: int) -> dict[tuple[str, bool], int]:
    """Submissions of a cycle by (kind, late)."""
    rows = session.execute(
        select(Submission.kind, Submission.late, func.count())
        .where(Submission.cycle_id == cycle_id).group_by(Submission.kind, Submission.late))
    return {(kind, bool(late)): int(n) for kind, late, n in rows}


def circular_count(session: Session, number: int) -> int:
    """How many circular notes the cycle for GA session ``number`` queued."""
    return int(session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.key.like(f"circular:{number}:%"))) or 0)
