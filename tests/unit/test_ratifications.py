"""The instruments file and the ratification table: parsing, validation, import and listing."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailbot.cli import main
from mailbot.config import REPO_ROOT, build_settings
from mailbot.domain.ratifications import (
    RatificationRow,
    RatificationsError,
    parse_instruments,
    parse_ratifications,
)
from mailbot.domain.states import StateRegistry
from mailbot.service.report import ReportError, import_ratifications, list_ratifications
from mailbot.store import repo
from mailbot.store.db import make_engine, session_factory, upgrade
from mailbot.store.tables import Instrument, Ratification

CONFIG = REPO_ROOT / "config"
STATES = {"FRA", "DEU", "KEN", "SEN", "BRA"}
INSTRUMENTS = {"VCDR", "VCCR", "IPP"}
HEADER = "state,instrument,signature,consent,kind\n"


def _parse(body: str) -> list[RatificationRow]:
    return parse_ratifications(HEADER + body, STATES, INSTRUMENTS)


def _problems(text: str) -> tuple[str, ...]:
    with pytest.raises(RatificationsError) as info:
        parse_ratifications(text, STATES, INSTRUMENTS)
    return info.value.problems


# --- Instruments --------------------------------------------------------------------------------


def test_instruments_file_lists_the_seven_of_paragraph_8() -> None:
    with open(CONFIG / "instruments.toml", "rb") as fh:
        instruments = parse_instruments(tomllib.load(fh))
    assert [i.code for i in instruments] == [
        "VCDR", "VCDR-OP-NAT", "VCDR-OP-DISP", "VCCR", "VCCR-OP-NAT", "VCCR-OP-DISP", "IPP"]
    assert [i.position for i in instruments] == list(range(1, 8))
    assert instruments[0].citation == (
        "Vienna Convention on Diplomatic Relations, Vienna, 18 April 1961")
    assert {i.adopted_on for i in instruments[:3]} == {date(1961, 4, 18)}
    assert {i.adopted_on for i in instruments[3:6]} == {date(1963, 4, 24)}
    assert instruments[6].citation == (
        "Convention on the Prevention and Punishment of Crimes against Internationally "
        "Protected Persons, including Diplomatic Agents, New York, 14 December 1973")
    assert instruments[2].title == ("Optional Protocol to the Vienna Convention on Diplomatic "
                                    "Relations concerning the Compulsory Settlement of Disputes")


def test_bad_instruments_list_every_problem() -> None:
    data = {"instrument": [
        {"code": "VCDR", "title": "A", "place": "Vienna", "adopted_on": date(1961, 4, 18)},
        {"code": "VCDR", "title": "B", "place": "Vienna", "adopted_on": date(1961, 4, 18)},
        {"code": "x y", "title": "", "place": "Vienna", "adopted_on": "1961-04-18", "foo": 1},
    ]}
    with pytest.raises(ValueError) as info:
        parse_instruments(data)
    text = str(info.value)
    assert "instrument #2: code 'VCDR' already used by instrument #1" in text
    assert "instrument #3: unknown key(s) foo" in text
    assert "instrument #3: code 'x y'" in text
    assert "instrument #3: title must be a non-empty string" in text
    assert "instrument #3: adopted_on must be a date" in text


# --- Parsing the table --------------------------------------------------------------------------


def test_rows_are_parsed_with_comments_and_blank_lines_skipped() -> None:
    text = ("# comment\n\n" + HEADER + "# another\n"
            "FRA,VCDR,1961-04-18,1970-12-31,ratification\n"
            "\n"
            "ken,VCCR,,1965-07-01,Accession\n"
            "SEN,IPP,1974-01-10,,\n")
    rows = parse_ratifications(text, STATES, INSTRUMENTS)
    assert rows == [
        RatificationRow(5, "FRA", "VCDR", date(1961, 4, 18), date(1970, 12, 31), "ratification"),
        RatificationRow(7, "KEN", "VCCR", None, date(1965, 7, 1), "accession"),
        RatificationRow(8, "SEN", "IPP", date(1974, 1, 10), None, None),
    ]


@pytest.mark.parametrize(("row", "problem"), [
    ("XXX,VCDR,1961-04-18,,", "line 2: unknown State 'XXX'"),
    ("FRA,VCDX,1961-04-18,,", "line 2: unknown instrument 'VCDX'"),
    ("FRA,VCDR,2026-02-30,,", "line 2: signature '2026-02-30' is not a real date"),
    ("FRA,VCDR,,18/04/1961,ratification", "line 2: consent '18/04/1961' is not a date"),
    ("FRA,VCDR,1961-04-18,1960-01-01,ratification",
     "line 2: consent 1960-01-01 is before signature 1961-04-18"),
    ("FRA,VCDR,,1970-01-01,adhesion", "line 2: kind 'adhesion' is not one of"),
    ("FRA,VCDR,1961-04-18,,ratification", "line 2: kind 'ratification' given without a consent"),
    ("FRA,VCDR,,1970-01-01,", "line 2: consent date given without a kind"),
    ("FRA,VCDR,,,", "line 2: neither a signature nor a consent date"),
    ("FRA,VCDR,1961-04-18", "line 2: expected 5 columns, found 3"),
])
def test_each_kind_of_problem_is_reported_with_its_line(row: str, problem: str) -> None:
    problems = _problems(HEADER + row + "\n")
    assert any(p.startswith(problem) for p in problems), problems


def test_every_problem_is_listed_at_once_with_line_numbers() -> None:
    text = ("# Example\n" + HEADER +
            "FRA,VCDR,1961-04-18,1970-12-31,ratification\n"   # line 3, fine
            "ZZZ,VCDR,1961-04-18,,\n"                          # line 4
            "DEU,NOPE,,1964-11-11,ratification\n"              # line 5
            "KEN,VCCR,2026-02-30,,\n"                          # line 6
            "BRA,VCDR,1970-01-01,1965-01-01,ratification\n"    # line 7
            "SEN,VCDR,,1966-01-01,adoption\n"                  # line 8
            "SEN,VCCR,1963-04-24,,accession\n"                 # line 9
            "FRA,VCDR,1961-04-18,1970-12-31,ratification\n")   # line 10
    problems = _problems(text)
    assert problems == (
        "line 4: unknown State 'ZZZ'",
        "line 5: unknown instrument 'NOPE'",
        "line 6: signature '2026-02-30' is not a real date",
        "line 7: consent 1965-01-01 is before signature 1970-01-01",
        "line 8: kind 'adoption' is not one of ratification, accession, succession",
        "line 9: kind 'accession' given without a consent date",
        "line 10: duplicate of line 3 (FRA, VCDR)",
    )
    with pytest.raises(RatificationsError, match="7 problems"):
        parse_ratifications(text, STATES, INSTRUMENTS)


def test_duplicate_is_found_even_when_the_first_row_is_wrong() -> None:
    problems = _problems(HEADER + "FRA,VCDR,2026-02-30,,\nfra,VCDR,1961-04-18,,\n")
    assert "line 3: duplicate of line 2 (FRA, VCDR)" in problems


def test_missing_or_wrong_header() -> None:
    assert _problems("# only a comment\n") == ("line 1: missing header "
                                              "state,instrument,signature,consent,kind",)
    assert _problems("FRA,VCDR,1961-04-18,,\n")[0].startswith("line 1: header must be")


def test_shipped_example_file_parses_and_says_it_is_an_example() -> None:
    text = (CONFIG / "ratifications.csv").read_text(encoding="utf-8")
    assert "EXAMPLE DATA" in text.splitlines()[0]
    with open(CONFIG / "states.toml", "rb") as fh:
        states = {s.code for s in StateRegistry.from_toml_data(tomllib.load(fh))}
    with open(CONFIG / "instruments.toml", "rb") as fh:
        instruments = {i.code for i in parse_instruments(tomllib.load(fh))}
    rows = parse_ratifications(text, states, instruments)
    assert 0 < len(rows) <= 10


# --- Import into the database -------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> tuple[sessionmaker[Session], Path]:
    path = tmp_path / "mailbot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    sessions = session_factory(engine)
    with open(CONFIG / "states.toml", "rb") as fh:
        registry = StateRegistry.from_toml_data(tomllib.load(fh))
    with sessions() as session, session.begin():
        repo.upsert_states(session, ((s.code, s.name, s.language, s.observer) for s in registry))
    return sessions, path


def test_import_replaces_the_table_all_or_nothing(
    db: tuple[sessionmaker[Session], Path], tmp_path: Path
) -> None:
    sessions, _ = db
    settings = build_settings({}, {}, CONFIG / "mailbot.toml", check=False)
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "FRA,VCDR,1961-04-18,1970-12-31,ratification\n"
                    "KEN,VCCR,,1965-07-01,accession\n", encoding="utf-8")
    result = import_ratifications(sessions, settings, good)
    assert (result.instruments, result.rows) == (7, 2)
    with sessions() as session:
        assert session.scalar(select(Instrument.title).where(Instrument.code == "VCCR")) == (
            "Vienna Convention on Consular Relations")
        assert len(session.scalars(select(Ratification)).all()) == 2

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "BRA,IPP,,1999-03-07,succession\nZZZ,VCDR,,,\n", encoding="utf-8")
    with pytest.raises(ReportError, match="line 3: unknown State 'ZZZ'"):
        import_ratifications(sessions, settings, bad)
    rows = list_ratifications(sessions)
    assert [(r.state_code, r.instrument_code) for r in rows] == [("KEN", "VCCR"), ("FRA", "VCDR")]

    again = tmp_path / "again.csv"
    again.write_text(HEADER + "BRA,IPP,,1999-03-07,succession\n", encoding="utf-8")
    assert import_ratifications(sessions, settings, again).rows == 1
    assert [(r.state_code, r.consent_kind) for r in list_ratifications(sessions)] == [
        ("BRA", "succession")]
    assert list_ratifications(sessions, instrument="VCDR") == []


def test_cli_import_and_list(db: tuple[sessionmaker[Session], Path], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    _, path = db
    cfg = tmp_path / "mailbot.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{path}"\n'
                   f'[desk]\ninstruments_file = "{CONFIG / "instruments.toml"}"\n',
                   encoding="utf-8")
    assert main(["--config", str(cfg), "ratifications", "import",
                 str(CONFIG / "ratifications.csv")]) == 0
    assert "for 7 instruments" in capsys.readouterr().out
    assert main(["--config", str(cfg), "ratifications", "list", "--state", "KEN"]) == 0
    out = capsys.readouterr().out
    assert "KEN" in out and "accession" in out and "FRA" not in out
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "FRA,VCDR,2026-02-30,,\n", encoding="utf-8")
    assert main(["--config", str(cfg), "ratifications", "import", str(bad)]) == 2
    assert "line 2: signature '2026-02-30' is not a real date" in capsys.readouterr().err
