"""Queries for the report to the General Assembly, and the ratification table's import.

``service.report`` calls these on a session it owns to load, as plain values
(``mailbot.domain.report`` dataclasses), what the report of one cycle is built
from: the cycle, its submissions, the incidents they are filed against, the
State names, the instruments and the ratification table.  The import writes
``instruments`` and ``ratifications`` from already validated rows.

Confidentiality starts here: the ``fields`` of a submission whose State did
not allow circulation are never read by these queries, so its contents cannot
reach any document built from them.  Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mailbot.domain.ratifications import InstrumentInfo, RatificationRow
from mailbot.domain.report import IncidentFacts, ParticipationFacts, SubmissionFacts
from mailbot.store.tables import Cycle, Incident, Instrument, Ratification, State, Submission

__all__ = [
    "CycleFacts",
    "find_cycle",
    "load_incidents",
    "load_instruments",
    "load_participations",
    "load_submissions",
    "previous_cycle",
    "replace_ratifications",
    "state_codes",
    "state_names",
    "upsert_instruments",
]

CIRCULABLE = "circulate"


@dataclass(frozen=True)
class CycleFacts:
    """A reporting cycle, as plain values."""

    id: int
    session: int
    opened_at: datetime
    deadline: date
    circular_sent_at: datetime | None


def _cycle_facts(row: Cycle) -> CycleFacts:
    return CycleFacts(row.id, row.session, row.opened_at, row.deadline, row.circular_sent_at)


def find_cycle(session: Session, session_number: int) -> CycleFacts | None:
    """The cycle that reports to ``session_number`` of the General Assembly, if any."""
    row = session.scalars(select(Cycle).where(Cycle.session == session_number)).first()
    return None if row is None else _cycle_facts(row)


def previous_cycle(session: Session, session_number: int) -> CycleFacts | None:
    """The latest cycle reporting to an earlier session, if any."""
    row = session.scalars(
        select(Cycle).where(Cycle.session < session_number).order_by(Cycle.session.desc())
    ).first()
    return None if row is None else _cycle_facts(row)


def load_submissions(session: Session, cycle_id: int) -> list[SubmissionFacts]:
    """Every submission filed in the cycle; ``fields`` only for the circulable ones."""
    rows = session.execute(
        select(
            Submission.id,
            Submission.kind,
            Submission.state_code,
            Submission.received_at,
            Submission.circulation,
            Submission.late,
            Submission.status,
            Submission.incident_id,
        )
        .where(Submission.cycle_id == cycle_id)
        .order_by(Submission.received_at, Submission.id)
    ).all()
    fields: dict[int, dict[str, Any]] = {
        sub_id: value
        for sub_id, value in session.execute(
            select(Submission.id, Submission.fields).where(
                Submission.cycle_id == cycle_id,
                Submission.circulation == CIRCULABLE,
                Submission.status == "accepted",
            )
        )
    }
    return [
        SubmissionFacts(
            id=r.id,
            kind=r.kind,
            state_code=r.state_code,
            received_at=r.received_at,
            circulation=r.circulation,
            late=bool(r.late),
            status=r.status,
            incident_id=r.incident_id,
            fields=fields.get(r.id) or {},
        )
        for r in rows
    ]


def load_incidents(session: Session, cycle_id: int) -> dict[int, IncidentFacts]:
    """The incidents the cycle's submissions are filed against, keyed by id.

    An incident is disclosable when an accepted violation report that allowed
    circulation (in any cycle) describes it.
    """
    in_cycle = select(Submission.incident_id).where(
        Submission.cycle_id == cycle_id, Submission.incident_id.is_not(None)
    )
    disclosable = set(
        session.scalars(
            select(Submission.incident_id).where(
                Submission.incident_id.in_(in_cycle),
                Submission.kind == "violation",
                Submission.status == "accepted",
                Submission.circulation == CIRCULABLE,
            )
        )
    )
    rows = session.execute(
        select(Incident.id, Incident.reference, Incident.occurred_on, Incident.place).where(
            Incident.id.in_(in_cycle)
        )
    ).all()
    return {
        r.id: IncidentFacts(
            id=r.id,
            reference=r.reference,
            occurred_on=r.occurred_on if r.id in disclosable else None,
            place=r.place if r.id in disclosable else None,
            disclosable=r.id in disclosable,
        )
        for r in rows
    }


def state_names(session: Session) -> dict[str, str]:
    """English short name of every State, by code."""
    return {code: name for code, name in session.execute(select(State.code, State.name))}


def state_codes(session: Session) -> set[str]:
    return set(session.scalars(select(State.code)))


def load_instruments(session: Session) -> list[InstrumentInfo]:
    """The instruments of paragraph 8 as imported, in report order."""
    rows = session.scalars(select(Instrument).order_by(Instrument.position, Instrument.code))
    return [
        InstrumentInfo(
            code=r.code,
            title=r.title,
            place=r.place or "",
            adopted_on=r.adopted_on or date.min,
            position=r.position,
        )
        for r in rows
    ]


def load_participations(
    session: Session, instrument: str | None = None, state: str | None = None
) -> list[ParticipationFacts]:
    """Rows of the ratification table, optionally for one instrument or one State."""
    query = select(Ratification).order_by(Ratification.instrument_code, Ratification.state_code)
    if instrument:
        query = query.where(Ratification.instrument_code == instrument)
    if state:
        query = query.where(Ratification.state_code == state.upper())
    return [
        ParticipationFacts(r.state_code, r.instrument_code, r.signed_on, r.consent_on,
                           r.consent_kind)
        for r in session.scalars(query)
    ]


def upsert_instruments(session: Session, instruments: Iterable[InstrumentInfo]) -> int:
    """Insert or update the instruments; returns how many were given."""
    existing = {i.code: i for i in session.scalars(select(Instrument))}
    n = 0
    for info in instruments:
        row = existing.get(info.code)
        if row is None:
            row = Instrument(code=info.code)
            session.add(row)
        row.title, row.place = info.title, info.place
        row.adopted_on, row.position = info.adopted_on, info.position
        n += 1
    session.flush()
    return n


def replace_ratifications(session: Session, rows: Sequence[RatificationRow]) -> int:
    """Make the ratification table exactly ``rows``; returns how many rows it now holds."""
    session.execute(delete(Ratification))
    session.add_all(
        Ratification(
            state_code=r.state,
            instrument_code=r.instrument,
            signed_on=r.signature,
            consent_on=r.consent,
            consent_kind=r.kind,
        )
        for r in rows
    )
    session.flush()
    return len(rows)
