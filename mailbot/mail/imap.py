"""IMAP adapter: watch the inbox (IDLE, polling as the safety net), fetch by UID, move after commit.

imapclient is synchronous and not thread-safe, so one :class:`Watcher`
thread owns the connection from start to end; it fetches in batches with
``BODY.PEEK[]`` (nothing is marked read by accident), checks ``RFC822.SIZE``
first so an oversized message is never loaded whole, hands each message to
the intake callback (which commits), and only then moves the batch to the
folder of each outcome.  Servers without IDLE are polled; servers without
MOVE get COPY + ``\\Deleted`` + UID EXPUNGE.  Two pitfalls measured with
imapclient 4.x: ``fetch("1:*")`` raises (we pass lists of UIDs), and
``UID n:*`` always returns the last message (we never rely on it).
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mailbot.config import MailboxSettings
from mailbot.mail.tls import tls_context

log = logging.getLogger("mailbot.imap")


@dataclass(frozen=True)
class FetchedMail:
    """One message as fetched: where it is, its size, and its bytes (header only if oversized)."""

    uidvalidity: int
    uid: int
    size: int
    raw: bytes
    oversized: bool


class MailboxConnection:
    """One logged-in IMAP connection; every method must be called from its owner thread."""

    def __init__(self, settings: MailboxSettings) -> None:
        self.settings = settings
        self.client: IMAPClient | None = None
        self.capabilities: set[bytes] = set()
        self.uidvalidity = 0

    # -- connection -----------------------------------------------------------------------

    def connect(self) -> None:
        s = self.settings
        ctx = tls_context(s.ca_file) if s.tls != "none" else None
        client = IMAPClient(s.host, port=s.port, ssl=s.tls == "tls", ssl_context=ctx,
                            timeout=s.timeout)
        try:
            if s.tls == "starttls":
                client.starttls(ctx)
            client.login(s.user, s.password)
        except BaseException:
            with contextlib.suppress(Exception):  # the socket may already be gone
                client.shutdown()
            raise
        self.client = client
        self.capabilities = set(client.capabilities())

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.logout()
        except Exception:  # closing a broken connection: nothing more to do
            with contextlib.suppress(Exception):
                self.client.shutdown()
        self.client = None

    @property
    def c(self) -> IMAPClient:
        if self.client is None:
            raise IMAPClientError("not connected")
        return self.client

    def has(self, capability: str) -> bool:
        return capability.encode() in self.capabilities

    # -- folders ----------------------------------------------------------------------------

    def ensure_folders(self, names: Iterable[str]) -> None:
        for name in names:
            if not self.c.folder_exists(name):
                self.c.create_folder(name)
                log.info("created folder %s", name)

    def select_inbox(self) -> int:
        info = self.c.select_folder(self.settings.inbox)
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        return self.uidvalidity

    def pending_uids(self) -> list[int]:
        return sorted(int(u) for u in self.c.search(["UNDELETED"]))

    # -- fetching ---------------------------------------------------------------------------

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """``RFC822.SIZE`` of each of ``uids`` (one round trip)."""
        return {int(u): int(d.get(b"RFC822.SIZE", 0)) for u, d in
                self.c.fetch(list(uids), ["RFC822.SIZE"]).items()}

    def fetch(self, uids: Sequence[int], sizes: dict[int, int] | None = None) -> list[FetchedMail]:
        """Fetch ``uids``: whole bodies, or headers of oversized messages (sizes asked first)."""
        limit = self.settings.max_message_size
        if sizes is None:
            sizes = self.sizes(uids)
        normal = [u for u in uids if u in sizes and sizes[u] <= limit]
        big = [u for u in uids if u in sizes and sizes[u] > limit]
        out: dict[int, FetchedMail] = {}
        if normal:
            for u, d in self.c.fetch(normal, ["BODY.PEEK[]"]).items():
                raw = d.get(b"BODY[]")
                if isinstance(raw, bytes):
                    out[int(u)] = FetchedMail(self.uidvalidity, int(u), sizes[int(u)], raw, False)
        for u in big:
            head = self.c.fetch([u], ["BODY.PEEK[HEADER]"]).get(u, {}).get(b"BODY[HEADER]", b"")
            out[u] = FetchedMail(self.uidvalidity, u, sizes[u], bytes(head or b""), True)
        return [out[u] for u in uids if u in out]

    # -- moving -----------------------------------------------------------------------------

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move ``uids`` out of the inbox: MOVE, or COPY + \\Deleted + UID EXPUNGE."""
        if not uids:
            return
        if self.has("MOVE"):
            self.c.move(list(uids), folder)
            return
        self.c.copy(list(uids), folder)
        self.c.add_flags(list(uids), [b"\\Deleted"], silent=True)
        if self.has("UIDPLUS"):
            self.c.uid_expunge(list(uids))
        else:
            self.c.expunge()

    # -- waiting ----------------------------------------------------------------------------

    def wait(self, seconds: float, stop: threading.Event) -> None:
        """Wait for new mail with IDLE (renewed before servers drop it), or sleep when unsupported."""
        deadline = time.monotonic() + seconds
        if not self.has("IDLE"):
            stop.wait(seconds)
            return
        self.c.idle()
        try:
            if self._answer_buffered():
                return  # mail that came just before IDLE; idle_done() reads the EXISTS
            while not stop.is_set() and time.monotonic() < deadline:
                responses = self.c.idle_check(timeout=min(1.0, max(deadline - time.monotonic(), 0.05)))
                if any(r[1] in (b"EXISTS", b"RECENT") for r in responses if len(r) > 1):
                    return
        finally:
            self.c.idle_done()

    def _answer_buffered(self) -> bool:
        """True when the server's untagged answers already sit in imaplib's read buffer.

        Dovecot sends ``* n EXISTS`` together with ``+ idling`` for mail that
        arrived between our last SEARCH and IDLE; reading the continuation
        pulls both lines into the buffered reader, where ``idle_check``'s
        poll() on the socket never sees them, so without this check such a
        message waited for the next poll (minutes).
        """
        reader = getattr(getattr(self.c, "_imap", None), "file", None)
        if reader is None or not hasattr(reader, "peek"):
            return False
        sock = self.c.socket()
        sock.setblocking(False)
        try:
            return bool(reader.peek(1))
        except (OSError, ValueError):  # nothing buffered and nothing on the wire yet
            return False
        finally:
            sock.setblocking(True)
            sock.settimeout(self.settings.timeout)


Handler = Callable[[FetchedMail], str]  # returns the folder to move the message to
#: (uidvalidity, [(uid, size)], fresh) -> the UIDs another process will fetch and read
FetchAhead = Callable[[int, list[tuple[int, int]], bool], set[int]]

#: Bytes of message bodies a batch holds at once (messages over the size limit count
#: nothing: only their header is fetched).
FETCH_BUDGET = 64 * 1024 * 1024
#: A backlog's filed messages are made durable and moved together, once this many are
#: waiting or this many seconds have passed (and at the end of the backlog): one sync and
#: one MOVE per folder serve several parts.
MOVE_EVERY = 500
MOVE_AFTER = 1.0
#: While the next part is not taken ahead (the worker is still starting), it is asked for
#: again every this many messages.
ASK_AGAIN_EVERY = 10


def split_by_size(uids: Sequence[int], sizes: dict[int, int], budget: int,
                  limit: int) -> list[list[int]]:
    """``uids`` in order, in parts whose sizes add up to at most ``budget`` (one message at least)."""
    parts: list[list[int]] = []
    current: list[int] = []
    held = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        size = 0 if size > limit else size
        if current and held + size > budget:
            parts.append(current)
            current, held = [], 0
        current.append(uid)
        held += size
    if current:
        parts.append(current)
    return parts


def _listed(part: list[int], sizes: dict[int, int]) -> list[tuple[int, int]]:
    return [(u, sizes.get(u, 0)) for u in part]


@dataclass
class _Pending:
    """Filed messages waiting to leave the inbox, by folder, since the last move."""

    moves: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    since: float = field(default_factory=time.monotonic)

    def count(self) -> int:
        return sum(len(v) for v in self.moves.values())

    def due(self) -> bool:
        return self.count() >= MOVE_EVERY or time.monotonic() - self.since >= MOVE_AFTER


class Watcher:
    """The owner thread of the IMAP connection: sync, fetch, hand over, move; reconnect on error."""

    def __init__(self, settings: MailboxSettings, handle: Handler,
                 on_batch: Callable[[int], None] | None = None,
                 connection: MailboxConnection | None = None,
                 before_move: Callable[[], None] | None = None,
                 on_fetched: Callable[[list[FetchedMail]], None] | None = None,
                 fetch_ahead: FetchAhead | None = None,
                 fetched_ahead: Callable[[int, int], bytes | None] | None = None) -> None:
        self.settings = settings
        self.handle = handle
        self.on_fetched = on_fetched or (lambda batch: None)
        self.fetch_ahead: FetchAhead = fetch_ahead or (lambda validity, sizes, fresh: set())
        self.fetched_ahead = fetched_ahead or (lambda validity, uid: None)
        self.before_move = before_move or (lambda: None)
        self.on_batch = on_batch or (lambda n: None)
        self.conn = connection or MailboxConnection(settings)
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.last_error: str | None = None

    def folders(self) -> list[str]:
        s = self.settings
        return [s.processed, s.quarantine, s.ignored]

    def drain(self) -> int:
        """Process everything in the inbox now; returns how many messages were handled.

        The inbox is taken in batches, and a batch of large messages a part at a
        time, so that the bodies held at once stay within FETCH_BUDGET.  When a
        part starts, the next one is asked for ahead (``fetch_ahead``: a worker
        process fetches, stores and reads it on another core while this one is
        filed); what it was not given, or has not brought when its turn comes,
        the watcher fetches itself.  Handled messages are made durable
        (``before_move``) and then moved out of the inbox together, every
        MOVE_EVERY messages or MOVE_AFTER seconds and at the end.
        """
        total = 0
        while not self.stop_event.is_set():
            uidvalidity = self.conn.select_inbox()
            uids = self.conn.pending_uids()
            if not uids:
                return total
            total += self._drain_parts(uidvalidity, uids)
        return total

    def _parts(self, uids: Sequence[int], sizes: dict[int, int]) -> list[list[int]]:
        """Batches of ``batch_size``, each cut in parts that fit FETCH_BUDGET."""
        step = self.settings.batch_size
        return [part for start in range(0, len(uids), step)
                for part in split_by_size(uids[start:start + step], sizes,
                                          FETCH_BUDGET, self.settings.max_message_size)]

    def _drain_parts(self, uidvalidity: int, uids: Sequence[int]) -> int:
        """File ``uids`` part by part, moving what was filed now and then; stops when asked."""
        sizes = self.conn.sizes(uids)
        parts = self._parts(uids, sizes)
        ahead = self.fetch_ahead(uidvalidity, _listed(parts[0], sizes), True)
        pending = _Pending()
        total = 0
        for index, part in enumerate(parts):
            following = _listed(parts[index + 1], sizes) if index + 1 < len(parts) else []
            ahead = self._file_part(uidvalidity, part, following, ahead, sizes, pending.moves)
            last = index + 1 == len(parts) or self.stop_event.is_set()
            if last or pending.due():
                total += pending.count()
                self._settle(pending.moves)
                pending = _Pending()
            if self.stop_event.is_set():
                break
        return total

    def _file_part(self, uidvalidity: int, part: list[int], following: list[tuple[int, int]],
                   ahead: set[int], sizes: dict[int, int], moves: dict[str, list[int]]) -> set[int]:
        """Hand each message of ``part`` over, noting its folder in ``moves``; returns the UIDs
        still asked for ahead."""
        mine = [u for u in part if u not in ahead]
        fetched_here = {f.uid: f for f in self._fetch(mine, sizes)} if mine else {}
        for count, uid in enumerate(part):
            if following and count % ASK_AGAIN_EVERY == 0 and not self.stop_event.is_set():
                # asked when the part starts; asked again while the worker is starting
                given = self.fetch_ahead(uidvalidity, following, False)
                if given:
                    ahead, following = ahead | given, []
            fetched = fetched_here.pop(uid, None) or self._take_ahead(uid, ahead, sizes)
            if fetched is not None:  # None: expunged meanwhile by someone else
                moves[self.handle(fetched)].append(uid)
            del fetched  # the body is not held while the next message is filed
        return ahead - set(part)

    def _settle(self, moves: dict[str, list[int]]) -> None:
        """Make what was filed durable, then move it out of the inbox, by folder."""
        self.before_move()  # what was committed is on disk before the mail leaves
        for folder, done in moves.items():
            self.conn.move(done, folder)
        self.on_batch(sum(len(v) for v in moves.values()))

    def _fetch(self, uids: Sequence[int], sizes: dict[int, int]) -> list[FetchedMail]:
        fetched = self.conn.fetch(uids, sizes)
        self.on_fetched(fetched)
        return fetched

    def _take_ahead(self, uid: int, ahead: set[int], sizes: dict[int, int]) -> FetchedMail | None:
        """A message asked for ahead: the worker's copy, else fetched here."""
        if uid in ahead:
            raw = self.fetched_ahead(self.conn.uidvalidity, uid)
            if raw is not None:
                return FetchedMail(self.conn.uidvalidity, uid, sizes.get(uid, len(raw)), raw, False)
        found = self.conn.fetch([uid], sizes)
        return found[0] if found else None

    def run_once(self) -> int:
        self.conn.connect()
        try:
            self.conn.ensure_folders(self.folders())
            return self.drain()
        finally:
            self.conn.close()

    def loop(self) -> None:
        """Watch until stopped: IDLE for prompt wake-ups, a poll every poll_interval regardless."""
        backoff = 1.0
        while not self.stop_event.is_set():
            try:
                self.conn.connect()
                self.conn.ensure_folders(self.folders())
                backoff = 1.0
                self.last_error = None
                while not self.stop_event.is_set():
                    self.drain()
                    self.conn.wait(min(self.settings.poll_interval, self.settings.idle_renew),
                                   self.stop_event)
            except (TimeoutError, IMAPClientError, OSError, ssl.SSLError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("imap error, reconnecting in %.0fs: %s", backoff, self.last_error)
            except Exception as exc:  # e.g. the database is down: the mail stays in the inbox
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("intake error, retrying in %.0fs", backoff)
            finally:
                self.conn.close()
            self.stop_event.wait(backoff)
            backoff = min(backoff * 2, 60.0)

    def start(self) -> None:
        self.thread = threading.Thread(target=self.loop, name="imap-watcher", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout)


def refile(settings: MailboxSettings, message_id: str, source: str, target: str) -> int:
    """Move the message with ``message_id`` from folder ``source`` to ``target`` (after a replay)."""
    conn = MailboxConnection(settings)
    conn.connect()
    try:
        conn.ensure_folders([target])
        conn.c.select_folder(source)
        uids = [int(u) for u in conn.c.search(["HEADER", "Message-ID", message_id])]
        conn.move(uids, target)
        return len(uids)
    finally:
        conn.close()
