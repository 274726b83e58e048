"""The report assembled: masthead, summary and sections, for the report or its addendum."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailbot.domain.report.document import Paragraph, Report, ReportCounts, TitleBlock
from mailbot.domain.report.facts import ReportFacts, SubmissionFacts
from mailbot.domain.report.resolution import AGENDA_TITLE, RESOLUTION
from mailbot.domain.report.sections import (
    introduction,
    observations_section,
    participation_section,
    period,
    reports_section,
    views_section,
    withheld_sentence,
)
from mailbot.domain.report.wording import Names, Numbering, plural, session_ordinal


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
    when = period(facts, addendum)
    texts = [
        f"The present {'addendum' if addendum else 'report'} is submitted pursuant to "
        f"paragraph 13 of General Assembly resolution {RESOLUTION}. {when[0].upper()}{when[1:]}, "
        f"the Secretary-General had received {plural(counts.reports, 'report')} from "
        f"{plural(counts.reporting_states, 'State')} pursuant to paragraph 10 of the "
        f"resolution, concerning {plural(counts.incidents, 'incident')}, and views from "
        f"{plural(counts.views_states, 'State')} pursuant to paragraph 12."
    ]
    withheld = counts.withheld_reports + counts.withheld_views
    if facts.count_confidential and withheld:
        texts.append(withheld_sentence(withheld, "communication", "communications"))
    if not addendum:
        texts.append(
            "The report also contains information on the state of participation in the "
            "instruments relevant to the protection, security and safety of diplomatic and "
            "consular missions and representatives.")
    return tuple(Paragraph(t) for t in texts)


def _number(subs: Sequence[SubmissionFacts], test: Callable[[SubmissionFacts], bool]) -> int:
    return sum(map(test, subs))


def _quoted(in_scope: Sequence[SubmissionFacts]) -> tuple[list[SubmissionFacts], list[SubmissionFacts]]:
    """The reports and the views the document quotes: those their States let circulate."""
    shown = [s for s in in_scope if s.circulable]
    return [s for s in shown if s.kind != "views"], [s for s in shown if s.kind == "views"]


def _count(facts: ReportFacts, addendum: bool
           ) -> tuple[ReportCounts, list[SubmissionFacts], list[SubmissionFacts]]:
    """What the report (or the addendum) counts, and the reports and views it quotes."""
    accepted = [s for s in facts.submissions if s.status == "accepted"]
    in_scope = [s for s in accepted if s.late == addendum]
    reports, views = _quoted(in_scope)
    withheld = [s for s in in_scope if not s.circulable]
    withheld_views = _number(withheld, lambda s: s.kind == "views")
    counts = ReportCounts(
        reports=len(reports),
        reporting_states=len({s.state_code for s in reports}),
        incidents=len({s.incident_id for s in reports} - {None}),
        views=len(views),
        views_states=len({s.state_code for s in views}),
        withheld_reports=len(withheld) - withheld_views,
        withheld_views=withheld_views,
        deferred=0 if addendum else _number(accepted, lambda s: s.late),
    )
    return counts, reports, views


def build_report(facts: ReportFacts, addendum: bool = False) -> Report:
    """The report for the cycle (submissions on time) or its addendum (late submissions only)."""
    names = Names(facts.state_names)
    counts, reports, views = _count(facts, addendum)
    num = Numbering()
    sections = [
        introduction(facts, num, addendum),
        reports_section(facts, addendum, reports, counts.withheld_reports, names, num),
        views_section(facts, addendum, views, counts.withheld_views, names, num),
    ]
    if not addendum:
        sections.append(participation_section(facts, names, num))
        sections.append(observations_section(num))
    return Report(
        title=_title_block(facts, addendum),
        summary=_summary(facts, counts, addendum),
        sections=tuple(sections),
        counts=counts,
        addendum=addendum,
    )
