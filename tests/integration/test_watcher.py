"""The IMAP watcher against the real Dovecot: IDLE wake-ups, polling and COPY fallbacks, reconnects.

The watcher's seam is the connection object it is given: a connection that
hides IDLE and MOVE from the server's capabilities makes it poll and move
with COPY + \\Deleted + UID EXPUNGE, as it must on servers without them.
"""

from __future__ import annotations

import threading
import time
from email.message import EmailMessage

from mailstack.stack import BOT_ADDRESS, MailStack, password_for

from mailbot.config import MailboxSettings
from mailbot.mail.imap import FetchedMail, MailboxConnection, Watcher


def settings(stack: MailStack, **over: object) -> MailboxSettings:
    values: dict[str, object] = dict(host=stack.host, port=stack.imap_port, tls="starttls",
                                     user=BOT_ADDRESS, password=password_for(BOT_ADDRESS),
                                     ca_file=str(stack.ca_file), poll_interval=1, batch_size=3)
    values.update(over)
    return MailboxSettings(**values)  # type: ignore[arg-type]


class PlainServerConnection(MailboxConnection):
    """A connection that pretends the server has neither IDLE nor MOVE."""

    def has(self, capability: str) -> bool:
        return capability not in ("IDLE", "MOVE") and super().has(capability)


def message(i: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "fp.fra@example.test", BOT_ADDRESS, f"m{i}"
    msg["Message-ID"] = f"<watch-{i}@x.example.test>"
    msg.set_content("hello")
    return bytes(msg)


def test_without_idle_and_move_it_polls_and_copies(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    with stack.imap(BOT_ADDRESS) as c:
        for i in range(7):
            c.append("INBOX", message(i))
    seen: list[FetchedMail] = []

    def handle(f: FetchedMail) -> str:
        seen.append(f)
        return "Processed" if f.uid % 2 else "Ignored"

    s = settings(stack)
    watcher = Watcher(s, handle, connection=PlainServerConnection(s))
    assert watcher.run_once() == 7
    counts = stack.folder_counts(BOT_ADDRESS)
    assert counts["INBOX"] == 0 and counts["Processed"] + counts["Ignored"] == 7
    assert sorted(f.uid for f in seen) == [f.uid for f in seen]  # UID order, in batches of 3
    # nothing was marked read by fetching (BODY.PEEK)
    with stack.imap(BOT_ADDRESS) as c:
        c.select_folder("Processed", readonly=True)
        assert all(b"\\Seen" not in flags for flags in c.get_flags(c.search(["ALL"])).values())


def test_idle_wakes_the_watcher_promptly(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    arrived = threading.Event()
    got: list[float] = []

    def handle(f: FetchedMail) -> str:
        got.append(time.monotonic())
        arrived.set()
        return "Processed"

    watcher = Watcher(settings(stack, poll_interval=120), handle)
    watcher.start()
    try:
        time.sleep(1.0)  # the watcher is idling now
        sent = time.monotonic()
        stack.send(message(99), "fp.fra@example.test", [BOT_ADDRESS])
        assert arrived.wait(20), "IDLE did not wake the watcher"
        print(f"delivery to handling: {got[0] - sent:.2f} s (poll interval 120 s)")
    finally:
        watcher.stop()


def test_oversized_messages_are_fetched_header_only(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    big = message(5).replace(b"hello", b"x" * 200_000)
    with stack.imap(BOT_ADDRESS) as c:
        c.append("INBOX", big)
    seen: list[FetchedMail] = []

    def handle(f: FetchedMail) -> str:
        seen.append(f)
        return "Quarantine"

    Watcher(settings(stack, max_message_size=100_000), handle).run_once()
    assert seen[0].oversized and seen[0].size > 200_000 and len(seen[0].raw) < 1_000
    assert b"Message-ID: <watch-5@x.example.test>" in seen[0].raw


def test_reconnects_after_a_refused_login_and_then_works(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    done = threading.Event()

    class FlakyConnection(MailboxConnection):
        attempts = 0

        def connect(self) -> None:
            FlakyConnection.attempts += 1
            if FlakyConnection.attempts == 1:
                raise OSError("connection reset by peer")
            super().connect()

    def handle(f: FetchedMail) -> str:
        done.set()
        return "Processed"

    with stack.imap(BOT_ADDRESS) as c:
        c.append("INBOX", message(1))
    s = settings(stack)
    watcher = Watcher(s, handle, connection=FlakyConnection(s))
    watcher.start()
    try:
        assert done.wait(15), f"no recovery; last error: {watcher.last_error}"
        assert FlakyConnection.attempts >= 2
    finally:
        watcher.stop()
