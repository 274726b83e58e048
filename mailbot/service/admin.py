"""Administration: schema upgrades, loading the State registry and focal points, checks.

``mailbot db upgrade``, ``mailbot states import`` and ``mailbot check`` call
these.  Loading validates everything before it writes anything, and reports
problems with the entry and key that are wrong.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import aiosmtplib
from imapclient.exceptions import IMAPClientError, LoginError

from mailbot.config import Settings
from mailbot.domain.forms import FormCatalog
from mailbot.domain.states import (
    FocalPoint,
    RegistryError,
    SecretariatAddress,
    StateRegistry,
    parse_focal_points,
)
from mailbot.mail.imap import MailboxConnection
from mailbot.mail.smtp import SmtpConnection, TemporaryFailure
from mailbot.service.app import App, read_toml
from mailbot.service.registry import catalog, registry
from mailbot.store import repo
from mailbot.store.db import current_revision, head_revision, transaction, upgrade


class ImportError_(Exception):
    """A data file is wrong; the message lists every problem."""


def db_upgrade(app: App) -> str | None:
    upgrade(app.engine)
    return current_revision(app.engine)


def load_registry(settings: Settings) -> StateRegistry:
    """The State registry of config/states.toml (loaded once), or an error naming the file."""
    try:
        return registry(settings)
    except (OSError, ValueError) as exc:
        raise ImportError_(f"{settings.path(settings.desk.states_file)}: {exc}") from None


def load_catalog(settings: Settings) -> FormCatalog:
    """The forms of config/forms.toml (loaded once), or an error naming the file."""
    try:
        return catalog(settings)
    except (OSError, ValueError) as exc:
        raise ImportError_(f"{settings.path(settings.desk.forms_file)}: {exc}") from None


def load_focal_points(settings: Settings, registry: StateRegistry, focal_file: Path | None = None,
                      ) -> tuple[list[FocalPoint], list[SecretariatAddress]]:
    """The focal-point and Secretariat addresses of a file, validated against the registry."""
    path = focal_file or settings.path(settings.desk.focal_points_file)
    try:
        return parse_focal_points(read_toml(path), registry)
    except FileNotFoundError:
        raise ImportError_(f"{path}: file not found") from None
    except (RegistryError, ValueError) as exc:
        raise ImportError_(f"{path}: {exc}") from None


def import_states(app: App, focal_file: Path | None = None) -> tuple[int, int, int]:
    """Load all States and the focal-point and Secretariat addresses; returns the counts."""
    registry = load_registry(app.settings)
    focal, secretariat = load_focal_points(app.settings, registry, focal_file)
    with transaction(app.sessions) as session:
        n = repo.upsert_states(session, ((s.code, s.name, s.language, s.observer) for s in registry))
        entries: list[tuple[str, str | None, str, str | None]] = [
            (f.address, f.state, "focal_point", f.name) for f in focal]
        entries += [(s.address, None, "secretariat", s.name) for s in secretariat]
        repo.replace_addresses(session, entries)
    return n, len(focal), len(secretariat)


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.name:<9} {self.detail}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc}); check the tls mode and port"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running on that port?)"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    return f"{type(exc).__name__}: {exc}".strip()


def check_imap(settings: Settings) -> CheckResult:
    s = settings.mailbox
    where = f"{s.user} at {s.host}:{s.port} ({s.tls})"
    conn = MailboxConnection(s)
    try:
        conn.connect()
        info = conn.c.select_folder(s.inbox, readonly=True)
        count = int(info.get(b"EXISTS", 0))
        caps = ", ".join(c for c in ("IDLE", "MOVE", "UIDPLUS") if conn.has(c))
        return CheckResult("mailbox", True, f"{where}: {count} in {s.inbox}; {caps or 'no IDLE/MOVE'}")
    except LoginError:
        return CheckResult("mailbox", False, f"{where}: login refused (wrong user or password)")
    except (IMAPClientError, OSError, ssl.SSLError) as exc:
        return CheckResult("mailbox", False, f"{where}: {_reason(exc)}")
    finally:
        conn.close()


def check_smtp(settings: Settings) -> CheckResult:
    s = settings.smtp
    where = f"{s.host}:{s.port} ({s.tls})"

    async def probe() -> str:
        conn = SmtpConnection(s)
        await conn.connect()
        try:
            assert conn.client is not None
            code, _ = await conn.client.noop()
            return f"{where}: ready (NOOP {code})" + (f", logged in as {s.user}" if s.user else "")
        finally:
            await conn.close()

    try:
        return CheckResult("smtp", True, asyncio.run(probe()))
    except TemporaryFailure as exc:
        return CheckResult("smtp", False, f"{where}: {exc}")
    except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
        return CheckResult("smtp", False, f"{where}: {_reason(exc)}")


def check_database(app: App) -> CheckResult:
    url = app.engine.url.render_as_string(hide_password=True)
    try:
        current = current_revision(app.engine)
    except Exception as exc:  # any driver error: report it, do not crash
        return CheckResult("database", False, f"{url}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    head = head_revision()
    if current != head:
        return CheckResult("database", False, f"{url}: schema at {current}, expected {head}; "
                           "run 'mailbot db upgrade'")
    return CheckResult("database", True, f"{url}: schema {current}")


def run_checks(app: App) -> list[CheckResult]:
    results = [CheckResult("config", True, str(app.settings.config_file))]
    results.append(check_imap(app.settings))
    results.append(check_smtp(app.settings))
    results.append(check_database(app))
    return results
