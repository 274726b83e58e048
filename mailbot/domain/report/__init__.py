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

from mailbot.domain.report.builder import build_report
from mailbot.domain.report.document import (
    Block,
    Heading,
    Paragraph,
    Quote,
    Report,
    ReportCounts,
    Section,
    Table,
    TitleBlock,
)
from mailbot.domain.report.facts import IncidentFacts, ParticipationFacts, ReportFacts, SubmissionFacts
from mailbot.domain.report.resolution import AGENDA_TITLE, QUOTED_PARAGRAPHS
from mailbot.domain.report.wording import format_long_date, format_short_date, session_ordinal

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
