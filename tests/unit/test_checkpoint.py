"""The WAL checkpoint thread (``store.checkpoint``) on a real SQLite file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mailbot.store import checkpoint
from mailbot.store.checkpoint import Checkpointer
from mailbot.store.db import make_engine


def test_the_wal_is_checkpointed_on_the_thread_once_it_passes_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "EVERY_PAGES", 50)
    monkeypatch.setattr(checkpoint, "INTERVAL", 0.01)
    db = tmp_path / "desk.db"
    engine = make_engine(f"sqlite:///{db}")  # the service's pragmas: WAL, its own checkpoints rare
    worker = Checkpointer.for_url(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    worker.start()
    try:
        with engine.connect() as conn:
            for i in range(400):  # one commit each: hundreds of WAL frames
                conn.exec_driver_sql("INSERT INTO t (v) VALUES (?)", (f"{i:04d}" + "x" * 3000,))
                conn.commit()
        deadline = time.monotonic() + 10
        while worker.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.close()
        assert worker._thread is None  # stopped and joined
    assert worker.checkpoints >= 1
    with engine.connect() as conn:  # nothing lost, in order
        rows = [r[0][:4] for r in conn.exec_driver_sql("SELECT v FROM t ORDER BY id")]
    assert rows == [f"{i:04d}" for i in range(400)]
    engine.dispose()


def test_below_the_limit_and_for_other_databases_it_does_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checkpoint, "INTERVAL", 0.01)
    db = tmp_path / "desk.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO t DEFAULT VALUES")
    worker = Checkpointer.for_url(f"sqlite:///{db}")
    worker.start()
    time.sleep(0.1)
    worker.close()
    assert worker.checkpoints == 0
    engine.dispose()
    other = Checkpointer.for_url("postgresql://localhost/test")
    other.start()  # no thread at all
    assert other._thread is None and other.database is None
    other.close()
    assert Checkpointer.for_url("sqlite://").database is None  # in memory
