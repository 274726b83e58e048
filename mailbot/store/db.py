"""Database engine and sessions, and ``mailbot db upgrade`` (Alembic migrations).

SQLite is the default (one file under the data directory) with WAL, foreign
keys and a busy timeout set on every connection; PostgreSQL works through a
URL.  Every unit of work (one message, one sweep, one dispatch batch) runs in
one session and one transaction, opened with :func:`transaction`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from mailbot.store import direct

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: WAL pages (4 KiB) between SQLite's automatic checkpoints
WAL_PAGES = 10_000

#: The session types the service layer annotates with (it imports them from here,
#: so that the store stays the only package that imports SQLAlchemy).
__all__ = ["Engine", "Session", "make_engine", "session_factory", "sessionmaker", "transaction",
           "upgrade"]


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    # checkpoint every WAL_PAGES pages rather than SQLite's 1,000: intake's commits rewrite the
    # same index and table pages, so a longer WAL copies each of them back once for many
    # commits, and syncs ten times less often; the file is cut back to that size after each
    cur.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
    cur.execute(f"PRAGMA journal_size_limit={WAL_PAGES * 4096}")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the file's directory is created and pragmas set."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that flush explicitly (where an id is needed) and at commit, not before
    every query: a filed report writes its rows in a few batched statements.

    Outbox rows queued in a session (``repo.enqueue``) are written before its
    flush, before its commit and before its next ORM statement, so a query in
    the same transaction sees them.
    """
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=False)
    event.listen(factory, "before_flush", _write_outbox_before_flush)
    event.listen(factory, "before_commit", _write_outbox)
    event.listen(factory, "do_orm_execute", _write_outbox_before_statement)
    direct.track(factory)
    return factory


def _write_outbox(session: Session) -> None:
    from mailbot.store.repo import PENDING_OUTBOX, flush_outbox

    if session.info.get(PENDING_OUTBOX):
        flush_outbox(session)


def _write_outbox_before_flush(session: Session, _context: Any, _instances: Any) -> None:
    _write_outbox(session)


def _write_outbox_before_statement(state: ORMExecuteState) -> None:
    _write_outbox(state.session)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any exception."""
    with factory() as session, session.begin():
        yield session


# Alembic is imported where a migration is looked at, not with the engine: it takes longer
# to import than the rest of the store, and most commands never need it.


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (``mailbot db upgrade``)."""
    from alembic import command

    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
