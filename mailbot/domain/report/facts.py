"""The report's input: plain values that ``store.reporting`` loads for one cycle."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from mailbot.domain.ratifications import InstrumentInfo


@dataclass(frozen=True)
class SubmissionFacts:
    """One filed form of the cycle, as the report needs it."""

    id: int
    kind: str  # violation | follow_up | views
    state_code: str
    received_at: datetime
    circulation: str  # circulate | confidential | pending
    late: bool = False
    status: str = "accepted"  # accepted | held
    incident_id: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def circulable(self) -> bool:
        return self.circulation == "circulate"


@dataclass(frozen=True)
class IncidentFacts:
    """An incident a submission is filed against.

    ``disclosable`` is true when a circulable violation report describes it;
    only then may its date and place appear in a heading.
    """

    id: int
    reference: str
    occurred_on: date | None = None
    place: str | None = None
    disclosable: bool = False


@dataclass(frozen=True)
class ParticipationFacts:
    """A row of the ratification table."""

    state_code: str
    instrument_code: str
    signed_on: date | None
    consent_on: date | None
    consent_kind: str | None


@dataclass(frozen=True)
class ReportFacts:
    """Everything the report of one cycle is built from."""

    session: int
    deadline: date
    issued_on: date
    state_names: Mapping[str, str]
    submissions: Sequence[SubmissionFacts]
    incidents: Mapping[int, IncidentFacts]
    instruments: Sequence[InstrumentInfo]
    participations: Sequence[ParticipationFacts]
    circular_sent_on: date | None = None
    participants_since: date | None = None
    count_confidential: bool = False
    symbol: str | None = None
    agenda_item: str | None = None
    ratifications_loaded: bool = True
