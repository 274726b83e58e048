"""The SQLite write-ahead log copied back into the database on a thread of its own.

Place in the flow: beside intake, for as long as the service runs.  Each
commit appends the pages it changed to the WAL (a filed report is some thirty
pages); from time to time they must be copied back into the database file
and the file synced (a checkpoint, about 30 ms for 10,000 pages here).
SQLite does that inside whichever commit crosses the limit, so one message in
a few hundred waited for it on the watcher thread.  :class:`Checkpointer`
watches the WAL's size and checkpoints it (PASSIVE: it never blocks a writer
or a reader) on its own connection and thread, where SQLite runs without
the interpreter's lock, as soon as it passes :data:`EVERY_PAGES`.  The
connections' own automatic checkpoint (``db.WAL_PAGES``) stays as the safety
net should this thread fall behind or stop.  Nothing here is needed for
correctness: a checkpoint only moves committed pages from one file to the
other.  For PostgreSQL it does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("mailbot.checkpoint")

#: WAL pages (4 KiB) past which the thread checkpoints
EVERY_PAGES = 2_000
#: Seconds between two looks at the WAL's size
INTERVAL = 0.2


class Checkpointer:
    """A thread that checkpoints a SQLite database's WAL once it passes EVERY_PAGES pages."""

    def __init__(self, database: Path | None) -> None:
        self.database = database
        self.wal = Path(f"{database}-wal") if database is not None else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0

    @classmethod
    def for_url(cls, url: str) -> Checkpointer:
        """One for a ``sqlite:///path`` URL; one that does nothing for any other database."""
        if url.startswith("sqlite") and "///" in url:
            path = url.split("///", 1)[1]
            if path and path != ":memory:":
                return cls(Path(path))
        return cls(None)

    def start(self) -> None:
        if self.database is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout=30)

    def _run(self) -> None:
        assert self.database is not None and self.wal is not None
        conn: sqlite3.Connection | None = None
        try:
            while not self._stop.wait(INTERVAL):
                try:
                    size = self.wal.stat().st_size
                except FileNotFoundError:
                    continue
                if size < EVERY_PAGES * 4096:
                    continue
                if conn is None:
                    conn = sqlite3.connect(self.database, timeout=30, isolation_level=None)
                    conn.execute("PRAGMA busy_timeout=30000")
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self.checkpoints += 1
        except sqlite3.Error as exc:  # SQLite's own checkpoints go on meanwhile
            log.warning("background WAL checkpoints stopped: %s", exc)
        finally:
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
