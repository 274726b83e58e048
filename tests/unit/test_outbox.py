"""The dispatcher's retry, backoff and refusal rules against a real SMTP peer on loopback.

The peer is an aiosmtpd server run by each test that answers as told: a 4xx
or 5xx for chosen recipients at RCPT, a 4xx or 5xx after DATA, and a
per-recipient mix (partial refusal).  The outbox lives in a real SQLite file
migrated with Alembic; the dispatcher runs on a clock the test sets, so
backoff is checked without sleeping.  End-to-end failures through Postfix
are in ``tests/integration/test_e2e_outbox.py``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy import select

from mailbot.config import REPO_ROOT, build_settings, with_overrides
from mailbot.mail.smtp import SmtpSender
from mailbot.service.app import App
from mailbot.service.outbox import Dispatcher, DispatchStats
from mailbot.store import repo
from mailbot.store.db import transaction, upgrade
from mailbot.store.tables import OutboxMessage

T0 = datetime(2027, 3, 1, 9, 0)
BASE = 60  # retry_base_seconds
SECRETARIAT = "secretariat@example.test"


@dataclass
class Peer:
    """An aiosmtpd handler that refuses what the test tells it to, and records what it accepts."""

    rcpt: dict[str, str] = field(default_factory=dict)  # address -> reply at RCPT
    rcpt_once: dict[str, str] = field(default_factory=dict)  # the same, for the first try only
    data: dict[str, str] = field(default_factory=dict)  # address -> reply after DATA
    received: list[tuple[list[str], bytes]] = field(default_factory=list)
    connections: int = 0

    async def handle_EHLO(self, server: SMTP, session: SmtpSession, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: SMTP, session: SmtpSession, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        reply = self.rcpt_once.pop(address, None) or self.rcpt.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        for address in envelope.rcpt_tos:
            if address in self.data:
                return self.data[address]
        content = envelope.original_content or b""
        self.received.append((list(envelope.rcpt_tos), content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[bytes]:
        return [raw for rcpts, raw in self.received if address in rcpts]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def peer() -> Iterator[tuple[Peer, int]]:
    handler = Peer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.fixture
def app(tmp_path: Path, peer: tuple[Peer, int]) -> Iterator[App]:
    base = build_settings({}, {}, REPO_ROOT / "config" / "mailbot.toml", check=False)
    settings = with_overrides(
        base,
        database={"url": f"sqlite:///{tmp_path / 'mailbot.db'}"},
        storage={"data_dir": str(tmp_path)},
        smtp={"host": "127.0.0.1", "port": peer[1], "tls": "none", "user": "", "password": "",
              "timeout": 10},
        policy={"retry_base_seconds": BASE, "retry_max_attempts": 3},
        desk={"secretariat_review": SECRETARIAT},
    )
    application = App(settings)
    upgrade(application.engine)
    try:
        yield application
    finally:
        application.close()


def queue(app: App, key: str, *to: str) -> int:
    msg = EmailMessage()
    msg["From"] = "mailbot@example.test"
    msg["To"] = ", ".join(to)
    msg["Subject"] = f"Note {key}"
    msg["Message-ID"] = f"<{key}@mailbot.example.test>"
    msg.set_content("A note verbale.\n")
    values = dict(key=key, kind="circulation", message_id=f"<{key}@mailbot.example.test>",
                  recipients=list(to), subject=f"Note {key}", raw=msg.as_bytes(),
                  status="pending", attempts=0, next_attempt_at=T0, created_at=T0)
    with transaction(app.sessions) as session:
        assert repo.enqueue(session, values)
        assert not repo.enqueue(session, dict(values))  # the same key is queued once
        oid = session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key))
        assert oid is not None  # written before the next statement, in the same transaction
        return oid


def dispatch(app: App, now: datetime) -> DispatchStats:
    dispatcher = Dispatcher(app, SmtpSender(app.settings.smtp), clock=lambda: now)
    return asyncio.run(dispatcher.dispatch(now))


def row(app: App, oid: int) -> dict[str, Any]:
    with app.sessions() as session:
        out = session.get(OutboxMessage, oid)
        assert out is not None
        return {"status": out.status, "attempts": out.attempts, "next": out.next_attempt_at,
                "error": out.last_error or "", "reported": out.reported_at,
                "recipients": {r.address: r.status for r in out.results}}


def test_4xx_backs_off_exponentially_then_fails_and_is_reported_once(
        app: App, peer: tuple[Peer, int]) -> None:
    server, _port = peer
    server.rcpt["busy@example.test"] = "450 4.2.1 Mailbox busy, try later"
    oid = queue(app, "busy", "busy@example.test")

    assert dispatch(app, T0).retried == 1
    first = row(app, oid)
    assert (first["status"], first["attempts"], first["next"]) == ("pending", 1, T0 + timedelta(seconds=BASE))
    assert "450" in first["error"] and first["recipients"] == {"busy@example.test": "pending"}

    assert dispatch(app, T0 + timedelta(seconds=BASE - 1)).retried == 0  # not due yet
    t2 = T0 + timedelta(seconds=BASE)
    dispatch(app, t2)
    assert (row(app, oid)["attempts"], row(app, oid)["next"]) == (2, t2 + timedelta(seconds=2 * BASE))

    dispatch(app, t2 + timedelta(seconds=2 * BASE))
    assert (row(app, oid)["status"], row(app, oid)["attempts"]) == ("failed", 3)  # retry_max_attempts

    dispatcher = Dispatcher(app, SmtpSender(app.settings.smtp), clock=lambda: T0)
    assert dispatcher.report_failures(T0 + timedelta(hours=1)) == 1
    assert dispatcher.report_failures(T0 + timedelta(hours=2)) == 0
    assert row(app, oid)["reported"] == T0 + timedelta(hours=1)
    dispatch(app, T0 + timedelta(hours=1))
    digests = server.to(SECRETARIAT)
    assert len(digests) == 1 and b"busy@example.test" in digests[0]


def test_5xx_after_data_fails_that_row_and_the_batch_goes_on_over_one_connection(
        app: App, peer: tuple[Peer, int]) -> None:
    server, _port = peer
    server.data["spam@example.test"] = "554 5.7.1 Message rejected"
    server.data["later@example.test"] = "451 4.3.0 Temporary local problem"
    refused = queue(app, "refused", "spam@example.test")
    later = queue(app, "later", "later@example.test")
    good = [queue(app, f"good-{i}", f"fp.{i}@example.test") for i in range(3)]

    stats = dispatch(app, T0)
    assert (stats.sent, stats.failed, stats.retried) == (3, 1, 1)
    assert server.connections == 1
    assert row(app, refused)["status"] == "failed" and "554" in row(app, refused)["error"]
    assert row(app, refused)["recipients"] == {"spam@example.test": "pending"}
    assert (row(app, later)["status"], row(app, later)["attempts"]) == ("pending", 1)
    for i, oid in enumerate(good):
        assert row(app, oid)["status"] == "sent"
        assert len(server.to(f"fp.{i}@example.test")) == 1


def test_partial_refusal_delivers_to_the_others_and_tells_the_secretariat(
        app: App, peer: tuple[Peer, int]) -> None:
    server, _port = peer
    server.rcpt["gone@example.test"] = "550 5.1.1 No such user"
    oid = queue(app, "partial", "fp.a@example.test", "gone@example.test")

    stats = dispatch(app, T0)
    assert (stats.sent, stats.refused) == (1, ["gone@example.test"])
    out = row(app, oid)
    assert out["status"] == "sent"
    assert out["recipients"] == {"fp.a@example.test": "sent", "gone@example.test": "refused"}
    assert server.received[0][0] == ["fp.a@example.test"]

    dispatcher = Dispatcher(app, SmtpSender(app.settings.smtp), clock=lambda: T0)
    assert dispatcher.report_failures(T0) == 1
    assert dispatcher.report_failures(T0) == 0
    dispatch(app, T0)
    digest = server.to(SECRETARIAT)
    assert len(digest) == 1
    assert b"gone@example.test" in digest[0] and b"fp.a@example.test" not in digest[0]


def test_recipient_refused_for_now_gets_the_mail_later_and_the_others_only_once(
        app: App, peer: tuple[Peer, int]) -> None:
    server, _port = peer
    server.rcpt_once["full@example.test"] = "452 4.2.2 Mailbox full"
    oid = queue(app, "later", "fp.a@example.test", "full@example.test")

    dispatch(app, T0)
    out = row(app, oid)
    assert (out["status"], out["attempts"]) == ("pending", 1)
    assert out["recipients"] == {"fp.a@example.test": "sent", "full@example.test": "pending"}

    dispatch(app, T0 + timedelta(seconds=BASE))
    out = row(app, oid)
    assert out["status"] == "sent"
    assert out["recipients"] == {"fp.a@example.test": "sent", "full@example.test": "sent"}
    assert [rcpts for rcpts, _raw in server.received] == [["fp.a@example.test"], ["full@example.test"]]


def test_no_server_puts_every_claimed_row_back(app: App, peer: tuple[Peer, int]) -> None:
    oids = [queue(app, f"n{i}", f"fp.{i}@example.test") for i in range(3)]
    down = with_overrides(app.settings, smtp={"port": free_port()})
    dispatcher = Dispatcher(App(down, app.engine), clock=lambda: T0)
    stats = asyncio.run(dispatcher.dispatch(T0))
    assert (stats.sent, stats.retried) == (0, 3)
    for oid in oids:
        out = row(app, oid)
        assert (out["status"], out["attempts"], out["next"]) == ("pending", 1, T0 + timedelta(seconds=BASE))
        assert "connect" in out["error"]
