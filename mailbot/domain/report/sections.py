"""The sections of the report: I. Introduction to V. Observations, numbered continuously.

Built by ``domain.report.build_report`` from the cycle's facts; each section
is a tuple of blocks (``domain.report.document``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from mailbot.domain.report.document import Block, Heading, Paragraph, Quote, Section, Table
from mailbot.domain.report.facts import IncidentFacts, ParticipationFacts, ReportFacts, SubmissionFacts
from mailbot.domain.report.narratives import (
    entry_heading,
    follow_up_narrative,
    incident_heading,
    violation_narrative,
)
from mailbot.domain.report.resolution import AGENDA_TITLE, QUOTED_PARAGRAPHS, RESOLUTION, RESOLUTION_DATE
from mailbot.domain.report.wording import (
    Names,
    Numbering,
    format_long_date,
    format_short_date,
    paragraphs,
)


def withheld_sentence(n: int, one: str, many: str) -> str:
    if n == 1:
        return (f"In addition, 1 {one} was received that the reporting State "
                "asked not to circulate.")
    return (f"In addition, {n} {many} were received that the reporting States "
            "asked not to circulate.")


def introduction(facts: ReportFacts, num: Numbering, addendum: bool) -> Section:
    blocks: list[Block] = []
    blocks.append(num.para(
        f"The present report is submitted pursuant to General Assembly resolution {RESOLUTION} "
        f"of {RESOLUTION_DATE}, entitled \u201c{AGENDA_TITLE}\u201d. In paragraph 10 of that "
        "resolution, the Assembly:"))
    blocks.extend(Quote(t) for t in QUOTED_PARAGRAPHS[10])
    blocks.append(num.para("In paragraph 12 of the same resolution, the Assembly:"))
    blocks.extend(Quote(t) for t in QUOTED_PARAGRAPHS[12])
    blocks.append(num.para("In paragraph 13, the Assembly:"))
    blocks.extend(Quote(t) for t in QUOTED_PARAGRAPHS[13])
    note = ("Pursuant to paragraphs 11 (a) and 12 of the resolution, the Secretary-General "
            "addressed a circular note to all States")
    if facts.circular_sent_on:
        note += f" on {format_long_date(facts.circular_sent_on)}"
    note += (", reminding them of the request contained in paragraph 10 and inviting them "
             "to inform him of their views.")
    blocks.append(num.para(note))
    deadline = format_long_date(facts.deadline)
    if addendum:
        blocks.append(num.para(
            "The present addendum contains the reports and views received by the "
            f"Secretary-General after {deadline}, the date by which the information "
            "contained in the report was received."))
    else:
        blocks.append(num.para(
            f"The present report contains the information received as at {deadline}. "
            "Any information received after that date will be issued as an addendum to "
            "the present report."))
    return Section("I", "Introduction", tuple(blocks))


def period(facts: ReportFacts, addendum: bool) -> str:
    return f"{'after' if addendum else 'as at'} {format_long_date(facts.deadline)}"


_KIND_ORDER = {"violation": 0, "follow_up": 1}


def _by_incident(facts: ReportFacts, subs: Sequence[SubmissionFacts]
                 ) -> list[tuple[IncidentFacts | None, list[SubmissionFacts]]]:
    """The reports grouped by incident (by reference; those with none last), each group's
    violation report first, then its follow-ups by date."""
    groups: dict[int | None, list[SubmissionFacts]] = {}
    for sub in subs:
        key = sub.incident_id if sub.incident_id in facts.incidents else None
        groups.setdefault(key, []).append(sub)

    def group_key(key: int | None) -> tuple[int, str, int]:
        if key is None:
            return (1, "", 0)
        return (0, facts.incidents[key].reference, key)

    return [(facts.incidents.get(key) if key is not None else None,
             sorted(groups[key], key=lambda s: (_KIND_ORDER.get(s.kind, 2), s.received_at, s.id)))
            for key in sorted(groups, key=group_key)]


def reports_section(
    facts: ReportFacts,
    addendum: bool,
    subs: Sequence[SubmissionFacts],
    withheld: int,
    names: Names,
    num: Numbering,
) -> Section:
    blocks: list[Block] = []
    for index, (incident, entries) in enumerate(_by_incident(facts, subs)):
        blocks.append(incident_heading(index, incident))
        for sub in entries:
            blocks.append(entry_heading(sub, names))
            texts = (violation_narrative(sub, names) if sub.kind == "violation"
                     else follow_up_narrative(sub, names, incident))
            blocks.extend(num.para(t) for t in texts)
    if not subs:
        blocks.append(num.para("No report pursuant to paragraph 10 of the resolution was "
                               f"received {period(facts, addendum)}."))
    if withheld and facts.count_confidential:
        blocks.append(num.para(withheld_sentence(withheld, "report", "reports")))
    return Section("II", "Reports received from States pursuant to paragraph 10 of "
                   f"resolution {RESOLUTION}", tuple(blocks))


def views_section(
    facts: ReportFacts,
    addendum: bool,
    subs: Sequence[SubmissionFacts],
    withheld: int,
    names: Names,
    num: Numbering,
) -> Section:
    blocks: list[Block] = []
    for sub in sorted(subs, key=lambda s: (names.state(s.state_code).casefold(),
                                           s.received_at, s.id)):
        blocks.append(entry_heading(sub, names, level=2))
        texts = paragraphs(sub.fields.get("views")) or ["(No views were stated.)"]
        blocks.extend(num.para(t) for t in texts)
    if not subs:
        blocks.append(num.para("No views pursuant to paragraph 12 of the resolution were "
                               f"received {period(facts, addendum)}."))
    if withheld and facts.count_confidential:
        blocks.append(num.para(withheld_sentence(
            withheld, "communication of views", "communications of views")))
    return Section("III", "Views received from States pursuant to paragraph 12 of "
                   f"resolution {RESOLUTION}", tuple(blocks))


_CONSENT_SUFFIX = {"ratification": "", "accession": " a", "succession": " d"}


def _participation_rows(
    rows: Iterable[ParticipationFacts], names: Names
) -> tuple[tuple[str, ...], ...]:
    out = []
    for row in sorted(rows, key=lambda r: names.state(r.state_code).casefold()):
        signature = format_short_date(row.signed_on) if row.signed_on else ""
        consent = ""
        if row.consent_on:
            consent = format_short_date(row.consent_on) + _CONSENT_SUFFIX.get(
                row.consent_kind or "", "")
        out.append((names.state(row.state_code), signature, consent))
    return tuple(out)


def _new_participants(rows: Sequence[ParticipationFacts], since: date, names: Names) -> str:
    """Which States became participants after ``since`` (the previous report)."""
    new = sorted((r for r in rows if r.consent_on and r.consent_on > since),
                 key=lambda r: (r.consent_on or date.min, names.state(r.state_code)))
    if not new:
        return f"No State became a participant since {format_long_date(since)}."
    listed = ", ".join(f"{names.state(r.state_code)} ({format_long_date(r.consent_on)})"
                       for r in new if r.consent_on)
    return f"Since {format_long_date(since)}, the following States became participants: {listed}."


def participation_section(facts: ReportFacts, names: Names, num: Numbering) -> Section:
    blocks: list[Block] = []
    blocks.append(num.para(
        "The state of participation in the instruments referred to in paragraph 8 of "
        f"resolution {RESOLUTION}, according to the records of the Secretary-General as "
        f"depositary, was as follows as at {format_long_date(facts.issued_on)}. In the "
        "tables, \u201ca\u201d marks an accession and \u201cd\u201d a succession."))
    if not facts.ratifications_loaded:
        blocks.append(Paragraph(
            "[The ratification table has not been imported: the tables below are empty.]"))
    by_instrument: dict[str, list[ParticipationFacts]] = {}
    for row in facts.participations:
        by_instrument.setdefault(row.instrument_code, []).append(row)
    for position, instrument in enumerate(
            sorted(facts.instruments, key=lambda i: i.position), start=1):
        rows = by_instrument.get(instrument.code, [])
        blocks.append(Heading(f"{position}. {instrument.citation}", 2))
        parties = sum(1 for r in rows if r.consent_on)
        signatories = sum(1 for r in rows if r.signed_on)
        text = (f"Number of participants: {parties}. Number of signatories: {signatories}.")
        if facts.participants_since:
            text += " " + _new_participants(rows, facts.participants_since, names)
        blocks.append(num.para(text))
        blocks.append(Table(
            ("Participant", "Signature", "Ratification, Accession (a), Succession (d)"),
            _participation_rows(rows, names),
            caption=instrument.title,
        ))
    return Section("IV", "State of participation in the instruments", tuple(blocks))


def observations_section(num: Numbering) -> Section:
    return Section("V", "Observations of the Secretary-General", (num.para(
        "[To be drafted by the Secretariat: any views the Secretary-General may wish to "
        "express on the matters referred to in paragraph 13 (paragraph 14 of resolution "
        f"{RESOLUTION}).]"),))
