"""Obligations in the database: what each State still owes on an incident, as domain views.

Used by filing (to update obligations), the sweep (to find what is due),
commands and inspection.  Rows are turned into the domain's plain
``ObligationView`` values here, so the domain never sees a database object.
Nothing here commits.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from mailbot.domain.obligations import ObligationView
from mailbot.store.direct import Direct
from mailbot.store.repo import columns_of, load
from mailbot.store.tables import Incident, Obligation


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
