"""The data layer on both databases: SQLite (the default file) and PostgreSQL.

Migrations run with ``mailbot db upgrade`` semantics on each, the schema they
create matches the models, and the operations the desk relies on for
correctness — references never reused, outbox keys unique, conditional
claims of outbox rows, intake of a message — behave the same on both.
PostgreSQL is reached at ``MAILBOT_TEST_PG_URL`` (default: the local server's
``test`` database); each run creates and drops its own database there.  When
no server answers, the PostgreSQL tests fail: they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from unit.desk_app import as_received

from mailbot.config import REPO_ROOT, build_settings
from mailbot.service.admin import db_upgrade, import_states
from mailbot.service.app import App
from mailbot.service.intake import Fetched, Intake
from mailbot.store import repo
from mailbot.store.db import head_revision, transaction
from mailbot.store.tables import Base

PG_URL = os.environ.get("MAILBOT_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 11, 27, 12, 0)


def _pg_database() -> Iterator[str]:
    admin_url = make_url(PG_URL)
    if admin_url.password is None and os.environ.get("PGPASSWORD"):
        admin_url = admin_url.set(password=os.environ["PGPASSWORD"])
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"mailbot_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        pytest.fail(f"PostgreSQL at {PG_URL} is required for the database tests: {exc}")
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    if request.param == "sqlite":
        urls: Iterator[str] = iter([""])
    else:
        urls = _pg_database()
    url = next(urls)
    settings = build_settings(
        {"mailbox": {"host": "127.0.0.1", "tls": "none", "user": "mailbot@example.test"},
         "smtp": {"host": "127.0.0.1", "tls": "none"},
         "database": {"url": url}, "storage": {"data_dir": str(tmp_path)},
         "desk": {"authserv_ids": ["mx.example.test"]}},
        {"MAILBOT_MAILBOX__PASSWORD": "x"}, REPO_ROOT / "config" / "mailbot.toml")
    app = App(settings)
    print(f"database under test: {app.engine.url.render_as_string(hide_password=True)}")
    db_upgrade(app)
    import_states(app)
    try:
        yield app
    finally:
        app.close()
        for _ in urls:  # drops the PostgreSQL database
            pass


def test_migrations_reach_head_and_match_the_models(app: App) -> None:
    from mailbot.store.db import current_revision

    assert current_revision(app.engine) == head_revision()
    with app.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"
    if app.engine.dialect.name == "sqlite":
        with app.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_upgrade_twice_is_harmless(app: App) -> None:
    assert db_upgrade(app) == head_revision()


def test_references_are_per_year_and_never_reused(app: App) -> None:
    with transaction(app.sessions) as s:
        assert repo.next_reference(s, "DCM", 2026) == ("DCM-2026-0001", 1)
        assert repo.next_reference(s, "DCM", 2026) == ("DCM-2026-0002", 2)
        assert repo.next_reference(s, "DCM", 2027) == ("DCM-2027-0001", 1)
    with transaction(app.sessions) as s:
        assert repo.next_reference(s, "DCM", 2026)[0] == "DCM-2026-0003"


def _row(key: str) -> dict[str, Any]:
    return dict(key=key, kind="test", message_id=f"<{key}@x>",
                recipients=["a@example.test", "b@example.test"], subject="s", raw=b"raw",
                status="pending", attempts=0, next_attempt_at=NOW, created_at=NOW)


def test_outbox_key_enqueues_once_and_claims_are_exclusive(app: App) -> None:
    with transaction(app.sessions) as s:
        assert repo.enqueue(s, _row("k1")) is True
        assert repo.enqueue(s, _row("k1")) is False
        assert repo.enqueue(s, _row("k2")) is True
    with transaction(app.sessions) as s:  # written at the commit, each with its recipients
        assert repo.enqueue(s, _row("k1")) is False
        rows = repo.list_outbox(s, "pending", 10)
        assert sorted(r.key for r in rows) == ["k1", "k2"]
        assert all(sorted(x.address for x in r.results) == ["a@example.test", "b@example.test"]
                   for r in rows)
    with transaction(app.sessions) as s:
        first = repo.claim_due(s, NOW, "w1", 10, timedelta(minutes=10))
    with transaction(app.sessions) as s:
        second = repo.claim_due(s, NOW, "w2", 10, timedelta(minutes=10))
    assert {r.key for r in first} == {"k1", "k2"} and second == []
    with transaction(app.sessions) as s:  # a dispatcher that died: reclaimed after the stale time
        stale = repo.claim_due(s, NOW + timedelta(minutes=11), "w3", 10, timedelta(minutes=10))
    assert {r.key for r in stale} == {"k1", "k2"}


def test_intake_records_a_message_once(app: App) -> None:
    raw = as_received(b"From: fp.fra@example.test\r\nTo: mailbot@example.test\r\nSubject: hi\r\n"
                      b"Message-ID: <db-1@mission.example.test>\r\n\r\nHello\r\n")
    intake = Intake(app, clock=lambda: NOW)
    first = intake.process(Fetched("INBOX", 5, 1, len(raw), raw))
    again = intake.process(Fetched("INBOX", 5, 1, len(raw), raw))
    assert first.status == "corrected" and again.repeated
    with app.sessions() as s:
        assert len(repo.list_messages(s)) == 1


def test_filing_the_form_fixtures_works_on_this_database(app: App) -> None:
    """Intake's prepared statements (RETURNING, INSERT ... SELECT, UPDATE ... RETURNING) on each backend."""
    intake = Intake(app, clock=lambda: NOW)
    fixtures = sorted((REPO_ROOT / "tests" / "fixtures" / "forms").glob("*.eml"))
    outcomes = [intake.process(Fetched("INBOX", 9, uid, len(raw), raw))
                for uid, raw in enumerate((as_received(p.read_bytes()) for p in fixtures), 1)]
    assert not [o for o in outcomes if (o.reason or "").startswith("unexpected error")]
    with app.sessions() as s:
        counts = {name: int(s.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
                  for name in ("incidents", "incident_parties", "submissions", "obligations",
                               "outbox", "outbox_recipients", "reference_counters")}
    # the same on SQLite and PostgreSQL: 4 violation reports (14 parties, 4 obligations),
    # 8 submissions in all, and 91 mails queued, each with its recipient
    assert counts == {"incidents": 4, "incident_parties": 14, "submissions": 8, "obligations": 4,
                      "outbox": 91, "outbox_recipients": 91, "reference_counters": 1}
    with app.sessions() as s:  # references issued in order, none twice
        refs = [r for (r,) in s.execute(text("SELECT reference FROM incidents ORDER BY id"))]
        # each accepted form's attachments are filed with its submission, the others with none
        linked = s.execute(text(
            "SELECT count(*), count(a.submission_id), sum(CASE WHEN s.message_id = a.message_id "
            "THEN 1 ELSE 0 END) FROM attachments a LEFT JOIN submissions s "
            "ON s.id = a.submission_id")).one()
    assert refs == [f"DCM-2026-{i:04d}" for i in range(1, len(refs) + 1)]
    assert tuple(linked) == (3, 2, 2)  # the same on both backends, each with its own submission
