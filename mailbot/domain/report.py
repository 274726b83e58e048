"""The report to the General Assembly (paragraph 13 of resolution 61/31), as a structure.

Last stage of a reporting cycle: ``store.reporting`` loads the filed
submissions, incidents and the ratification table of one cycle as plain
values (:class:`ReportFacts`); :func:`build_report` turns them into a
:class:`Report` -- title block, summary, numbered sections made of
paragraphs, quotations, headings and tables -- and ``service.report``
renders that structure as DOCX, Markdown or HTML.

The structure follows the Secretary-General's past reports on the item
(A/63/121 ... A/77/208): a summary with counts; I. Introduction quoting
paragraphs 10, 12 and 13; II. Reports received pursuant to paragraph 10,
grouped by incident; III. Views received pursuant to paragraph 12; IV. State
of participation in the instruments of paragraph 8; V. Observations of the
Secretary-General (paragraph 14), left for the Secretariat to write.
Submissions received after the cycle's deadline go into the addendum
("Add.1") instead of the report.

Confidentiality (paragraph 11 (b)): only submissions whose State allowed
circulation are quoted.  Any other submission contributes at most a count,
and only when the policy asks for it -- never its State, date or contents.

Pure: no I/O, no clock (the issue date is passed in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from mailbot.domain.ratifications import InstrumentInfo

__all__ = [
    "AGENDA_TITLE",
    "QUOTED_PARAGRAPHS",
    "Block",
    "Heading",
    "IncidentFacts",
    "Paragraph",
    "ParticipationFacts",
    "Quote",
    "Report",
    "ReportCounts",
    "ReportFacts",
    "Section",
    "SubmissionFacts",
    "Table",
    "TitleBlock",
    "build_report",
    "format_long_date",
    "format_short_date",
    "session_ordinal",
]

AGENDA_TITLE = (
    "Consideration of effective measures to enhance the protection, security and safety "
    "of diplomatic and consular missions and representatives"
)
RESOLUTION = "61/31"
RESOLUTION_DATE = "4 December 2006"

#: Paragraphs 10, 12 and 13 of resolution 61/31, verbatim (footnote markers left out).
QUOTED_PARAGRAPHS: Mapping[int, tuple[str, ...]] = {
    10: (
        "10. Requests:",
        "(a) All States to report to the Secretary-General as promptly as possible serious "
        "violations of the protection, security and safety of diplomatic and consular "
        "missions and representatives as well as missions and representatives with "
        "diplomatic status to international intergovernmental organizations;",
        "(b) The State in which the violation took place \u2014 and, to the extent possible, "
        "the State where the alleged offender is present \u2014 to report to the "
        "Secretary-General as promptly as possible on measures taken to bring the offender "
        "to justice and eventually to communicate, in accordance with its laws, the final "
        "outcome of the proceedings against the offender, and to report on measures adopted "
        "with a view to preventing a repetition of such violations;",
        "(c) The States so reporting to consider using or taking into account the "
        "guidelines prepared by the Secretary-General;",
    ),
    12: (
        "12. Also requests the Secretary-General to invite States, in the circular note "
        "referred to in paragraph 11 (a) above, to inform him of their views with respect "
        "to any measures needed or already taken to enhance the protection, security and "
        "safety of diplomatic and consular missions and representatives as well as missions "
        "and representatives with diplomatic status to international intergovernmental "
        "organizations;",
    ),
    13: (
        "13. Further requests the Secretary-General to submit to the General Assembly at "
        "its sixty-third session a report containing:",
        "(a) Information on the state of ratification of, and accessions to, the "
        "instruments referred to in paragraph 8 above;",
        "(b) A summary of the reports received and views expressed pursuant to paragraphs "
        "10 and 12 above;",
    ),
}

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
_CONSENT_SUFFIX = {"ratification": "", "accession": " a", "succession": " d"}
_ROMAN = ("I", "II", "III", "IV", "V", "VI")
_UNITS = (
    "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_UNITS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}

# --- Input: plain values loaded by store.reporting ---------------------------------------------


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


# --- Output: the document structure ------------------------------------------------------------


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of running text; ``number`` is its paragraph number in the body."""

    text: str
    number: int | None = None


@dataclass(frozen=True)
class Quote:
    """A quoted passage of the resolution, set off from the text."""

    text: str


@dataclass(frozen=True)
class Heading:
    """A heading inside a section: level 2 for a group, level 3 for a State's entry."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Table:
    """A table with a header row."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


Block = Paragraph | Quote | Heading | Table


@dataclass(frozen=True)
class Section:
    """A numbered chapter: "II. Reports received from States ..."."""

    number: str
    title: str
    blocks: tuple[Block, ...]

    @property
    def heading(self) -> str:
        return f"{self.number}. {self.title}"


@dataclass(frozen=True)
class TitleBlock:
    """The masthead of a General Assembly document."""

    symbol: str
    issued_on: date
    session_line: str
    item_line: str
    agenda_title: str
    title: str
    subtitle: str = ""
    organization: str = "United Nations"
    organ: str = "General Assembly"
    distribution: str = "General"
    original: str = "English"


@dataclass(frozen=True)
class ReportCounts:
    """What the report counts (only circulable submissions, unless stated)."""

    reports: int = 0
    reporting_states: int = 0
    incidents: int = 0
    views: int = 0
    views_states: int = 0
    withheld_reports: int = 0
    withheld_views: int = 0
    deferred: int = 0  # accepted submissions left for the addendum (report only)


@dataclass(frozen=True)
class Report:
    """The report (or its addendum), ready to render."""

    title: TitleBlock
    summary: tuple[Paragraph, ...]
    sections: tuple[Section, ...]
    counts: ReportCounts
    addendum: bool = False

    def blocks(self) -> Iterable[Block]:
        """Every block of every section, in order."""
        for section in self.sections:
            yield from section.blocks


# --- Formatting helpers -------------------------------------------------------------------------


def format_long_date(value: date) -> str:
    """``20 November 2026`` (the style of the body of a document)."""
    return f"{value.day} {value:%B %Y}"


def format_short_date(value: date) -> str:
    """``18 Apr 1961`` (the style of the Treaty Collection's status tables)."""
    return f"{value.day} {value:%b %Y}"


def _cardinal(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _TENS[tens] + (f"-{_UNITS[unit]}" if unit else "")
    hundreds, rest = divmod(n, 100)
    return f"{_UNITS[hundreds]} hundred" + (f" and {_cardinal(rest)}" if rest else "")


def session_ordinal(n: int) -> str:
    """``Eighty-third`` for 83 (sessions are written out in words)."""
    if not 0 < n < 1000:
        return f"{n}th"
    words = _cardinal(n)
    cut = max(words.rfind("-"), words.rfind(" ")) + 1
    head, last = words[:cut], words[cut:]
    if last in _ORDINAL_UNITS:
        last = _ORDINAL_UNITS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    result = head + last
    return result[0].upper() + result[1:]


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _letters(index: int) -> str:
    """A, B, ..., Z, AA, AB, ... for the 0-based ``index``."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return " ".join(str(value).split())


def _paragraphs(value: Any) -> list[str]:
    """Free text split at blank lines, each paragraph on one line."""
    if value is None or isinstance(value, bool):
        return []
    chunks = str(value).replace("\r\n", "\n").split("\n\n")
    return [p for p in (" ".join(c.split()) for c in chunks) if p]


def _sentence(text: str) -> str:
    """``text`` ending with a full stop unless it already ends a sentence."""
    text = text.strip()
    if text and text.rstrip(")\"'\u201d\u2019")[-1:] not in (".", "!", "?", "\u2026"):
        text += "."
    return text


def _date_text(value: Any) -> str:
    if isinstance(value, date):
        return format_long_date(value)
    text = _text(value)
    try:
        return format_long_date(date.fromisoformat(text))
    except ValueError:
        return text


class _Names:
    """State names for codes and for state-or-organization values."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = names

    def state(self, code: Any) -> str:
        text = _text(code)
        return self._names.get(text.upper(), text)

    def party(self, value: Any) -> str:
        if isinstance(value, Mapping):
            if value.get("state"):
                return self.state(value["state"])
            return _text(value.get("organization"))
        return self.state(value) if _text(value).upper() in self._names else _text(value)


class _Numbering:
    def __init__(self) -> None:
        self.n = 0

    def para(self, text: str) -> Paragraph:
        self.n += 1
        return Paragraph(text, self.n)


# --- Narratives ---------------------------------------------------------------------------------


def _entry_heading(sub: SubmissionFacts, names: _Names, level: int = 3) -> Heading:
    day = format_long_date(sub.received_at.date())
    return Heading(f"{names.state(sub.state_code)} ({day})", level)


def _violation_narrative(sub: SubmissionFacts, names: _Names) -> list[str]:
    f = sub.fields
    reporter = names.state(f.get("reporting_state") or sub.state_code)
    when = _date_text(f.get("date"))
    place, host = _text(f.get("place")), names.party(f.get("host_state"))
    where = ", ".join(p for p in (place, host) if p)
    kind = _KIND_LABELS.get(_text(f.get("affected_kind")), "the mission or representative")
    sending = names.party(f.get("sending_state"))
    subject = f"{kind} of {sending}" if sending else kind
    affected = _text(f.get("affected"))
    if affected and affected.casefold() != subject.casefold():
        subject += f" ({affected})"
    opening = f"{reporter} reported that"
    if when:
        opening += f" on {when},"
    if where:
        opening += f" in {where},"
    first = f"{opening} {subject} was the object of the following incident:"
    description = _paragraphs(f.get("description"))
    texts = [f"{first} {_sentence(description[0])}" if description else _sentence(
        f"{opening} {subject} was the object of a serious violation")]
    texts.extend(_sentence(p) for p in description[1:])
    details: list[str] = []
    if _text(f.get("persons_harmed")):
        details.append(_sentence(f"Persons harmed: {_text(f.get('persons_harmed'))}"))
    offenders, offender_state = _text(f.get("offenders")), names.party(f.get("offender_state"))
    if offenders or offender_state:
        who = offenders or "not identified"
        if offender_state:
            who += f" (reported to be present in {offender_state})"
        details.append(_sentence(f"Alleged offenders: {who}"))
    if _text(f.get("measures_taken")):
        details.append(_sentence(f"Measures taken: {_text(f.get('measures_taken'))}"))
    if details:
        texts.append(" ".join(details))
    return texts


def _follow_up_narrative(
    sub: SubmissionFacts, names: _Names, incident: IncidentFacts | None
) -> list[str]:
    f = sub.fields
    reporter = names.state(f.get("reporting_state") or sub.state_code)
    capacity = _CAPACITY.get(_text(f.get("capacity")))
    reference = incident.reference if incident else _text(f.get("reference"))
    subject = f"incident {reference}" if reference else "a reported incident"
    lead = f"{reporter}, {capacity}," if capacity else reporter
    texts = [f"{lead} reported on the follow-up given to {subject}."]
    details: list[str] = []
    if _text(f.get("measures_justice")):
        details.append(_sentence(
            f"Measures taken to bring the offender to justice: {_text(f.get('measures_justice'))}"))
    if _text(f.get("proceedings_status")):
        label = ("Final outcome of the proceedings" if f.get("final_outcome") is True
                 else "Status of the proceedings")
        details.append(_sentence(f"{label}: {_text(f.get('proceedings_status'))}"))
    if _text(f.get("measures_prevention")):
        details.append(_sentence(
            f"Measures adopted to prevent a repetition: {_text(f.get('measures_prevention'))}"))
    if details:
        texts.append(" ".join(details))
    return texts


def _incident_heading(index: int, incident: IncidentFacts | None) -> Heading:
    letter = _letters(index)
    if incident is None:
        return Heading(f"{letter}. Reports not related to a recorded incident", 2)
    if incident.disclosable and (incident.occurred_on or incident.place):
        parts = ["Incident"]
        if incident.occurred_on:
            parts.append(f"of {format_long_date(incident.occurred_on)}")
        if incident.place:
            parts.append(f"in {_text(incident.place)}")
        return Heading(f"{letter}. {' '.join(parts)} ({incident.reference})", 2)
    return Heading(f"{letter}. Incident {incident.reference}", 2)


# --- Sections -----------------------------------------------------------------------------------


def _withheld_sentence(n: int, one: str, many: str) -> str:
    if n == 1:
        return (f"In addition, 1 {one} was received that the reporting State "
                "asked not to circulate.")
    return (f"In addition, {n} {many} were received that the reporting States "
            "asked not to circulate.")


def _introduction(facts: ReportFacts, num: _Numbering, addendum: bool) -> Section:
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


def _period(facts: ReportFacts, addendum: bool) -> str:
    return f"{'after' if addendum else 'as at'} {format_long_date(facts.deadline)}"


def _reports_section(
    facts: ReportFacts,
    addendum: bool,
    subs: Sequence[SubmissionFacts],
    withheld: int,
    names: _Names,
    num: _Numbering,
) -> Section:
    blocks: list[Block] = []
    groups: dict[int | None, list[SubmissionFacts]] = {}
    for sub in subs:
        key = sub.incident_id if sub.incident_id in facts.incidents else None
        groups.setdefault(key, []).append(sub)

    def group_key(key: int | None) -> tuple[int, str, int]:
        if key is None:
            return (1, "", 0)
        return (0, facts.incidents[key].reference, key)

    kind_order = {"violation": 0, "follow_up": 1}
    for index, key in enumerate(sorted(groups, key=group_key)):
        incident = facts.incidents.get(key) if key is not None else None
        blocks.append(_incident_heading(index, incident))
        entries = sorted(
            groups[key], key=lambda s: (kind_order.get(s.kind, 2), s.received_at, s.id))
        for sub in entries:
            blocks.append(_entry_heading(sub, names))
            texts = (_violation_narrative(sub, names) if sub.kind == "violation"
                     else _follow_up_narrative(sub, names, incident))
            blocks.extend(num.para(t) for t in texts)
    if not subs:
        blocks.append(num.para("No report pursuant to paragraph 10 of the resolution was "
                               f"received {_period(facts, addendum)}."))
    if withheld and facts.count_confidential:
        blocks.append(num.para(_withheld_sentence(withheld, "report", "reports")))
    return Section("II", "Reports received from States pursuant to paragraph 10 of "
                   f"resolution {RESOLUTION}", tuple(blocks))


def _views_section(
    facts: ReportFacts,
    addendum: bool,
    subs: Sequence[SubmissionFacts],
    withheld: int,
    names: _Names,
    num: _Numbering,
) -> Section:
    blocks: list[Block] = []
    for sub in sorted(subs, key=lambda s: (names.state(s.state_code).casefold(),
                                           s.received_at, s.id)):
        blocks.append(_entry_heading(sub, names, level=2))
        texts = _paragraphs(sub.fields.get("views")) or ["(No views were stated.)"]
        blocks.extend(num.para(t) for t in texts)
    if not subs:
        blocks.append(num.para("No views pursuant to paragraph 12 of the resolution were "
                               f"received {_period(facts, addendum)}."))
    if withheld and facts.count_confidential:
        blocks.append(num.para(_withheld_sentence(
            withheld, "communication of views", "communications of views")))
    return Section("III", "Views received from States pursuant to paragraph 12 of "
                   f"resolution {RESOLUTION}", tuple(blocks))


def _participation_rows(
    rows: Iterable[ParticipationFacts], names: _Names
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


def _participation_section(facts: ReportFacts, names: _Names, num: _Numbering) -> Section:
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
            cutoff = facts.participants_since
            new = sorted((r for r in rows if r.consent_on and r.consent_on > cutoff),
                         key=lambda r: (r.consent_on or date.min, names.state(r.state_code)))
            since = format_long_date(facts.participants_since)
            if new:
                listed = ", ".join(
                    f"{names.state(r.state_code)} ({format_long_date(r.consent_on)})"
                    for r in new if r.consent_on)
                text += f" Since {since}, the following States became participants: {listed}."
            else:
                text += f" No State became a participant since {since}."
        blocks.append(num.para(text))
        blocks.append(Table(
            ("Participant", "Signature", "Ratification, Accession (a), Succession (d)"),
            _participation_rows(rows, names),
            caption=instrument.title,
        ))
    return Section("IV", "State of participation in the instruments", tuple(blocks))


def _observations_section(num: _Numbering) -> Section:
    return Section("V", "Observations of the Secretary-General", (num.para(
        "[To be drafted by the Secretariat: any views the Secretary-General may wish to "
        "express on the matters referred to in paragraph 13 (paragraph 14 of resolution "
        f"{RESOLUTION}).]"),))


# --- The report ---------------------------------------------------------------------------------


def _title_block(facts: ReportFacts, addendum: bool) -> TitleBlock:
    symbol = facts.symbol or f"A/{facts.session}/\u2026"
    if addendum:
        symbol += "/Add.1"
    item = (f"Item {facts.agenda_item} of the provisional agenda" if facts.agenda_item
            else "Item \u2026 of the provisional agenda")
    return TitleBlock(
        symbol=symbol,
        issued_on=facts.issued_on,
        session_line=f"{session_ordinal(facts.session)} session",
        item_line=item,
        agenda_title=AGENDA_TITLE,
        title="Report of the Secretary-General",
        subtitle="Addendum" if addendum else "",
    )


def _summary(facts: ReportFacts, counts: ReportCounts, addendum: bool) -> tuple[Paragraph, ...]:
    when = _period(facts, addendum)
    texts = [
        f"The present {'addendum' if addendum else 'report'} is submitted pursuant to "
        f"paragraph 13 of General Assembly resolution {RESOLUTION}. {when[0].upper()}{when[1:]}, "
        f"the Secretary-General had received {_plural(counts.reports, 'report')} from "
        f"{_plural(counts.reporting_states, 'State')} pursuant to paragraph 10 of the "
        f"resolution, concerning {_plural(counts.incidents, 'incident')}, and views from "
        f"{_plural(counts.views_states, 'State')} pursuant to paragraph 12."
    ]
    withheld = counts.withheld_reports + counts.withheld_views
    if facts.count_confidential and withheld:
        texts.append(_withheld_sentence(withheld, "communication", "communications"))
    if not addendum:
        texts.append(
            "The report also contains information on the state of participation in the "
            "instruments relevant to the protection, security and safety of diplomatic and "
            "consular missions and representatives.")
    return tuple(Paragraph(t) for t in texts)


def build_report(facts: ReportFacts, addendum: bool = False) -> Report:
    """The report for the cycle (submissions on time) or its addendum (late submissions only)."""
    names = _Names(facts.state_names)
    accepted = [s for s in facts.submissions if s.status == "accepted"]
    in_scope = [s for s in accepted if s.late == addendum]
    shown = [s for s in in_scope if s.circulable]
    withheld = [s for s in in_scope if not s.circulable]
    reports = [s for s in shown if s.kind in ("violation", "follow_up")]
    views = [s for s in shown if s.kind == "views"]
    counts = ReportCounts(
        reports=len(reports),
        reporting_states=len({s.state_code for s in reports}),
        incidents=len({s.incident_id for s in reports if s.incident_id is not None}),
        views=len(views),
        views_states=len({s.state_code for s in views}),
        withheld_reports=sum(1 for s in withheld if s.kind != "views"),
        withheld_views=sum(1 for s in withheld if s.kind == "views"),
        deferred=0 if addendum else sum(1 for s in accepted if s.late),
    )
    num = _Numbering()
    sections = [
        _introduction(facts, num, addendum),
        _reports_section(facts, addendum, reports, counts.withheld_reports, names, num),
        _views_section(facts, addendum, views, counts.withheld_views, names, num),
    ]
    if not addendum:
        sections.append(_participation_section(facts, names, num))
        sections.append(_observations_section(num))
    return Report(
        title=_title_block(facts, addendum),
        summary=_summary(facts, counts, addendum),
        sections=tuple(sections),
        counts=counts,
        addendum=addendum,
    )
