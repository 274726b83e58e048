"""Queries about time: open reporting cycles and the obligations States owe.

Used by filing (to attach submissions to the open cycle and to update
obligations) and by the sweep (to find what is due).  Rows are turned into
the domain's plain ``ObligationView`` values here, so the domain never sees
a database object.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mailbot.domain.obligations import ObligationView
from mailbot.store.direct import Direct
from mailbot.store.repo import columns_of, load
from mailbot.store.tables import Cycle, Incident, Obligation, OutboxMessage, Submission

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


def view_of(ob: Obligation, reference: str) -> ObligationView:
    return ObligationView(
        id=ob.id, incident_reference=reference, state_code=ob.state_code,
        paragraph=ob.paragraph, role=ob.role, gentle=ob.gentle, due_at=ob.due_at,
        status=ob.status, reminders_sent=ob.reminders_sent,
        last_reminded_at=ob.last_reminded_at, escalated_at=ob.escalated_at,
    )


# the lookups a follow-up report makes, built once (see repo.load)
_OBLIGATIONS_OF = Direct(columns_of(Obligation).where(Obligation.incident_id == bindparam("incident_id"))
                         .order_by(Obligation.id))
_OBLIGATION_FOR = Direct(columns_of(Obligation).where(
    Obligation.incident_id == bindparam("incident_id"),
    Obligation.state_code == bindparam("state_code"), Obligation.paragraph == bindparam("paragraph")))
_OPEN_OBLIGATIONS_OF = Direct(columns_of(Obligation).where(
    Obligation.status == "open", Obligation.incident_id == bindparam("incident_id"))
    .order_by(Obligation.due_at, Obligation.id))


def obligation_views(session: Session, incident_id: int) -> list[ObligationView]:
    return [view for view, _row in obligations_of(session, incident_id)]


def obligations_of(session: Session, incident_id: int) -> list[tuple[ObligationView, Obligation]]:
    """An incident's obligations, each as the domain's view and as the row to change.

    The caller keeps the rows: the session holds unchanged rows only weakly,
    so a row dropped here would be read again to be changed.
    """
    incident = session.get(Incident, incident_id)
    ref = incident.reference if incident else "?"
    rows = load(session, Obligation, _OBLIGATIONS_OF, {"incident_id": incident_id})
    return [(view_of(o, ref), o) for o in rows]


def obligation_for(session: Session, incident_id: int, state_code: str,
                   paragraph: str) -> Obligation | None:
    found = load(session, Obligation, _OBLIGATION_FOR, {
        "incident_id": incident_id, "state_code": state_code, "paragraph": paragraph})
    return found[0] if found else None


def open_obligations(session: Session, incident_id: int | None = None) -> list[Obligation]:
    if incident_id is not None:
        return load(session, Obligation, _OPEN_OBLIGATIONS_OF, {"incident_id": incident_id})
    q = select(Obligation).where(Obligation.status == "open").order_by(Obligation.due_at, Obligation.id)
    return list(session.scalars(q))


def all_obligations(session: Session, status: str | None = None) -> list[tuple[Obligation, str]]:
    q = (select(Obligation, Incident.reference).join(Incident, Incident.id == Obligation.incident_id)
         .order_by(Obligation.due_at, Obligation.id))
    if status:
        q = q.where(Obligation.status == status)
    return [(o, ref) for o, ref in session.execute(q)]


def open_views(session: Session) -> list[tuple[ObligationView, Obligation]]:
    return [(view_of(o, ref), o) for o, ref in all_obligations(session, "open")]


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
