"""Embedded IMAP and SMTP servers: the mail system behind ``mailbot demo``.

``mailbot demo`` has to work on a machine with no mail server installed, so
this module runs both ends of the wire in-process, on loopback:

* IMAP: pymap's maildir backend, one maildir per user under ``data_dir``,
  so mail survives a restart (``reset()`` wipes it).  IDLE, UID commands,
  MOVE and CREATE behave as the desk expects from Dovecot.
* SMTP: an aiosmtpd server on the same event loop.  It accepts mail for the
  known users of ``domain`` (``user+tag@domain`` reaches ``user@domain``),
  answers ``550 5.1.1`` for unknown local users and refuses every other
  domain with ``550 5.7.1`` (it never relays).  AUTH PLAIN/LOGIN is offered
  and optional.  Each accepted message is appended to each recipient's INBOX
  through pymap's own session API, with the ``Return-Path``,
  ``Delivered-To`` and ``Received`` headers a real MTA adds, before the
  ``250`` reply: once the sender has its ``250`` the mail is in the inbox.

The desk service then talks to these servers exactly as it talks to Dovecot
and Postfix.  Use :meth:`EmbeddedMailServer.start` / :meth:`~EmbeddedMailServer.stop`
from synchronous code (the servers run in a daemon thread with their own
event loop), or :meth:`~EmbeddedMailServer.start_async` /
:meth:`~EmbeddedMailServer.stop_async` / :meth:`~EmbeddedMailServer.serve`
inside a running loop.  Nothing here prints.

IMAP is plain text (loopback only) unless a certificate is given, in which
case both servers also offer STARTTLS.  Mail delivered here wakes the
recipient's IDLE sessions at once; any other change (a MOVE by another
client) reaches an idling client within a second, when pymap's maildir
backend re-reads the mailbox.

The pymap adjustments live in ``mail.embedded_imap``, the aiosmtpd hooks in
``mail.embedded_smtp``; this module runs them together.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hmac
import shutil
import ssl
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.maildir.users import PasswordsFile, UsersFile
from pymap.concurrent import Subsystem
from pymap.context import subsystem as pymap_subsystem
from pymap.imap import IMAPServer
from pymap.parsing.message import AppendMessage
from pymap.parsing.specials import ExtensionOptions
from pysasl.hashing import BuiltinHash
from pysasl.prep import saslprep

from mailbot.mail.embedded_imap import (
    SERVER_NAME,
    DeskIdentity,
    DeskLogin,
    NewMail,
    QuietConfig,
    pymap_args,
)
from mailbot.mail.embedded_smtp import SMTPHandler, TrackedSMTP

__all__ = ["ConnectionInfo", "DeliveryError", "EmbeddedMailServer"]

_MAIL_DIR: Final = "mail"  # data_dir/mail/<address>/ is one user's maildir
_LOCK_FILE: Final = ".embedded-mail.lock"  # held while a server uses data_dir
_PYMAP_FILES: Final = ("pymap-etc-passwd", "pymap-etc-shadow", "pymap-etc-group", "pymap-tokens")
# Demo accounts on loopback, not real secrets; every LOGIN re-runs the hash,
# so it is kept cheap (pymap's default is 500 000 rounds, ~0.3 s per login).
_HASH_ROUNDS: Final = 1000


@dataclass(frozen=True)
class ConnectionInfo:
    """Where the running servers listen, and the accounts they know."""

    host: str
    imap_port: int
    smtp_port: int
    users: Mapping[str, str]  # address -> password (also the IMAP login name)


class DeliveryError(Exception):
    """A message could not be put into a local mailbox."""


class EmbeddedMailServer:
    """An IMAP server (pymap, maildir) and an SMTP server (aiosmtpd) delivering into it.

    ``imap_port`` / ``smtp_port`` may be 0 to let the system pick free ports;
    the ports actually bound are in the :class:`ConnectionInfo` that the
    start methods return.  Users are full addresses of ``domain``; the
    address is also the IMAP login name.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = "127.0.0.1",
        imap_port: int = 0,
        smtp_port: int = 0,
        users: Mapping[str, str],
        domain: str = "example.test",
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.domain = domain.lower()
        self._imap_port = imap_port
        self._smtp_port = smtp_port
        self._users = {address.lower(): password for address, password in users.items()}
        for address in self._users:
            local, at, user_domain = address.partition("@")
            if not local or not at or user_domain != self.domain or "+" in local:
                raise ValueError(f"user {address!r} is not a plain address of {self.domain}")
        self._tls_cert = tls_cert
        self._tls_key = tls_key
        self._config: QuietConfig | None = None
        self._login: DeskLogin | None = None
        self._cpu_pool: ThreadPoolExecutor | None = None
        self._servers: list[asyncio.Server] = []
        self._imap_tasks: set[asyncio.Task[Any]] = set()
        self._smtp_protocols: set[SMTP] = set()
        self._lock_fp: IO[str] | None = None
        self._info: ConnectionInfo | None = None
        # sync mode: the loop running in the daemon thread
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    # -- public API -------------------------------------------------------

    @property
    def info(self) -> ConnectionInfo:
        """The connection info of the running servers."""
        if self._info is None:
            raise RuntimeError("the embedded mail servers are not running")
        return self._info

    @property
    def running(self) -> bool:
        return self._info is not None

    def local_user(self, address: str) -> str | None:
        """The known user that *address* delivers to (``user+tag@domain`` -> ``user@domain``)."""
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower() != self.domain:
            return None
        base = local.split("+", 1)[0].lower()
        candidate = f"{base}@{self.domain}"
        return candidate if candidate in self._users else None

    def maildir(self, address: str) -> Path:
        """The maildir of a user (INBOX at its root, folders as ``.Name``)."""
        return self.data_dir / _MAIL_DIR / address.lower()

    async def start_async(self) -> ConnectionInfo:
        """Start both servers on the running event loop; return where they listen."""
        if self._info is not None:
            raise RuntimeError("the embedded mail servers are already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_data_dir()
        try:
            self._clear_stale_locks()
            config = self._build_config()
            await self._write_users(config)
            self._config = config
            self._login = DeskLogin(config, NewMail())
            imap_port = await self._start_imap(config)
            smtp_port = await self._start_smtp()
        except BaseException:
            await self._close_servers()
            self._release_data_dir()
            raise
        self._info = ConnectionInfo(self.host, imap_port, smtp_port, dict(self._users))
        return self._info

    async def stop_async(self) -> None:
        """Stop listening, close every client connection, release the data directory."""
        if self._info is None:
            return
        self._info = None
        await self._close_servers()
        self._release_data_dir()

    async def serve(self, on_ready: Callable[[ConnectionInfo], None] | None = None) -> None:
        """Run the servers on the running loop until this task is cancelled.

        *on_ready* is called with the connection info once both servers listen.
        """
        info = await self.start_async()
        try:
            if on_ready is not None:
                on_ready(info)
            await asyncio.Event().wait()
        finally:
            await self.stop_async()

    def start(self, timeout: float = 30.0) -> ConnectionInfo:
        """Start both servers in a daemon thread with its own event loop."""
        if self._thread is not None:
            raise RuntimeError("the embedded mail servers are already running")
        started: threading.Event = threading.Event()
        outcome: list[ConnectionInfo | BaseException] = []
        thread = threading.Thread(
            target=self._thread_main, args=(started, outcome), name=SERVER_NAME, daemon=True
        )
        thread.start()
        if not started.wait(timeout):
            raise TimeoutError("the embedded mail servers did not start in time")
        result = outcome[0]
        if isinstance(result, BaseException):
            thread.join(timeout)
            raise result
        self._thread = thread
        return result

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the servers started by :meth:`start` and wait for the thread to end."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None or loop is None or stop_event is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout)
        self._thread = None

    def deliver_sync(self, address: str, raw: bytes, timeout: float = 30.0) -> int:
        """:meth:`deliver` from another thread, for servers started with :meth:`start`."""
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("deliver_sync needs servers started with start()")
        future = asyncio.run_coroutine_threadsafe(self.deliver(address, raw), loop)
        return future.result(timeout)

    async def deliver(self, address: str, raw: bytes, mailbox: str = "INBOX") -> int:
        """Append *raw* to a user's mailbox as new mail; return its UID there.

        The SMTP server delivers through this; it also seeds a mailbox
        directly (no trace headers are added here).
        """
        login, config = self._login, self._config
        user = self.local_user(address)
        if login is None or config is None:
            raise RuntimeError("the embedded mail servers are not running")
        if user is None:
            raise DeliveryError(f"no such user: {address}")
        identity = DeskIdentity(config, login, user, frozenset())
        message = AppendMessage(raw, datetime.now(UTC), frozenset(), ExtensionOptions.empty())
        async with identity.new_session() as session:
            try:
                append_uid, _ = await session.append_messages(mailbox, [message])
            finally:
                session.close()
        login.new_mail.announce(user)
        return int(next(iter(append_uid.uids)))

    def reset(self) -> None:
        """Delete every mailbox and account file under ``data_dir`` (servers must be stopped)."""
        if self._info is not None or self._thread is not None:
            raise RuntimeError("stop the embedded mail servers before reset()")
        shutil.rmtree(self.data_dir / _MAIL_DIR, ignore_errors=True)
        for name in _PYMAP_FILES:
            for suffix in ("", ".lock"):
                with contextlib.suppress(FileNotFoundError):
                    (self.data_dir / (name + suffix)).unlink()

    def __enter__(self) -> ConnectionInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- set-up -----------------------------------------------------------

    def _acquire_data_dir(self) -> None:
        """Hold an exclusive lock on data_dir: two servers on one maildir tree corrupt it."""
        fp = (self.data_dir / _LOCK_FILE).open("a")
        try:
            fcntl.flock(fp, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fp.close()
            raise RuntimeError(f"{self.data_dir} is in use by another mail server") from None
        self._lock_fp = fp

    def _release_data_dir(self) -> None:
        if self._lock_fp is not None:
            self._lock_fp.close()  # closing releases the flock
            self._lock_fp = None

    def _clear_stale_locks(self) -> None:
        """Remove lock files left by a process that died while writing (we hold data_dir)."""
        for lock in self.data_dir.glob("pymap-*.lock"):
            lock.unlink(missing_ok=True)
        mail_root = self.data_dir / _MAIL_DIR
        if mail_root.is_dir():
            for lock in mail_root.rglob("dovecot-uidlist.lock"):
                lock.unlink(missing_ok=True)

    def _build_config(self) -> QuietConfig:
        self._cpu_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=SERVER_NAME)
        tls = self._tls_context()
        config = QuietConfig(
            pymap_args(),
            host=self.host,
            port=self._imap_port,
            base_dir=str(self.data_dir),
            layout="++",
            colon=None,
            subsystem=Subsystem.for_asyncio(),
            cpu_subsystem=Subsystem.for_threading(self._cpu_pool),
            hash_context=BuiltinHash(rounds=_HASH_ROUNDS),
            ssl_context=tls,
            tls_enabled=tls is not None,
            invalid_user_sleep=0.1,
            reject_dnsbl=False,
        )
        return config

    def _tls_context(self) -> ssl.SSLContext | None:
        if self._tls_cert is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(self._tls_cert), str(self._tls_key) if self._tls_key else None)
        return context

    async def _write_users(self, config: QuietConfig) -> None:
        """Make pymap's users and passwords files say exactly what ``users`` says."""
        base = str(self.data_dir)
        hasher = config.hash_context
        async with (
            UsersFile.with_write(base) as users_file,
            PasswordsFile.with_write(base) as passwords_file,
        ):
            for record in list(users_file.get_all()):
                if record.name not in self._users:
                    users_file.remove(record.name)
            for secret in list(passwords_file.get_all()):
                if secret.name not in self._users:
                    passwords_file.remove(secret.name)
            for address, password in self._users.items():
                users_file.set(users_file.build_record(address, f"{_MAIL_DIR}/{address}"))
                if passwords_file.has(address):
                    stored = passwords_file.get(address).password
                    if hasher.verify(saslprep(password), stored):
                        continue
                hashed = hasher.hash(saslprep(password))
                passwords_file.set(passwords_file.build_record(address, hashed))
        (self.data_dir / _MAIL_DIR).mkdir(exist_ok=True)
        for address in self._users:
            self.maildir(address).parent.mkdir(parents=True, exist_ok=True)

    async def _start_imap(self, config: QuietConfig) -> int:
        assert self._login is not None
        imap_server = IMAPServer(self._login, config)
        tasks = self._imap_tasks

        async def tracked(reader: Any, writer: Any, sock_info: Any) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await imap_server(reader, writer, sock_info)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass  # a client that vanished mid-command
            finally:
                tasks.discard(task)

        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(tracked)
        token = pymap_subsystem.set(config.subsystem)  # connections inherit this context
        try:
            server = await asyncio.start_server(callback, host=self.host, port=self._imap_port)
        finally:
            pymap_subsystem.reset(token)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _start_smtp(self) -> int:
        handler = SMTPHandler(self)
        tls = self._tls_context()
        loop = asyncio.get_running_loop()
        protocols = self._smtp_protocols

        def factory() -> SMTP:
            smtp = TrackedSMTP(
                protocols,
                handler,
                hostname=self.domain,
                ident=SERVER_NAME,
                tls_context=tls,
                auth_required=False,
                auth_require_tls=False,
                authenticator=self._authenticate_smtp,
                enable_SMTPUTF8=True,
                loop=loop,
            )
            return smtp

        server = await loop.create_server(factory, host=self.host, port=self._smtp_port)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    def _authenticate_smtp(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace").lower()
        expected = self._users.get(login)
        if expected is None or not hmac.compare_digest(expected.encode(), auth_data.password):
            return AuthResult(success=False, handled=False)  # aiosmtpd answers 535
        return AuthResult(success=True, auth_data=login)

    async def _close_servers(self) -> None:
        for server in self._servers:
            server.close()
        for smtp in list(self._smtp_protocols):
            if smtp.transport is not None:
                smtp.transport.close()
        tasks = list(self._imap_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self._smtp_protocols.clear()
        # let aiosmtpd's connection handlers see their transports closed
        await asyncio.sleep(0)
        if self._cpu_pool is not None:
            self._cpu_pool.shutdown(wait=False, cancel_futures=True)
            self._cpu_pool = None
        self._login = None
        self._config = None

    # -- sync mode --------------------------------------------------------

    def _thread_main(
        self, started: threading.Event, outcome: list[ConnectionInfo | BaseException]
    ) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run_in_thread(started, outcome))
        finally:
            _cancel_leftovers(loop)
            loop.close()
            self._loop = None
            self._stop_event = None

    async def _run_in_thread(
        self, started: threading.Event, outcome: list[ConnectionInfo | BaseException]
    ) -> None:
        self._stop_event = asyncio.Event()
        try:
            info = await self.start_async()
        except BaseException as exc:
            outcome.append(exc)
            started.set()
            return
        outcome.append(info)
        started.set()
        try:
            await self._stop_event.wait()
        finally:
            await self.stop_async()



def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel and reap tasks still pending so the loop closes without warnings."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
