"""The report to the General Assembly: built from a real SQLite database, rendered three ways.

A cycle with a dozen submissions -- several States, confidential and pending
ones, late ones, a held one, one from another cycle -- is filed in a real
SQLite file migrated with Alembic; the tests check the sections, counts,
entries and their order, the addendum, the participation tables, escaping,
and that nothing of a confidential submission reaches any output.
"""

from __future__ import annotations

import io
import re
import tomllib
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from sqlalchemy.orm import Session, sessionmaker

from mailbot.cli import main
from mailbot.config import REPO_ROOT, Settings, build_settings, with_overrides
from mailbot.domain.report import (
    QUOTED_PARAGRAPHS,
    Heading,
    IncidentFacts,
    Paragraph,
    Report,
    ReportFacts,
    SubmissionFacts,
    Table,
    build_report,
    format_short_date,
    session_ordinal,
)
from mailbot.domain.states import StateRegistry
from mailbot.service.report import (
    ReportError,
    build_report_docx,
    compile_report,
    import_ratifications,
    render_docx,
    render_html,
    render_markdown,
)
from mailbot.store import repo
from mailbot.store.db import make_engine, session_factory, upgrade
from mailbot.store.tables import Cycle, InboundMessage, Incident, IncidentParty, Submission

SEED = Path("/work/shared/seed/A-RES-61-31.txt")
SEED_IN_TREE = REPO_ROOT / "docs" / "A-RES-61-31.txt"
SECRET = "ZQX-CONFIDENTIAL-7731"
PENDING_SECRET = "ZQX-PENDING-4410"
ISSUED = date(2027, 6, 1)

RATIFICATIONS_CSV = """\
# test data
state,instrument,signature,consent,kind
FRA,VCDR,1961-04-18,2025-01-10,ratification
ITA,VCDR,1961-04-13,1969-06-25,ratification
KEN,VCDR,,1965-07-01,accession
MEX,VCCR,1963-04-24,,
BRA,IPP,,1999-03-07,succession
"""


def _utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


# --- Building the database ----------------------------------------------------------------------


@dataclass
class Filed:
    """A database with the cycle of the 83rd session filed in it."""

    sessions: sessionmaker[Session]
    settings: Settings
    path: Path


def make_settings(db_path: Path, count_confidential: bool = False) -> Settings:
    settings = build_settings({}, {}, REPO_ROOT / "config" / "mailbot.toml", check=False)
    return with_overrides(
        settings,
        database={"url": f"sqlite:///{db_path}"},
        policy={"count_confidential_in_report": count_confidential},
    )


def _load_states(sessions: sessionmaker[Session]) -> None:
    with open(REPO_ROOT / "config" / "states.toml", "rb") as fh:
        registry = StateRegistry.from_toml_data(tomllib.load(fh))
    with sessions() as session, session.begin():
        repo.upsert_states(session, ((s.code, s.name, s.language, s.observer) for s in registry))


class _Filer:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.n = 0

    def incident(self, reference: str, occurred: date, place: str,
                 parties: list[tuple[str, str]]) -> Incident:
        year, seq = int(reference.split("-")[1]), int(reference.split("-")[2])
        inc = Incident(reference=reference, year=year, seq=seq, occurred_on=occurred,
                       place=place, created_at=_utc(2026, 7, 1))
        inc.parties = [IncidentParty(role=role, state_code=code) for role, code in parties]
        self.session.add(inc)
        self.session.flush()
        return inc

    def submit(self, kind: str, state: str, cycle: Cycle, received: datetime,
               fields: dict[str, Any], incident: Incident | None = None,
               circulation: str = "circulate", late: bool = False,
               status: str = "accepted") -> Submission:
        self.n += 1
        msg = InboundMessage(message_key=f"<m{self.n}@example.test>", content_hash=f"{self.n:064x}",
                             size=100, from_addr=f"fp.{state.lower()}@example.test",
                             received_at=received, status="processed")
        self.session.add(msg)
        self.session.flush()
        sub = Submission(kind=kind, state_code=state, incident_id=incident.id if incident else None,
                         cycle_id=cycle.id, message_id=msg.id, fields=fields,
                         circulation=circulation, late=late, status=status, received_at=received)
        self.session.add(sub)
        return sub


def violation(reporter: str, when: str, place: str, host: str, affected: str, kind: str,
              sending: dict[str, str], description: str, **extra: Any) -> dict[str, Any]:
    fields = {"reporting_state": reporter, "date": when, "place": place, "host_state": host,
              "affected": affected, "affected_kind": kind, "sending_state": sending,
              "description": description, "circulate": True, "contact": "desk@mission.example"}
    fields.update(extra)
    return fields


def populate(sessions: sessionmaker[Session]) -> None:
    """The cycle of session 83 (and of 82), with thirteen submissions."""
    with sessions() as session, session.begin():
        f = _Filer(session)
        c82 = Cycle(session=82, opened_at=_utc(2024, 6, 1), deadline=date(2025, 5, 15),
                    status="closed")
        c83 = Cycle(session=83, opened_at=_utc(2026, 6, 1), deadline=date(2027, 5, 15),
                    circular_sent_at=_utc(2026, 6, 3))
        session.add_all([c82, c83])
        session.flush()
        marseille = f.incident("DCM-2026-0001", date(2026, 11, 20), "Marseille",
                               [("reporting", "FRA"), ("host", "FRA"), ("sending", "ITA")])
        hamburg = f.incident("DCM-2026-0002", date(2026, 12, 2), "Hamburg-ZQX",
                             [("reporting", "DEU"), ("host", "KEN")])
        nairobi = f.incident("DCM-2027-0001", date(2027, 5, 20), "Osaka",
                             [("reporting", "JPN"), ("host", "JPN")])
        mexico = f.incident("DCM-2026-0003", date(2026, 12, 24), "Monterrey",
                            [("reporting", "MEX"), ("host", "MEX")])
        older = f.incident("DCM-2025-0009", date(2025, 1, 5), "Rosario",
                           [("reporting", "ARG"), ("host", "ARG")])
        # On time, circulable.
        f.submit("violation", "FRA", c83, _utc(2026, 11, 21, 9), violation(
            "FRA", "2026-11-20", "Marseille", "FRA", "Consulate General of Italy in Marseille",
            "consular_post", {"state": "ITA"},
            "A group of demonstrators forced the gate of the consulate and damaged its "
            "premises.\n\nThe police dispersed the group within the hour.",
            persons_harmed="One security guard was slightly injured.",
            offenders="Four persons, since identified", offender_state="FRA",
            measures_taken="Additional police protection was posted at the consulate."),
            incident=marseille)
        f.submit("violation", "ITA", c83, _utc(2026, 11, 22, 10), violation(
            "ITA", "2026-11-20", "Marseille", "FRA", "Consulate General in Marseille",
            "consular_post", {"state": "ITA"}, "The consulate was attacked by demonstrators."),
            incident=marseille)
        f.submit("follow_up", "FRA", c83, _utc(2027, 2, 1, 12), {
            "reporting_state": "FRA", "reference": "DCM-2026-0001", "capacity": "host",
            "measures_justice": "Four persons were charged before the Marseille criminal court.",
            "proceedings_status": "All four were convicted on 15 January 2027",
            "final_outcome": True,
            "measures_prevention": "A permanent police post now guards the consulate.",
            "circulate": True}, incident=marseille)
        # Confidential violation report, and a circulable follow-up on the same incident.
        f.submit("violation", "DEU", c83, _utc(2026, 12, 3, 8), violation(
            "DEU", "2026-12-02", "Hamburg-ZQX", "KEN", f"Embassy {SECRET}",
            "diplomatic_mission", {"state": "DEU"}, f"Secret facts {SECRET}.",
            persons_harmed=f"{SECRET} persons", circulate=False),
            incident=hamburg, circulation="confidential")
        f.submit("follow_up", "KEN", c83, _utc(2027, 3, 10, 8), {
            "reporting_state": "KEN", "reference": "DCM-2026-0002", "capacity": "host",
            "measures_justice": "An investigation was opened.",
            "proceedings_status": "The investigation is ongoing.", "final_outcome": False,
            "circulate": True}, incident=hamburg)
        f.submit("violation", "MEX", c83, _utc(2026, 12, 27, 8), violation(
            "MEX", "2026-12-24", "Monterrey", "MEX", "Office of the <b>UN</b> & *agency*",
            "international_organization", {"organization": "the United Nations"},
            "Shots <script>alert(1)</script> were fired at the | office & *no one* [was] hurt."),
            incident=mexico)
        f.submit("views", "CAN", c83, _utc(2027, 4, 2, 8), {
            "reporting_state": "CAN", "circulate": True,
            "views": "Canada attaches great importance to the protection of missions.\n\n"
                     "It has strengthened its legislation."})
        f.submit("views", "IND", c83, _utc(2027, 3, 2, 8), {
            "reporting_state": "IND", "circulate": True,
            "views": "India supports the reporting procedures."})
        f.submit("views", "EGY", c83, _utc(2027, 3, 5, 8), {
            "reporting_state": "EGY", "views": f"Pending views {PENDING_SECRET}."},
            circulation="pending")
        # Held: never counted.
        f.submit("views", "SEN", c83, _utc(2027, 3, 6, 8), {
            "reporting_state": "SEN", "circulate": True, "views": "Held views HELD-9911."},
            status="held")
        # Late: the addendum.
        f.submit("violation", "JPN", c83, _utc(2027, 5, 21, 8), violation(
            "JPN", "2027-05-20", "Osaka", "JPN", "Consulate General of Spain in Osaka",
            "consular_post", {"state": "ESP"}, "A vehicle rammed the gate LATE-5521."),
            incident=nairobi, late=True)
        f.submit("views", "ESP", c83, _utc(2027, 5, 30, 8), {
            "reporting_state": "ESP", "circulate": True, "views": "Spain's late views LATE-7731."},
            late=True)
        # Another cycle: never in this report.
        f.submit("violation", "ARG", c82, _utc(2025, 1, 6, 8), violation(
            "ARG", "2025-01-05", "Rosario", "ARG", "Embassy", "diplomatic_mission",
            {"state": "CHL"}, "OTHER-CYCLE-3301."), incident=older)


def build_database(tmp_path: Path, count_confidential: bool = False,
                   ratifications: bool = True) -> Filed:
    """A migrated SQLite file with the States, the cycle of session 83 and ratifications."""
    path = tmp_path / "mailbot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    sessions = session_factory(engine)
    settings = make_settings(path, count_confidential)
    _load_states(sessions)
    populate(sessions)
    if ratifications:
        csv_path = tmp_path / "ratifications.csv"
        csv_path.write_text(RATIFICATIONS_CSV, encoding="utf-8")
        import_ratifications(sessions, settings, csv_path)
    return Filed(sessions, settings, path)


@pytest.fixture
def filed(tmp_path: Path) -> Filed:
    return build_database(tmp_path)


def _report(filed: Filed, addendum: bool = False, **kw: Any) -> Report:
    return compile_report(filed.sessions, filed.settings, 83, addendum=addendum,
                          issued_on=ISSUED, **kw)


def _section(report: Report, number: str) -> list[Any]:
    return next(list(s.blocks) for s in report.sections if s.number == number)


def _texts(blocks: list[Any]) -> list[str]:
    return [b.text for b in blocks if isinstance(b, Paragraph | Heading)]


def _docx_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return "\n".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist())


# --- Structure and counts -----------------------------------------------------------------------


def test_quoted_paragraphs_are_verbatim_from_the_resolution() -> None:
    source = SEED if SEED.exists() else SEED_IN_TREE
    text = " ".join(source.read_text(encoding="utf-8").split())
    for number, quoted in QUOTED_PARAGRAPHS.items():
        for passage in quoted:
            assert passage in text, (number, passage)


def test_report_has_the_five_sections_and_counts(filed: Filed) -> None:
    report = _report(filed)
    assert [s.heading for s in report.sections] == [
        "I. Introduction",
        "II. Reports received from States pursuant to paragraph 10 of resolution 61/31",
        "III. Views received from States pursuant to paragraph 12 of resolution 61/31",
        "IV. State of participation in the instruments",
        "V. Observations of the Secretary-General",
    ]
    c = report.counts
    assert (c.reports, c.reporting_states, c.incidents) == (5, 4, 3)
    assert (c.views, c.views_states) == (2, 2)
    assert (c.withheld_reports, c.withheld_views, c.deferred) == (1, 1, 2)
    assert report.title.symbol == "A/83/\u2026"
    assert report.title.session_line == "Eighty-third session"
    summary = report.summary[0].text
    assert "5 reports from 4 States" in summary and "views from 2 States" in summary
    assert "15 May 2027" in summary


def test_introduction_quotes_paragraphs_10_12_13(filed: Filed) -> None:
    intro = _section(_report(filed), "I")
    quotes = [b.text for b in intro if not isinstance(b, Paragraph)]
    assert quotes[0] == "10. Requests:"
    assert any(q.startswith("12. Also requests") for q in quotes)
    assert any(q.startswith("13. Further requests") for q in quotes)
    assert any("3 June 2026" in t for t in _texts(intro))


def test_reports_are_grouped_by_incident_in_order(filed: Filed) -> None:
    headings = [b.text for b in _section(_report(filed), "II") if isinstance(b, Heading)]
    assert headings == [
        "A. Incident of 20 November 2026 in Marseille (DCM-2026-0001)",
        "France (21 November 2026)",
        "Italy (22 November 2026)",
        "France (1 February 2027)",
        "B. Incident DCM-2026-0002",
        "Kenya (10 March 2027)",
        "C. Incident of 24 December 2026 in Monterrey (DCM-2026-0003)",
        "Mexico (27 December 2026)",
    ]


def test_violation_narrative_is_built_from_the_form(filed: Filed) -> None:
    texts = _texts(_section(_report(filed), "II"))
    start = texts.index("France (21 November 2026)")
    assert texts[start + 1] == (
        "France reported that on 20 November 2026, in Marseille, France, the consular post of "
        "Italy (Consulate General of Italy in Marseille) was the object of the following "
        "incident: A group of demonstrators forced the gate of the consulate and damaged its "
        "premises.")
    assert texts[start + 2] == "The police dispersed the group within the hour."
    assert texts[start + 3] == (
        "Persons harmed: One security guard was slightly injured. Alleged offenders: Four "
        "persons, since identified (reported to be present in France). Measures taken: "
        "Additional police protection was posted at the consulate.")
    assert "desk@mission.example" not in " ".join(texts)


def test_follow_up_narrative_names_capacity_and_outcome(filed: Filed) -> None:
    texts = _texts(_section(_report(filed), "II"))
    start = texts.index("France (1 February 2027)")
    assert texts[start + 1] == ("France, as the State in which the violation took place, "
                                "reported on the follow-up given to incident DCM-2026-0001.")
    assert "Final outcome of the proceedings: All four were convicted" in texts[start + 2]
    kenya = texts[texts.index("Kenya (10 March 2027)") + 2]
    assert "Status of the proceedings: The investigation is ongoing." in kenya


def test_views_are_listed_by_state_name(filed: Filed) -> None:
    texts = _texts(_section(_report(filed), "III"))
    assert texts == [
        "Canada (2 April 2027)",
        "Canada attaches great importance to the protection of missions.",
        "It has strengthened its legislation.",
        "India (2 March 2027)",
        "India supports the reporting procedures.",
    ]


def test_paragraphs_are_numbered_consecutively(filed: Filed) -> None:
    numbers = [b.number for b in _report(filed).blocks()
               if isinstance(b, Paragraph) and b.number is not None]
    assert numbers == list(range(1, len(numbers) + 1))


def test_addendum_holds_only_the_late_submissions(filed: Filed) -> None:
    report = _report(filed, addendum=True)
    assert report.title.symbol == "A/83/\u2026/Add.1"
    assert report.title.subtitle == "Addendum"
    assert [s.number for s in report.sections] == ["I", "II", "III"]
    md = render_markdown(report)
    assert "LATE-5521" in md and "LATE-7731" in md
    assert "Japan (21 May 2027)" in md and "Spain (30 May 2027)" in md
    for absent in ("France (21 November 2026)", "Canada", "India (2 March 2027)"):
        assert absent not in md
    main_md = render_markdown(_report(filed))
    assert "LATE" not in main_md and "Japan (21 May 2027)" not in main_md


def test_held_and_other_cycles_are_left_out(filed: Filed) -> None:
    for addendum in (False, True):
        md = render_markdown(_report(filed, addendum=addendum))
        assert "HELD" not in md and "Senegal" not in md
        assert "OTHER-CYCLE" not in md and "Rosario" not in md


def test_participation_tables_follow_the_treaty_collection(filed: Filed) -> None:
    blocks = _section(_report(filed), "IV")
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(tables) == 7
    assert tables[0].columns == ("Participant", "Signature",
                                 "Ratification, Accession (a), Succession (d)")
    assert tables[0].caption == "Vienna Convention on Diplomatic Relations"
    assert tables[0].rows == (
        ("France", "18 Apr 1961", "10 Jan 2025"),
        ("Italy", "13 Apr 1961", "25 Jun 1969"),
        ("Kenya", "", "1 Jul 1965 a"),
    )
    assert tables[3].rows == (("Mexico", "24 Apr 1963", ""),)
    assert tables[6].rows == (("Brazil", "", "7 Mar 1999 d"),)
    headings = [b.text for b in blocks if isinstance(b, Heading)]
    assert headings[0] == "1. Vienna Convention on Diplomatic Relations, Vienna, 18 April 1961"
    assert headings[6].endswith("including Diplomatic Agents, New York, 14 December 1973")
    texts = [b.text for b in blocks if isinstance(b, Paragraph)]
    # The previous cycle (session 82) opened on 1 June 2024.
    assert ("Since 1 June 2024, the following States became participants: "
            "France (10 January 2025).") in texts[1]
    assert "No State became a participant since 1 June 2024." in texts[2]


def test_since_date_can_be_given(filed: Filed) -> None:
    blocks = _section(_report(filed, since=date(2025, 6, 1)), "IV")
    texts = [b.text for b in blocks if isinstance(b, Paragraph)]
    assert "No State became a participant since 1 June 2025." in texts[1]


def test_report_without_imported_ratifications_lists_instruments(tmp_path: Path) -> None:
    filed = build_database(tmp_path, ratifications=False)
    blocks = _section(_report(filed), "IV")
    tables = [b for b in blocks if isinstance(b, Table)]
    assert len(tables) == 7 and all(not t.rows for t in tables)
    assert any("has not been imported" in t for t in _texts(blocks))


def test_unknown_cycle_is_an_error(filed: Filed) -> None:
    with pytest.raises(ReportError, match="no reporting cycle for session 90"):
        compile_report(filed.sessions, filed.settings, 90, issued_on=ISSUED)


# --- Confidentiality ----------------------------------------------------------------------------


@pytest.mark.parametrize("count_confidential", [False, True])
@pytest.mark.parametrize("addendum", [False, True])
def test_confidential_submissions_never_appear(
    tmp_path: Path, count_confidential: bool, addendum: bool
) -> None:
    filed = build_database(tmp_path, count_confidential=count_confidential)
    report = _report(filed, addendum=addendum)
    outputs = {
        "md": render_markdown(report),
        "html": render_html(report),
        "docx": _docx_xml(render_docx(report)),
    }
    for fmt, text in outputs.items():
        for secret in (SECRET, PENDING_SECRET, "ZQX", "Germany", "Egypt", "Hamburg"):
            assert secret not in text, (fmt, secret)
    withheld = "asked not to circulate"
    for fmt, text in outputs.items():
        expected = count_confidential and not addendum
        assert (withheld in text) is expected, fmt
    if count_confidential and not addendum:
        texts = _texts(_section(report, "II"))
        assert ("In addition, 1 report was received that the reporting State asked not to "
                "circulate.") in texts
        assert ("In addition, 2 communications were received that the reporting States asked "
                "not to circulate.") in [p.text for p in report.summary]


def test_pure_build_ignores_fields_of_confidential_submissions() -> None:
    """Even if a caller passes a confidential submission with its contents, none shows."""
    subs = [
        SubmissionFacts(1, "violation", "DEU", _utc(2027, 1, 1), "confidential", incident_id=1,
                        fields={"description": SECRET, "place": SECRET}),
        SubmissionFacts(2, "views", "EGY", _utc(2027, 1, 2), "pending",
                        fields={"views": SECRET}),
        SubmissionFacts(3, "views", "CAN", _utc(2027, 1, 3), "circulate",
                        fields={"views": "Open views."}),
    ]
    facts = ReportFacts(
        session=83, deadline=date(2027, 5, 15), issued_on=ISSUED,
        state_names={"DEU": "Germany", "EGY": "Egypt", "CAN": "Canada"}, submissions=subs,
        incidents={1: IncidentFacts(1, "DCM-2027-0001", date(2027, 1, 1), SECRET, False)},
        instruments=[], participations=[], count_confidential=True)
    report = build_report(facts)
    everything = " ".join([p.text for p in report.summary] + _texts(list(report.blocks())))
    assert SECRET not in everything
    assert "Germany" not in everything and "Egypt" not in everything
    assert "Open views." in everything
    assert report.counts.withheld_reports == 1 and report.counts.withheld_views == 1


# --- Rendering ----------------------------------------------------------------------------------


def test_docx_has_heading_styles_and_real_tables(filed: Filed) -> None:
    data = render_docx(_report(filed))
    doc = Document(io.BytesIO(data))
    by_style: dict[str, list[str]] = {}
    for p in doc.paragraphs:
        by_style.setdefault(p.style.name if p.style else "", []).append(p.text)
    assert by_style["Title"] == ["Report of the Secretary-General"]
    assert by_style["Heading 1"] == [
        "Summary",
        "I. Introduction",
        "II. Reports received from States pursuant to paragraph 10 of resolution 61/31",
        "III. Views received from States pursuant to paragraph 12 of resolution 61/31",
        "IV. State of participation in the instruments",
        "V. Observations of the Secretary-General",
    ]
    assert "A. Incident of 20 November 2026 in Marseille (DCM-2026-0001)" in by_style["Heading 2"]
    assert "France (21 November 2026)" in by_style["Heading 3"]
    assert "Canada (2 April 2027)" in by_style["Heading 2"]
    assert any(t.startswith("10. Requests:") for t in by_style["Quote"])
    assert len(doc.tables) == 7
    first = doc.tables[0]
    assert [c.text for c in first.rows[0].cells] == [
        "Participant", "Signature", "Ratification, Accession (a), Succession (d)"]
    assert [c.text for c in first.rows[3].cells] == ["Kenya", "", "1 Jul 1965 a"]
    assert "w:tblHeader" in _docx_xml(data)
    body = "\n".join(p.text for p in doc.paragraphs)
    assert "A/83/\u2026" in body and "Eighty-third session" in body
    assert re.search(r"^\d+\.\tFrance reported that on 20 November 2026", body, re.M)


def test_html_escapes_everything_a_state_wrote(filed: Filed) -> None:
    page = render_html(_report(filed))
    assert "<script>" not in page and "<b>UN</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Office of the &lt;b&gt;UN&lt;/b&gt; &amp; *agency*" in page
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<table>") == 7


def test_markdown_escapes_state_text(filed: Filed) -> None:
    md = render_markdown(_report(filed))
    assert "\\<script\\>alert(1)\\</script\\>" in md
    assert "\\| office \\& \\*no one\\* \\[was\\] hurt" in md
    assert "## II. Reports received from States" in md
    assert "#### France (21 November 2026)" in md
    assert "\n7\\. Spain" not in md and "\n1\\. The present report" in md
    assert "| France | 18 Apr 1961 | 10 Jan 2025 |" in md


def test_build_report_docx_for_the_mail_command(filed: Filed) -> None:
    name, data = build_report_docx(filed.sessions, filed.settings, 83, False, issued_on=ISSUED)
    assert name == "A-83-report.docx"
    assert Document(io.BytesIO(data)).paragraphs
    with filed.sessions() as session:
        name, data = build_report_docx(session, filed.settings, 83, True, issued_on=ISSUED)
    assert name == "A-83-report-Add.1.docx"
    assert "LATE-5521" in _docx_xml(data)


# --- The command line ---------------------------------------------------------------------------


def _config(tmp_path: Path, filed: Filed) -> Path:
    cfg = tmp_path / "mailbot.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{filed.path}"\n'
        f'[desk]\ninstruments_file = "{REPO_ROOT / "config" / "instruments.toml"}"\n',
        encoding="utf-8")
    return cfg


@pytest.mark.parametrize("fmt", ["docx", "md", "html"])
def test_cli_writes_the_report(tmp_path: Path, filed: Filed, fmt: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"report.{fmt}"
    code = main(["--config", str(_config(tmp_path, filed)), "report", "--cycle", "83",
                 "--format", fmt, "-o", str(out), "--symbol", "A/83/150", "--date", "2027-06-01"])
    assert code == 0
    assert "A/83/150" in capsys.readouterr().out
    data = out.read_bytes()
    text = _docx_xml(data) if fmt == "docx" else data.decode("utf-8")
    assert "A/83/150" in text and "Marseille" in text and "LATE" not in text


def test_cli_addendum_and_unknown_cycle(tmp_path: Path, filed: Filed,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(_config(tmp_path, filed))
    out = tmp_path / "add.md"
    assert main(["--config", cfg, "report", "--cycle", "83", "--addendum", "-o", str(out)]) == 0
    assert "LATE-5521" in out.read_text(encoding="utf-8")
    assert main(["--config", cfg, "report", "--cycle", "99", "--format", "md"]) == 2
    assert "no reporting cycle for session 99" in capsys.readouterr().err


# --- Formatting helpers -------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "words"), [
    (63, "Sixty-third"), (77, "Seventy-seventh"), (80, "Eightieth"), (83, "Eighty-third"),
    (85, "Eighty-fifth"), (91, "Ninety-first"), (92, "Ninety-second"), (100, "One hundredth"),
])
def test_session_ordinal(n: int, words: str) -> None:
    assert session_ordinal(n) == words


def test_short_date_is_the_treaty_collection_style() -> None:
    assert format_short_date(date(1961, 4, 18)) == "18 Apr 1961"
    assert format_short_date(date(1973, 12, 4)) == "4 Dec 1973"
