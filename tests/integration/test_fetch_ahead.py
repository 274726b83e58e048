"""Fetch-ahead: the parse-ahead worker fetches the next part of a backlog itself, from the real Dovecot.

The worker (``python -m mailbot.service.prepare``, as in production) opens its
own read-only IMAP connection; what it brings must be byte for byte what the
watcher would fetch, read as the service would read it, with nothing marked
read.  When it cannot bring a message (it cannot log in, the mailbox was
renumbered), the watcher fetches that message itself and nothing is lost.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from desk import Desk
from mailstack.stack import BOT_ADDRESS

from mailbot.config import REPO_ROOT, Settings, load_settings
from mailbot.mail.imap import FetchedMail, MailboxConnection, Watcher
from mailbot.mail.parse import parse_message
from mailbot.service.app import App
from mailbot.service.intake import Intake
from mailbot.service.prepare import Preparer

FORMS = sorted((REPO_ROOT / "tests" / "fixtures" / "forms").glob("*.eml"))[:12]


@pytest.fixture
def loaded(desk: Desk) -> Iterator[tuple[Settings, App, list[bytes]]]:
    """The desk with a dozen form fixtures in its inbox, and its application."""
    raws = [p.read_bytes() for p in FORMS]
    with desk.stack.imap(BOT_ADDRESS) as c:
        for raw in raws:
            c.append("INBOX", raw)
    settings = load_settings(desk.config, desk.env)
    app = App(settings)
    try:
        yield settings, app, raws
    finally:
        app.close()


def preparer(settings: Settings) -> Preparer:
    return Preparer(settings.path(settings.desk.forms_file), settings.blob_dir)


def wait_idle(worker: Preparer) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with worker._lock:
            if not worker._chunks:
                return
        time.sleep(0.01)
    raise AssertionError("the worker did not answer")


def inbox(settings: Settings) -> tuple[MailboxConnection, list[int], dict[int, int]]:
    conn = MailboxConnection(settings.mailbox)
    conn.connect()
    conn.select_inbox()
    uids = conn.pending_uids()
    return conn, uids, conn.sizes(uids)


def test_the_worker_brings_and_reads_what_the_watcher_would_fetch(
        loaded: tuple[Settings, App, list[bytes]]) -> None:
    settings, app, raws = loaded
    conn, uids, sizes = inbox(settings)
    try:
        here = {f.uid: f.raw for f in conn.fetch(uids, sizes)}
        with app.sessions() as session:
            context = Intake(app).mail_context(session)
        worker = preparer(settings)
        worker.start()
        assert worker._ready.wait(30)  # a worker still starting is not asked to fetch
        try:
            given = worker.fetch_ahead(settings.mailbox, conn.uidvalidity,
                                       [(u, sizes[u]) for u in uids], context, fresh=True)
            assert given == set(uids) and len(uids) == len(raws)
            wait_idle(worker)
            for uid in uids:
                raw = worker.fetched(conn.uidvalidity, uid)
                assert raw == here[uid]  # byte for byte what the watcher fetches
                result = worker.take(conn.uidvalidity, uid)
                assert result is not None and result.mail == parse_message(raw)
                assert result.digest == hashlib.sha256(raw).hexdigest()
                assert app.blobs.get(result.digest) == raw  # stored by the worker
            assert worker.used == len(uids) and worker.missed == 0
        finally:
            worker.close()
        # the worker only examined the inbox: nothing moved, nothing marked read
        conn.select_inbox()
        assert conn.pending_uids() == uids
        flags = conn.c.get_flags(uids)
        assert all(b"\\Seen" not in f for f in flags.values())
    finally:
        conn.close()


@pytest.mark.parametrize("trouble", ["wrong password", "renumbered mailbox"])
def test_what_the_worker_cannot_bring_the_watcher_fetches_itself(
        loaded: tuple[Settings, App, list[bytes]], trouble: str, tmp_path: Path) -> None:
    settings, app, raws = loaded
    with app.sessions() as session:
        context = Intake(app).mail_context(session)
    worker = preparer(settings)
    worker.start()
    assert worker._ready.wait(30)
    asked_for = 0
    brought = 0

    def fetch_ahead(validity: int, sizes: list[tuple[int, int]], fresh: bool) -> set[int]:
        nonlocal asked_for
        mailbox = settings.mailbox
        if trouble == "wrong password":
            mailbox = type(mailbox)(**{**vars(mailbox), "password": "not-the-password"})
        else:
            validity += 1  # the worker finds another UIDVALIDITY than the one asked for
        given = worker.fetch_ahead(mailbox, validity, sizes, context, fresh)
        asked_for += len(given)
        wait_idle(worker)  # its answers (all empty) are back before the watcher looks
        return {u for u, _ in sizes} & given

    def fetched_ahead(validity: int, uid: int) -> bytes | None:
        nonlocal brought
        raw = worker.fetched(validity, uid)
        brought += raw is not None
        return raw

    seen: list[FetchedMail] = []

    def handle(f: FetchedMail) -> str:
        seen.append(f)
        return "Processed"

    watcher = Watcher(settings.mailbox, handle, fetch_ahead=fetch_ahead, fetched_ahead=fetched_ahead)
    try:
        assert watcher.run_once() == len(raws)
    finally:
        worker.close()
    assert asked_for >= 4 and brought == 0
    # every message, fetched by the watcher (the server stores lines ending in CRLF)
    assert sorted(f.raw.replace(b"\r\n", b"\n") for f in seen) == sorted(
        r.replace(b"\r\n", b"\n") for r in raws)
    counts = folder_counts(settings)
    assert counts["INBOX"] == 0 and counts["Processed"] == len(raws)


def folder_counts(settings: Settings) -> dict[str, int]:
    conn = MailboxConnection(settings.mailbox)
    conn.connect()
    try:
        out = {}
        for folder in ("INBOX", "Processed"):
            info = conn.c.select_folder(folder, readonly=True)
            out[folder] = int(info[b"EXISTS"])
        return out
    finally:
        conn.close()


def test_a_connection_dropped_while_idle_is_opened_again_at_once(
        loaded: tuple[Settings, App, list[bytes]]) -> None:
    from mailbot.service.fetchahead import FetchRequest, _Fetcher

    settings, _app, _raws = loaded
    conn, uids, _sizes = inbox(settings)
    conn.close()
    fetcher = _Fetcher()
    request = FetchRequest(settings.mailbox, conn.uidvalidity, tuple(uids[:3]))
    try:
        first = fetcher.fetch(request)
        assert all(first) and len(first) == 3
        assert fetcher.conn is not None
        fetcher.conn.c.shutdown()  # as a server's idle timeout would leave it
        again = fetcher.fetch(request)
        assert again == first  # on a new connection, without resting
        assert fetcher.resting_until == 0.0
        wrong = FetchRequest(settings.mailbox, conn.uidvalidity + 1, tuple(uids[:3]))
        assert fetcher.fetch(wrong) == [None, None, None]  # another mailbox generation
        assert fetcher.fetch(request) == first  # examined again, the right one
    finally:
        fetcher.disconnect()
