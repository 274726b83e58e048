"""The parse-ahead worker's own IMAP connection: it fetches the next part of a backlog itself.

Place in the flow: inside the worker process of ``service.prepare``.  The
watcher asks for a part of the inbox (:class:`FetchRequest`); the worker
fetches it on a read-only connection (the inbox examined, bodies read with
``BODY.PEEK[]``, so nothing it does changes a flag) and reads the messages
ahead of intake.  Any failure leaves the fetching to the watcher.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from mailbot.config import MailboxSettings
from mailbot.mail.imap import MailboxConnection

#: Seconds the worker leaves the fetching to the watcher after its own IMAP connection failed.
FETCH_REST = 30.0

__all__ = ["FETCH_REST", "FetchRequest", "_Fetcher"]


@dataclass(frozen=True)
class FetchRequest:
    """Messages for the worker to fetch itself, on its own read-only IMAP connection: a
    part of the inbox, fetched in one command and answered a chunk at a time."""

    mailbox: MailboxSettings
    uidvalidity: int
    uids: tuple[int, ...]
    #: (chunk id, how many of ``uids``), in order: one answer each
    chunks: tuple[tuple[int, int], ...] = ()


class _Fetcher:
    """The worker's IMAP connection: opened at the first request, the inbox examined
    (read-only: nothing the worker does changes a flag), opened again after an error."""

    def __init__(self) -> None:
        self.conn: MailboxConnection | None = None
        self.resting_until = 0.0  # after a failure, the watcher fetches for itself a while

    def fetch(self, request: FetchRequest) -> list[bytes | None]:
        """The raw bytes of each requested UID; None for all when the mailbox is not the
        one the watcher reads (another UIDVALIDITY) or the server fails.

        A connection that has been idle may have been dropped by the server
        meanwhile: it is opened again once at once, before giving up for a while.
        """
        if time.monotonic() < self.resting_until:
            return [None] * len(request.uids)
        if self.conn is not None:
            try:
                return self._fetch(request)
            except Exception:  # dropped while idle, say: once more on a new connection
                self.disconnect()
        try:
            return self._fetch(request)
        except Exception as exc:  # the service fetches these itself
            print(f"parse-ahead fetch failed, the service fetches for itself for "
                  f"{FETCH_REST:.0f} s: {type(exc).__name__}: {exc}", file=sys.stderr)
            self.disconnect()
            self.resting_until = time.monotonic() + FETCH_REST
            return [None] * len(request.uids)

    def _fetch(self, request: FetchRequest) -> list[bytes | None]:
        if self.conn is None:
            conn = MailboxConnection(request.mailbox)
            conn.connect()
            self.conn = conn
            info = conn.c.select_folder(request.mailbox.inbox, readonly=True)
            conn.uidvalidity = int(info[b"UIDVALIDITY"])
        if self.conn.uidvalidity != request.uidvalidity:
            self.disconnect()  # examined again at the next request
            return [None] * len(request.uids)
        found = self.conn.c.fetch(list(request.uids), ["BODY.PEEK[]"])
        out: list[bytes | None] = []
        for uid in request.uids:
            raw = found.get(uid, {}).get(b"BODY[]")
            out.append(raw if isinstance(raw, bytes) else None)
        return out

    def disconnect(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
