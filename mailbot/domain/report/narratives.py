"""One paragraph group per communication: what a State reported, in the report's words.

Used by ``domain.report.sections`` for sections II (reports pursuant to
paragraph 10) and the headings that group them by incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mailbot.domain.report.document import Heading
from mailbot.domain.report.facts import IncidentFacts, SubmissionFacts
from mailbot.domain.report.wording import (
    Names,
    date_text,
    format_long_date,
    letters,
    paragraphs,
    sentence,
    text_of,
)

_KIND_LABELS = {
    "diplomatic_mission": "the diplomatic mission",
    "consular_post": "the consular post",
    "representative": "a representative",
    "international_organization": "a mission or official",
}
_CAPACITY = {
    "host": "as the State in which the violation took place",
    "offender": "as the State where the alleged offender is present",
}


def entry_heading(sub: SubmissionFacts, names: Names, level: int = 3) -> Heading:
    day = format_long_date(sub.received_at.date())
    return Heading(f"{names.state(sub.state_code)} ({day})", level)


def _affected(f: Mapping[str, Any], names: Names) -> str:
    """"the consular post of France (Consulate-General in Lyon)"."""
    kind = _KIND_LABELS.get(text_of(f.get("affected_kind")), "the mission or representative")
    sending = names.party(f.get("sending_state"))
    subject = f"{kind} of {sending}" if sending else kind
    affected = text_of(f.get("affected"))
    if affected and affected.casefold() != subject.casefold():
        subject += f" ({affected})"
    return subject


def _violation_details(f: Mapping[str, Any], names: Names) -> list[str]:
    details: list[str] = []
    if text_of(f.get("persons_harmed")):
        details.append(sentence(f"Persons harmed: {text_of(f.get('persons_harmed'))}"))
    offenders, offender_state = text_of(f.get("offenders")), names.party(f.get("offender_state"))
    if offenders or offender_state:
        who = offenders or "not identified"
        if offender_state:
            who += f" (reported to be present in {offender_state})"
        details.append(sentence(f"Alleged offenders: {who}"))
    if text_of(f.get("measures_taken")):
        details.append(sentence(f"Measures taken: {text_of(f.get('measures_taken'))}"))
    return details


def violation_narrative(sub: SubmissionFacts, names: Names) -> list[str]:
    f = sub.fields
    reporter = names.state(f.get("reporting_state") or sub.state_code)
    when = date_text(f.get("date"))
    where = ", ".join(p for p in (text_of(f.get("place")), names.party(f.get("host_state"))) if p)
    opening = f"{reporter} reported that" + (f" on {when}," if when else "") + (
        f" in {where}," if where else "")
    subject = _affected(f, names)
    description = paragraphs(f.get("description"))
    if description:
        texts = [f"{opening} {subject} was the object of the following incident: "
                 f"{sentence(description[0])}"]
    else:
        texts = [sentence(f"{opening} {subject} was the object of a serious violation")]
    texts.extend(sentence(p) for p in description[1:])
    details = _violation_details(f, names)
    if details:
        texts.append(" ".join(details))
    return texts


def _follow_up_details(f: Mapping[str, Any]) -> list[str]:
    details: list[str] = []
    if text_of(f.get("measures_justice")):
        details.append(sentence(
            f"Measures taken to bring the offender to justice: {text_of(f.get('measures_justice'))}"))
    if text_of(f.get("proceedings_status")):
        label = ("Final outcome of the proceedings" if f.get("final_outcome") is True
                 else "Status of the proceedings")
        details.append(sentence(f"{label}: {text_of(f.get('proceedings_status'))}"))
    if text_of(f.get("measures_prevention")):
        details.append(sentence(
            f"Measures adopted to prevent a repetition: {text_of(f.get('measures_prevention'))}"))
    return details


def follow_up_narrative(
    sub: SubmissionFacts, names: Names, incident: IncidentFacts | None
) -> list[str]:
    f = sub.fields
    reporter = names.state(f.get("reporting_state") or sub.state_code)
    capacity = _CAPACITY.get(text_of(f.get("capacity")))
    reference = incident.reference if incident else text_of(f.get("reference"))
    subject = f"incident {reference}" if reference else "a reported incident"
    lead = f"{reporter}, {capacity}," if capacity else reporter
    texts = [f"{lead} reported on the follow-up given to {subject}."]
    details = _follow_up_details(f)
    if details:
        texts.append(" ".join(details))
    return texts


def incident_heading(index: int, incident: IncidentFacts | None) -> Heading:
    letter = letters(index)
    if incident is None:
        return Heading(f"{letter}. Reports not related to a recorded incident", 2)
    if incident.disclosable and (incident.occurred_on or incident.place):
        parts = ["Incident"]
        if incident.occurred_on:
            parts.append(f"of {format_long_date(incident.occurred_on)}")
        if incident.place:
            parts.append(f"in {text_of(incident.place)}")
        return Heading(f"{letter}. {' '.join(parts)} ({incident.reference})", 2)
    return Heading(f"{letter}. Incident {incident.reference}", 2)
