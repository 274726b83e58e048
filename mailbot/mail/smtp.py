"""SMTP adapter: one aiosmtplib connection reused for a batch of outbox rows.

TLS is explicit — ``starttls`` or ``tls`` — never opportunistic: aiosmtplib's
default upgrades only when the server offers STARTTLS, which an attacker can
strip, so we set ``start_tls=True`` or ``use_tls=True`` ourselves.  ``none``
is allowed for loopback only (the settings check enforces it).  A dropped
connection is reopened once per message; 4xx replies and connection errors
are :class:`TemporaryFailure`; a partial refusal of recipients is reported
per recipient in :class:`SendResult`, not as an exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiosmtplib

from mailbot.config import SmtpSettings
from mailbot.mail.tls import tls_context


class TemporaryFailure(Exception):
    """A 4xx reply or a connection problem: try again later."""

    def __init__(self, message: str, connection_lost: bool = False) -> None:
        super().__init__(message)
        self.connection_lost = connection_lost


@dataclass
class SendResult:
    """What the server said about one message."""

    accepted: bool
    response: str = ""
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    error: str = ""
    permanent_failure: bool = False


class SmtpConnection:
    """An open SMTP session; ``send`` reconnects once if the server dropped the connection."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.client: aiosmtplib.SMTP | None = None

    def _new_client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host, port=s.port, timeout=s.timeout,
            use_tls=s.tls == "tls", start_tls=s.tls == "starttls",
            tls_context=tls_context(s.ca_file) if s.tls != "none" else None,
        )

    async def connect(self) -> None:
        self.client = self._new_client()
        try:
            await self.client.connect()
            if self.settings.user:
                await self.client.login(self.settings.user, self.settings.password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"SMTP login refused: {exc.code} {exc.message}") from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"cannot connect to {self.settings.host}:{self.settings.port}: "
                                   f"{exc}", connection_lost=True) from None

    async def close(self) -> None:
        if self.client is not None and self.client.is_connected:
            try:
                await self.client.quit()
            except (aiosmtplib.SMTPException, OSError):
                self.client.close()
        self.client = None

    async def send(self, sender: str, recipients: Sequence[str], raw: bytes) -> SendResult:
        for attempt in (1, 2):
            if self.client is None or not self.client.is_connected:
                await self.connect()
            assert self.client is not None
            try:
                refused, response = await self.client.sendmail(sender, list(recipients), raw)
            except aiosmtplib.SMTPServerDisconnected as exc:
                self.client = None
                if attempt == 2:
                    raise TemporaryFailure(f"server disconnected: {exc}", connection_lost=True) from None
                continue
            except aiosmtplib.SMTPRecipientsRefused as exc:
                per = {r.recipient: (r.code, r.message) for r in exc.recipients}
                permanent = all(code >= 500 for code, _ in per.values())
                return SendResult(False, refused=per, permanent_failure=permanent,
                                  error="all recipients refused: " + "; ".join(
                                      f"{a} {c} {m}" for a, (c, m) in per.items()))
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:
                    return SendResult(False, error=f"{exc.code} {exc.message}", permanent_failure=True)
                raise TemporaryFailure(f"{exc.code} {exc.message}") from None
            except (aiosmtplib.SMTPException, OSError) as exc:
                self.client = None
                raise TemporaryFailure(f"{type(exc).__name__}: {exc}", connection_lost=True) from None
            return SendResult(True, response=str(response),
                              refused={a: (int(c), str(m)) for a, (c, m) in refused.items()})
        raise AssertionError("unreachable")


class SmtpSender:
    """Opens one connection per batch; a seam for tests is the settings it is given."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings

    @asynccontextmanager
    async def session(self) -> AsyncIterator[SmtpConnection]:
        conn = SmtpConnection(self.settings)
        await conn.connect()
        try:
            yield conn
        finally:
            await conn.close()
