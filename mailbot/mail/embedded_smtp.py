"""The SMTP half of the embedded mail servers (``mail.embedded``): aiosmtpd hooks that accept
mail for local users only and deliver it into their IMAP inbox.

Place in the flow: only ``mailbot demo`` runs it, through
:class:`mailbot.mail.embedded.EmbeddedMailServer`, which gives the handler
its users and its delivery (:class:`LocalDelivery`).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Protocol

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailbot.mail.embedded_imap import SERVER_NAME


class LocalDelivery(Protocol):
    """What the SMTP handler needs of the server: its domain, its users and a delivery."""

    domain: str

    def local_user(self, address: str) -> str | None: ...

    async def deliver(self, user: str, raw: bytes) -> Any: ...


class SMTPHandler:
    """aiosmtpd hooks: accept local recipients, deliver each message into their INBOX."""

    def __init__(self, server: LocalDelivery) -> None:
        self._server = server

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        local = self._server.local_user(address)
        if local is None:
            _, _, domain = address.rpartition("@")
            if domain.lower() != self._server.domain:
                return "550 5.7.1 Relaying denied: this server delivers only to " + (
                    self._server.domain
                )
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content
        if content is None:  # pragma: no cover - aiosmtpd always sets it
            return "451 4.3.0 No message content"
        queue_id = uuid.uuid4().hex[:12].upper()
        protocol = "ESMTP" if session.extended_smtp else "SMTP"
        if session.ssl is not None:
            protocol += "S"
        if session.authenticated:
            protocol += "A"
        peer_ip = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        try:
            for rcpt in envelope.rcpt_tos:
                trace = trace_headers(
                    mail_from=envelope.mail_from or "",
                    rcpt=rcpt,
                    helo=session.host_name or "unknown",
                    peer_ip=peer_ip,
                    by=self._server.domain,
                    protocol=protocol,
                    queue_id=queue_id,
                    now=datetime.now(UTC),
                )
                user = self._server.local_user(rcpt)
                assert user is not None  # checked at RCPT time
                await self._server.deliver(user, trace + content)
        except Exception as exc:  # a failed append is a temporary failure
            return f"451 4.3.0 Delivery failed: {type(exc).__name__}"
        return f"250 2.0.0 OK: delivered as {queue_id}"


def trace_headers(
    *,
    mail_from: str,
    rcpt: str,
    helo: str,
    peer_ip: str,
    by: str,
    protocol: str,
    queue_id: str,
    now: datetime,
) -> bytes:
    """The headers a delivering MTA prepends: Return-Path, Delivered-To, Received."""
    lines = [
        f"Return-Path: <{mail_from}>",
        f"Delivered-To: {rcpt}",
        f"Received: from {helo} ([{peer_ip}])",
        f"\tby {by} ({SERVER_NAME}) with {protocol} id {queue_id}",
        f"\tfor <{rcpt}>; {format_datetime(now)}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


class TrackedSMTP(SMTP):
    """aiosmtpd's protocol, registered in a set while connected so stop() can close it."""

    def __init__(self, registry: set[SMTP], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._registry = registry

    def _create_session(self) -> Session:
        return QuietSession(self.loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._registry.add(self)
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        super().connection_lost(exc)


class QuietSession(Session):
    """aiosmtpd's session without its deprecation warning on every successful AUTH.

    aiosmtpd 1.4 itself sets the deprecated ``login_data`` after an
    authenticator accepts a login, and logs a warning each time it does.
    """

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value

