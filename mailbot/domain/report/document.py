"""The report's output: the document structure that ``service.report`` renders.

Title block, summary, numbered sections made of paragraphs, quotations,
headings and tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date


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
