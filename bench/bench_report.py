"""Time the report to the General Assembly for a cycle of 10,000 submissions.

Builds a temporary SQLite database (migrated with Alembic, States from
config/states.toml, the example ratification table), files 10,000 accepted
submissions in one cycle -- violation reports, follow-ups and views from many
States, a tenth of them confidential and a twentieth late -- then times, for
each format separately, loading + building + rendering the report.

Run: .venv/bin/python bench/bench_report.py [--submissions N] [--repeat R]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from mailbot.config import REPO_ROOT, Settings, build_settings, with_overrides
from mailbot.domain.states import StateRegistry
from mailbot.service.report import compile_report, import_ratifications, render
from mailbot.store import repo
from mailbot.store.db import make_engine, session_factory, upgrade
from mailbot.store.tables import Cycle, InboundMessage, Incident, Submission

CONFIG = REPO_ROOT / "config"
KINDS = ("diplomatic_mission", "consular_post", "representative", "international_organization")


def populate(db_path: Path, n: int) -> tuple[sessionmaker[Session], Settings]:
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    sessions = session_factory(engine)
    settings = with_overrides(
        build_settings({}, {}, CONFIG / "mailbot.toml", check=False),
        database={"url": f"sqlite:///{db_path}"},
        policy={"count_confidential_in_report": True},
    )
    with open(CONFIG / "states.toml", "rb") as fh:
        registry = StateRegistry.from_toml_data(tomllib.load(fh))
    codes = [s.code for s in registry]
    rng = random.Random(61_31)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    with sessions() as session, session.begin():
        repo.upsert_states(session, ((s.code, s.name, s.language, s.observer) for s in registry))
        cycle = Cycle(session=83, opened_at=start, deadline=date(2027, 5, 15))
        session.add(cycle)
        session.flush()
        incidents: list[Incident] = []
        messages = []
        for i in range(n):
            messages.append(InboundMessage(
                message_key=f"<bench-{i}@example.test>", content_hash=f"{i:064x}", size=2000,
                received_at=start + timedelta(minutes=50 * i % 500_000), status="processed"))
        session.add_all(messages)
        session.flush()
        for i, msg in enumerate(messages):
            state = rng.choice(codes)
            received = msg.received_at
            late = rng.random() < 0.05
            circulation = "confidential" if rng.random() < 0.1 else "circulate"
            roll = rng.random()
            if roll < 0.5 or not incidents:
                inc = Incident(reference=f"DCM-2026-{len(incidents) + 1:05d}", year=2026,
                               seq=len(incidents) + 1, occurred_on=received.date(),
                               place=f"City {i}", created_at=received)
                session.add(inc)
                session.flush()
                incidents.append(inc)
                kind, incident = "violation", inc
                fields = {
                    "reporting_state": state, "date": received.date().isoformat(),
                    "place": f"City {i}", "host_state": rng.choice(codes),
                    "affected": f"Embassy number {i}", "affected_kind": rng.choice(KINDS),
                    "sending_state": {"state": rng.choice(codes)},
                    "description": "Demonstrators gathered and damaged the premises. " * 5,
                    "persons_harmed": "None.", "offenders": "Unknown persons.",
                    "offender_state": rng.choice(codes), "measures_taken": "Police protection.",
                    "circulate": circulation == "circulate", "contact": "desk@example.test"}
            elif roll < 0.8:
                incident = rng.choice(incidents)
                kind = "follow_up"
                fields = {
                    "reporting_state": state, "reference": incident.reference,
                    "capacity": rng.choice(("host", "offender")),
                    "measures_justice": "Investigation opened. " * 4,
                    "proceedings_status": "Ongoing.", "final_outcome": False,
                    "measures_prevention": "Patrols increased.", "circulate": True}
            else:
                incident, kind = None, "views"
                fields = {"reporting_state": state, "views": "Views on measures. " * 20,
                          "circulate": True}
            session.add(Submission(
                kind=kind, state_code=state, incident_id=incident.id if incident else None,
                cycle_id=cycle.id, message_id=msg.id, fields=fields, circulation=circulation,
                late=late, received_at=received))
    import_ratifications(sessions, settings, CONFIG / "ratifications.csv")
    return sessions, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        sessions, settings = populate(Path(tmp) / "bench.db", args.submissions)
        print(f"filed {args.submissions} submissions in {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        report = compile_report(sessions, settings, 83, issued_on=date(2027, 6, 1))
        build = time.perf_counter() - t0
        c = report.counts
        print(f"load + build: {build:.2f} s ({c.reports} reports, {c.views} views, "
              f"{c.incidents} incidents, {c.withheld_reports + c.withheld_views} withheld, "
              f"{c.deferred} late)")
        for fmt in ("md", "html", "docx"):
            times, size = [], 0
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                rep = compile_report(sessions, settings, 83, issued_on=date(2027, 6, 1))
                data = render(rep, fmt)
                times.append(time.perf_counter() - t0)
                size = len(data)
            print(f"{fmt:>4}: median {statistics.median(times):.2f} s, "
                  f"min {min(times):.2f} s over {args.repeat} runs (load+build+render), "
                  f"{size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
