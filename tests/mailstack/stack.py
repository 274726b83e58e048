"""A real mail stack on loopback for the integration tests: Dovecot and Postfix.

Place in the project: test infrastructure. ``tests/conftest.py`` starts one
:class:`MailStack` per pytest session (fixture ``mailstack``); the end-to-end
tests send mail to the bot through its Postfix and read the results from the
recipients' Dovecot mailboxes; the benchmarks in ``bench/`` import it too.

The stack is a Dovecot instance (IMAP with STARTTLS, IMAPS, LMTP) and a Postfix
instance (SMTP with STARTTLS, SMTPS) that delivers the ``example.test`` domain
into Dovecot over LMTP. Both run from their own configuration in a temporary
root directory, rendered from the templates beside this file, and never read
``/etc/dovecot`` or ``/etc/postfix``. Nothing leaves the machine: mail for any
other domain is discarded by Postfix.

Needs root (Postfix's master and Dovecot drop privileges themselves). When the
servers are missing, :meth:`MailStack.start` installs the Debian packages.

It also runs by hand::

    python tests/mailstack/stack.py start     # prints the root directory
    python tests/mailstack/stack.py stop ROOT
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import email.utils
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

try:  # imported as the package mailstack (tests/ on the path), or run as a script
    from mailstack import verifier
except ImportError:  # pragma: no cover
    import verifier  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
DEFAULT_STATES_FILE = PROJECT_ROOT / "config" / "states.toml"

DOMAIN = "example.test"
BOT_ADDRESS = f"mailbot@{DOMAIN}"
OFFICER_ADDRESS = f"officer@{DOMAIN}"
SECRETARIAT_ADDRESS = f"secretariat@{DOMAIN}"
#: Accepted by Postfix, unknown to Dovecot: its LMTP delivery fails with 550 and
#: Postfix returns a bounce (DSN) to the sender.
UNDELIVERABLE_ADDRESS = f"undeliverable@{DOMAIN}"
#: Any address in this domain is accepted by Postfix, then failed by its pipe
#: delivery agent (a command exiting EX_NOUSER), and bounced (status 5.1.1).
BOUNCE_DOMAIN = f"bounce.{DOMAIN}"
#: Folders the bot files mail into; Dovecot creates them for every user.
BOT_FOLDERS = ("Processed", "Quarantine", "Ignored")

#: Used when config/states.toml is missing or unreadable.
FALLBACK_STATE_CODES = (
    "FRA", "DEU", "BRA", "JPN", "KEN", "MEX", "CAN", "IND", "ESP", "SEN", "ARG", "EGY",
)  # fmt: skip

DEFAULT_PORTS = {"imap": 14143, "imaps": 14993, "lmtp": 14024, "smtp": 10025, "smtps": 10465}
PACKAGES = ("dovecot-imapd", "dovecot-lmtpd", "postfix", *verifier.PACKAGES)
BINARIES = ("dovecot", "doveadm", "postfix", "postsuper", "openssl", *verifier.BINARIES)
MAIL_USER = "mailtest"
LOCALHOST = "127.0.0.1"
_SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_STATE_CODE = re.compile(r"^[A-Za-z0-9-]{2,16}$")


class MailStackError(RuntimeError):
    """The mail stack could not be installed, started, stopped or used."""


def password_for(address: str) -> str:
    """Return the password of a stack user: ``pw-`` followed by the local part."""
    return "pw-" + address.partition("@")[0]


def focal_point_address(state_code: str) -> str:
    """Return the focal point address of a State, e.g. ``fp.fra@example.test``."""
    return f"fp.{state_code.lower()}@{DOMAIN}"


def load_state_codes(states_file: Path = DEFAULT_STATES_FILE) -> list[str]:
    """Read the State codes (``[[state]]`` tables, key ``code``) from ``states.toml``.

    Falls back to :data:`FALLBACK_STATE_CODES` when the file is missing,
    unreadable or lists no usable code.
    """
    try:
        data = tomllib.loads(states_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return list(FALLBACK_STATE_CODES)
    tables = data.get("state")
    codes: list[str] = []
    if isinstance(tables, list):
        for table in tables:
            code = table.get("code") if isinstance(table, dict) else None
            if isinstance(code, str) and _STATE_CODE.match(code) and code.upper() not in codes:
                codes.append(code.upper())
    return codes or list(FALLBACK_STATE_CODES)


def stack_users(state_codes: Sequence[str]) -> dict[str, str]:
    """Return every stack user (address -> password) for the given State codes."""
    addresses = [BOT_ADDRESS, OFFICER_ADDRESS, SECRETARIAT_ADDRESS]
    addresses += [focal_point_address(code) for code in state_codes]
    return {address: password_for(address) for address in addresses}


def _port_from_env(name: str) -> int:
    raw = os.environ.get(f"MAILSTACK_{name.upper()}_PORT")
    if raw is None or not raw.strip():
        return DEFAULT_PORTS[name]
    try:
        port = int(raw)
    except ValueError:
        raise MailStackError(f"MAILSTACK_{name.upper()}_PORT={raw!r} is not a port") from None
    if not 0 < port < 65536:
        raise MailStackError(f"MAILSTACK_{name.upper()}_PORT={raw!r} is out of range")
    return port


def _which(binary: str) -> str | None:
    path = os.environ.get("PATH", "") + os.pathsep + _SYSTEM_PATH
    return shutil.which(binary, path=path)


def _port_is_free(port: int) -> bool:
    """True when a listener could bind the port (as the servers do, with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def _process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # a zombie nobody reaps (e.g. in a container without init) counts as gone
    return stat.rpartition(")")[2].split()[0] != "Z"


def _signal_server(pid: int, signum: int) -> None:
    """Signal a server's master and, when it leads its own process group, its children.

    Signalling Dovecot's children together with its master takes its shutdown
    from about 1.1 s (the master waits for them) to about 0.1 s.
    """
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)


def _is_server(pid: int) -> bool:
    """True when the pid is still a Dovecot or Postfix master (not a reused pid)."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return name in ("dovecot", "master")


def _greets(host: str, port: int, greeting: bytes) -> bool:
    """True when a server accepts a connection on the port and greets as expected."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            return conn.recv(64).startswith(greeting)
    except OSError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class MailStack:
    """Dovecot (IMAP, IMAPS, LMTP) and Postfix (SMTP, SMTPS) on 127.0.0.1.

    Attributes:
        host: always ``"127.0.0.1"``; the server certificate names it and ``localhost``.
        imap_port: IMAP with STARTTLS (default 14143, env ``MAILSTACK_IMAP_PORT``).
        imaps_port: IMAP over TLS (default 14993, env ``MAILSTACK_IMAPS_PORT``).
        lmtp_port: Dovecot LMTP, plain (default 14024, env ``MAILSTACK_LMTP_PORT``).
        smtp_port: Postfix SMTP offering STARTTLS (default 10025, env ``MAILSTACK_SMTP_PORT``).
        smtps_port: Postfix SMTP over TLS (default 10465, env ``MAILSTACK_SMTPS_PORT``).
        root: the stack's directory (a ``mkdtemp()`` under /tmp, mode 0755 so the
            mail user can traverse it); removed by :meth:`stop`.
        ca_file: PEM of the throwaway CA that signed the servers' certificate.
        state_codes: the State codes the focal point users were made for.
        users: every mailbox, address -> password.

    Users, all ``@example.test``, password ``pw-<local part>`` (:func:`password_for`):
    ``mailbot`` (the bot's Secretariat mailbox, password ``pw-mailbot``),
    ``officer`` (a Secretariat officer), ``secretariat`` (the Secretariat's review
    address) and ``fp.<iso3>`` for every State in ``config/states.toml``
    (e.g. ``fp.fra@example.test`` / ``pw-fp.fra``; a built-in list of 12 States
    when the file is missing or unreadable). The users file is written at start.

    Mail routing (Postfix): ``example.test`` users only, anyone else there is
    refused with 550 at RCPT time; ``user+token@example.test`` reaches ``user``;
    clients on 127.0.0.0/8 may relay, and SMTP AUTH (after STARTTLS) with a
    user's password is offered too; mail for any other domain is discarded, so
    even a misbehaving bot cannot send real mail. Two addresses produce bounces:
    ``undeliverable@example.test`` (accepted, then refused by Dovecot's LMTP) and
    anything ``@bounce.example.test`` (accepted, then failed by Postfix itself);
    :meth:`make_bounce` uses them.

    Folders: every user has INBOX, Processed, Quarantine, Ignored, Sent and
    Trash (Dovecot creates them on first use; separator ``/``).

    Use ``start()`` / ``stop()`` or ``with MailStack() as stack:``. The servers
    need root; missing packages are installed with apt-get (after ``apt-get
    update``), and an error is raised if they still cannot be found. Start-up
    takes about 0.4 s, stopping about 0.15 s.

    Ports: a stack left on the ports by an interrupted run (its owning process
    is gone) is stopped first. When a live run (another pytest session, or a
    stack started by hand) holds the default ports, this stack takes free
    ports instead, so always read the ports from the attributes; ports set in
    the environment are never changed: if busy, :meth:`start` fails.
    """

    host: str
    imap_port: int
    imaps_port: int
    lmtp_port: int
    smtp_port: int
    smtps_port: int
    root: Path
    ca_file: Path
    state_codes: list[str]
    users: dict[str, str]

    def __init__(self, root: Path | None = None, *, states_file: Path | None = None) -> None:
        self.host = LOCALHOST
        self._ports_from_env = any(os.environ.get(f"MAILSTACK_{n.upper()}_PORT") for n in DEFAULT_PORTS)
        self.imap_port = _port_from_env("imap")
        self.imaps_port = _port_from_env("imaps")
        self.lmtp_port = _port_from_env("lmtp")
        self.smtp_port = _port_from_env("smtp")
        self.smtps_port = _port_from_env("smtps")
        self._own_root = root is None
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="mailstack-", dir="/tmp"))
        self.root = root
        self.ca_file = self.root / "tls" / "ca.pem"
        self.state_codes = load_state_codes(states_file or DEFAULT_STATES_FILE)
        self.users = stack_users(self.state_codes)
        self._running = False
        self._owner = 0
        self.verifier = verifier.Verifier(self.root / "auth")

    @classmethod
    def from_root(cls, root: Path) -> MailStack:
        """Attach to a stack started elsewhere (e.g. by the command line) from its root."""
        saved = json.loads((root / "stack.json").read_text())
        stack = cls(root)
        for name in DEFAULT_PORTS:
            setattr(stack, f"{name}_port", int(saved["ports"][name]))
        stack.users = {str(k): str(v) for k, v in saved["users"].items()}
        stack.state_codes = [str(code) for code in saved["state_codes"]]
        stack._running = True
        return stack

    # -- context manager --------------------------------------------------------------

    def __enter__(self) -> MailStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- life cycle -------------------------------------------------------------------

    @property
    def ports(self) -> dict[str, int]:
        """Every listening port by service name."""
        return {name: int(getattr(self, f"{name}_port")) for name in DEFAULT_PORTS}

    def start(self, *, owner: int | None = None) -> None:
        """Install the servers if missing, write the configuration, start and wait for banners.

        ``owner`` is the process whose death means the stack was abandoned
        (default: this process; the command line passes ``0``: never).
        """
        if self._running:
            return
        self._owner = os.getpid() if owner is None else owner
        if os.geteuid() != 0:
            raise MailStackError("the mail stack needs root: Postfix and Dovecot switch users")
        try:
            ensure_installed(self.root / "log")
            self._claim_ports()
        except MailStackError:
            if self._own_root:
                shutil.rmtree(self.root, ignore_errors=True)
            raise
        uid, gid = _mail_user()
        self._write_tree(uid, gid)
        _write_marker(self.imap_port, self.root, self._owner)
        try:  # the milters first: Postfix holds mail it cannot have checked (tempfail)
            self.verifier.start()
        except verifier.VerifierError as err:
            raise MailStackError(str(err)) from None
        dovecot_log = (self.root / "log" / "dovecot.stderr").open("ab")
        with dovecot_log:
            # Dovecot keeps its stdio open after daemonizing: never let it hold a pipe
            dovecot = subprocess.Popen(
                [_need("dovecot"), "-c", str(self.root / "etc" / "dovecot.conf")],
                stdin=subprocess.DEVNULL, stdout=dovecot_log, stderr=dovecot_log,
            )  # fmt: skip
            postfix = subprocess.Popen(
                [_need("postfix"), "-c", str(self.root / "pf"), "start"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            dovecot_rc, postfix_rc = dovecot.wait(30), postfix.wait(30)
        self._running = True
        if dovecot_rc != 0:
            self._fail_start(f"dovecot exited with {dovecot_rc}")
        if postfix_rc != 0:
            self._fail_start(f"postfix start exited with {postfix_rc}\n{self._postfix_diagnosis()}")
        try:
            self._wait_for_banners(timeout=10.0)
        except MailStackError as err:
            self._fail_start(str(err))

    def stop(self, *, remove: bool = True) -> None:
        """Stop both servers, wait until their ports are free, and remove the root.

        ``remove=False`` (or ``MAILSTACK_KEEP=1`` in the environment) keeps the
        root directory with its logs and mailboxes.
        """
        pids = [
            pid
            for pid in (
                _read_pid(self.root / "queue" / "pid" / "master.pid"),
                _read_pid(self.root / "run" / "master.pid"),
            )
            if pid is not None and _process_alive(pid) and _is_server(pid)
        ]
        for pid in pids:
            _signal_server(pid, signal.SIGTERM)
        self.verifier.stop()
        self._running = False
        started = time.monotonic()
        forced = False
        while pids and time.monotonic() < started + 10.0:
            alive = [pid for pid in pids if _process_alive(pid)]
            if not alive and all(_port_is_free(port) for port in self.ports.values()):
                break
            if alive and not forced and time.monotonic() > started + 0.5:
                # Dovecot's master sometimes waits 6 s for children that already
                # exited; the stack is disposable, so don't wait for that
                for pid in alive:
                    _signal_server(pid, signal.SIGKILL)
                forced = True
            time.sleep(0.02)
        else:
            if pids:
                busy = [f"{n}:{p}" for n, p in self.ports.items() if not _port_is_free(p)]
                raise MailStackError(f"mail stack did not stop within 10 s; ports busy: {busy}")
        marker = _read_marker(self.imap_port)
        if marker is not None and marker[0] == self.root:
            _marker_path(self.imap_port).unlink(missing_ok=True)
        if remove and os.environ.get("MAILSTACK_KEEP", "") in ("", "0"):
            shutil.rmtree(self.root, ignore_errors=True)

    # -- clients ----------------------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """An SSLContext that trusts only the stack's throwaway CA (and checks the host name)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def imap(self, user: str, *, implicit_tls: bool = False, timeout: float = 10.0) -> IMAPClient:
        """Log ``user`` in over IMAP with STARTTLS (or IMAPS), verified against the CA.

        The client is a context manager that logs out on exit.
        """
        password = self._password(user)
        if implicit_tls:
            client = IMAPClient(
                self.host, port=self.imaps_port, ssl=True,
                ssl_context=self.ssl_context(), timeout=timeout,
            )  # fmt: skip
        else:
            client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=timeout)
        try:
            if not implicit_tls:
                client.starttls(self.ssl_context())
            client.login(user, password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def smtp(self, *, timeout: float = 10.0) -> smtplib.SMTP:
        """An SMTP connection to the STARTTLS port, upgraded to TLS (CA verified)."""
        client = smtplib.SMTP(self.host, self.smtp_port, timeout=timeout)
        try:
            client.starttls(context=self.ssl_context())
        except BaseException:
            client.close()
            raise
        return client

    def send(
        self,
        message: bytes | EmailMessage,
        from_addr: str,
        to_addrs: str | Sequence[str],
        *,
        auth_as: str | None = None,
        dkim: str | None = "",
    ) -> dict[str, tuple[int, bytes]]:
        """Submit a message over SMTP with STARTTLS; return the refused recipients.

        The message is DKIM-signed first, as its sender's own outgoing server
        would sign it: ``dkim`` names the signing domain; by default the domain
        of its From line when the stack holds a key for it (``example.test``,
        ``evil.test``), and ``None`` sends it unsigned (a forgery).
        ``auth_as`` logs in with that user's password first (SMTP AUTH);
        by default the loopback address is enough to be allowed to send.
        Raises ``smtplib.SMTPRecipientsRefused`` when every recipient is refused.
        """
        recipients = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        raw = message.as_bytes(policy=email.policy.SMTP) if isinstance(message, EmailMessage) else message
        raw = self.sign(raw, dkim)
        with self.smtp() as client:
            if auth_as is not None:
                client.login(auth_as, self._password(auth_as))
            return client.sendmail(from_addr, recipients, raw)

    def sign(self, raw: bytes, domain: str | None = "") -> bytes:
        """``raw`` signed by ``domain`` (default: its From domain, when the stack has its key)."""
        if domain == "":
            parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
            domain = email.utils.parseaddr(str(parsed.get("From", "")))[1].rpartition("@")[2].lower()
        if not domain or domain not in verifier.DOMAINS:
            return raw
        return self.verifier.sign(raw, domain)

    # -- mailbox inspection -----------------------------------------------------------

    def fetch_all(self, user: str, folder: str = "INBOX") -> list[bytes]:
        """Every message in ``folder`` of ``user``, raw, in UID order (flags untouched)."""
        with self.imap(user) as client:
            return _fetch_folder(client, folder)

    def folder_counts(self, user: str) -> dict[str, int]:
        """Number of messages in every selectable folder of ``user``."""
        with self.imap(user) as client:
            counts: dict[str, int] = {}
            for flags, _delimiter, name in client.list_folders():
                if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                    continue
                status = client.folder_status(name, [b"MESSAGES"])
                counts[str(name)] = int(status[b"MESSAGES"])
            return counts

    def wait_for(self, user: str, count: int, folder: str = "INBOX", timeout: float = 10.0) -> list[bytes]:
        """Poll until ``folder`` of ``user`` holds at least ``count`` messages; return them.

        Raises ``TimeoutError`` (with the tail of the mail log) when it does not.
        """
        deadline = time.monotonic() + timeout
        with self.imap(user) as client:
            while True:
                present = int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
                if present >= count:
                    return _fetch_folder(client, folder)
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"{user} {folder}: {present} of {count} messages after {timeout} s\n"
                        + self.log_tail()
                    )
                time.sleep(0.05)

    def purge_all(self) -> None:
        """Empty every folder of every user, and drop any mail still in Postfix's queue.

        Uses ``doveadm expunge`` on the users whose home exists (the others have
        never received mail nor logged in), so Dovecot's indexes stay consistent.
        """
        subprocess.run(
            [_need("postsuper"), "-c", str(self.root / "pf"), "-d", "ALL"],
            stdin=subprocess.DEVNULL, capture_output=True, check=False,
        )  # fmt: skip
        homes = self.root / "home"
        used = [user for user in self.users if (homes / user).exists()]
        if not used:
            return
        user_list = self.root / "etc" / "purge-users"
        user_list.write_text("".join(f"{user}\n" for user in used))
        self._doveadm("expunge", "-F", str(user_list), "mailbox", "*", "all")

    # -- bounces ----------------------------------------------------------------------

    def make_bounce(
        self,
        sender: str,
        recipient: str = UNDELIVERABLE_ADDRESS,
        *,
        message: bytes | EmailMessage | None = None,
        subject: str = "Report on an incident",
        timeout: float = 10.0,
        keep: bool = True,
    ) -> bytes:
        """Have Postfix bounce a message back to ``sender``; return the DSN as fetched by IMAP.

        ``sender`` must be a stack user: the bounce is delivered to its INBOX
        (and stays there unless ``keep=False``). ``recipient`` is an address
        that is accepted at RCPT time and fails afterwards: the default
        :data:`UNDELIVERABLE_ADDRESS` makes Dovecot's LMTP refuse it
        (``550 5.1.1 ... User doesn't exist``); any address in
        :data:`BOUNCE_DOMAIN` is failed by Postfix itself (``Diagnostic-Code: x-unix;
        mailbox unavailable ...``). ``message`` is the mail to bounce; by default a
        short plain-text one with a fresh Message-ID is made.
        """
        if sender not in self.users:
            raise ValueError(f"{sender} is not a stack user: its bounce would have nowhere to go")
        if message is None:
            message = _probe_message(sender, recipient, subject)
        with self.imap(sender) as client:
            uid_next = int(client.folder_status("INBOX", [b"UIDNEXT"])[b"UIDNEXT"])
            self.send(message, sender, [recipient])
            deadline = time.monotonic() + timeout
            while True:
                client.select_folder("INBOX")
                uids = [uid for uid in client.search(["UID", f"{uid_next}:*"]) if uid >= uid_next]
                for uid, data in sorted(client.fetch(uids, ["BODY.PEEK[]"]).items()):
                    raw: bytes = data[b"BODY[]"]
                    if _is_bounce_for(raw, recipient):
                        if not keep:
                            client.delete_messages([uid])
                            client.expunge([uid])
                        return raw
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"no bounce for {recipient} reached {sender} in {timeout} s\n" + self.log_tail()
                    )
                time.sleep(0.05)

    # -- diagnostics ------------------------------------------------------------------

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the Postfix and Dovecot logs, for error messages."""
        parts = []
        for name in ("postfix.log", "dovecot.log", "dovecot.stderr"):
            path = self.root / "log" / name
            with contextlib.suppress(OSError):
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path}\n" + "\n".join(tail))
        return "\n".join(parts)

    # -- internals --------------------------------------------------------------------

    def _password(self, user: str) -> str:
        try:
            return self.users[user]
        except KeyError:
            raise ValueError(f"{user} is not a user of the mail stack") from None

    def _doveadm(self, *args: str) -> None:
        done = subprocess.run(
            [_need("doveadm"), "-c", str(self.root / "etc" / "dovecot.conf"), *args],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise MailStackError(f"doveadm {' '.join(args)} failed: {done.stderr.strip()}")

    def _render(self, template: str, target: Path, values: dict[str, str]) -> None:
        text = (HERE / template).read_text()
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        leftover = re.search(r"@[A-Z_]+@", text)
        if leftover:
            raise MailStackError(f"{template}: unknown placeholder {leftover.group(0)}")
        target.write_text(text)

    def _write_tree(self, uid: int, gid: int) -> None:
        root = self.root
        for sub in ("etc", "run", "state", "log", "home", "pf", "queue", "tls"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        root.chmod(0o755)
        os.chown(root / "home", uid, gid)
        _postfix_data_dir(root / "data")
        if not (root / "tls" / "server.pem").exists():
            _make_certificates(root / "tls")
        users = "".join(f"{addr}:{{PLAIN}}{pw}::::::\n" for addr, pw in self.users.items())
        (root / "etc" / "users").write_text(users)
        (root / "etc" / "users").chmod(0o644)  # Dovecot's auth process reads it
        accepted = [*self.users, UNDELIVERABLE_ADDRESS]
        (root / "pf" / "vmailbox").write_text("".join(f"{addr} OK\n" for addr in accepted))
        (root / "pf" / "transport").write_text(f"{BOUNCE_DOMAIN} fail:\n")
        values = {
            "ROOT": str(root), "UID": str(uid), "GID": str(gid),
            **{f"{name.upper()}_PORT": str(port) for name, port in self.ports.items()},
            "MILTERS": self.verifier.milters,
        }  # fmt: skip
        self._render("dovecot.conf.tmpl", root / "etc" / "dovecot.conf", values)
        self._render("main.cf.tmpl", root / "pf" / "main.cf", values)
        self._render("master.cf.tmpl", root / "pf" / "master.cf", values)
        # Postfix re-reads files changed in the last seconds before trusting them: backdate
        past = time.time() - 60
        for name in ("main.cf", "master.cf", "vmailbox", "transport"):
            os.utime(root / "pf" / name, (past, past))
        saved = {"ports": self.ports, "users": self.users, "state_codes": self.state_codes}
        (root / "stack.json").write_text(json.dumps(saved))

    def _wait_for_banners(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        greetings = {"imap": b"*", "lmtp": b"2", "smtp": b"2"}
        for name, greeting in greetings.items():
            port = self.ports[name]
            while not _greets(self.host, port, greeting):
                if time.monotonic() > deadline:
                    raise MailStackError(f"{name} port {port} gave no banner within {timeout} s")
                time.sleep(0.02)

    def _fail_start(self, reason: str) -> None:
        logs = self.log_tail()
        with contextlib.suppress(MailStackError):
            self.stop(remove=False)
        raise MailStackError(f"mail stack failed to start: {reason}\nroot: {self.root}\n{logs}")

    def _postfix_diagnosis(self) -> str:
        # Postfix reports fatal start-up errors only to a terminal: give it one
        script = _which("script")
        if script is None:
            return ""
        command = f"{_need('postfix')} -c {self.root / 'pf'} check"
        done = subprocess.run(
            [script, "-qec", command, "/dev/null"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
        return done.stdout.strip()

    def _claim_ports(self) -> None:
        """Make sure the ports are free before starting.

        A stack whose owning process is gone (an interrupted run) is stopped.
        A stack of a live run keeps its ports: this one moves to free ports,
        unless the ports were set in the environment, where that is an error.
        """
        if self._busy_ports():
            stale = _read_marker(self.imap_port)
            if stale is not None and stale[0] != self.root and not _owner_alive(stale[1]):
                with contextlib.suppress(MailStackError, OSError, ValueError, KeyError):
                    MailStack.from_root(stale[0]).stop()
        busy = self._busy_ports()
        if busy and self._ports_from_env:
            raise MailStackError(
                f"ports {busy} on {LOCALHOST} are in use; choose others with "
                "MAILSTACK_IMAP_PORT, MAILSTACK_IMAPS_PORT, MAILSTACK_LMTP_PORT, "
                "MAILSTACK_SMTP_PORT, MAILSTACK_SMTPS_PORT"
            )
        if busy:
            for name, port in zip(DEFAULT_PORTS, _free_ports(len(DEFAULT_PORTS)), strict=True):
                setattr(self, f"{name}_port", port)

    def _busy_ports(self) -> list[int]:
        return [port for port in self.ports.values() if not _port_is_free(port)]


# -- module helpers -------------------------------------------------------------------


def ensure_installed(log_dir: Path) -> None:
    """Install Dovecot and Postfix with apt-get when their programs are missing.

    apt-get's output goes to ``log_dir/apt.log``: a package's maintainer script
    may start a daemon that inherits it, and a pipe would then never close.
    """
    missing = [binary for binary in BINARIES if _which(binary) is None]
    if not missing:
        return
    apt = _which("apt-get")
    if apt is None:
        raise MailStackError(f"{', '.join(missing)} not found and apt-get is not available")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": _SYSTEM_PATH}
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "apt.log"
    for command in (
        [apt, "update"],
        [apt, "install", "-y", "--no-install-recommends", *PACKAGES, "openssl"],
    ):
        with log_path.open("ab") as log:
            done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, check=False)  # fmt: skip
        if done.returncode != 0:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise MailStackError(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")
    still_missing = [binary for binary in BINARIES if _which(binary) is None]
    if still_missing:
        raise MailStackError(f"installed {PACKAGES} but still missing: {still_missing}")


def _need(binary: str) -> str:
    found = _which(binary)
    if found is None:
        raise MailStackError(f"{binary} not found")
    return found


def _marker_path(imap_port: int) -> Path:
    """Where the root and owner of the stack running on these ports are recorded."""
    return Path("/tmp") / f"mailstack-{imap_port}.active"


def _write_marker(imap_port: int, root: Path, owner: int) -> None:
    _marker_path(imap_port).write_text(json.dumps({"root": str(root), "owner": owner}))


def _read_marker(imap_port: int) -> tuple[Path, int] | None:
    try:
        data = json.loads(_marker_path(imap_port).read_text())
        return Path(data["root"]), int(data["owner"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _owner_alive(owner: int) -> bool:
    """Owner 0 (a stack started by hand) never counts as gone."""
    return owner == 0 or _process_alive(owner)


def _free_ports(count: int) -> list[int]:
    """Ports the kernel reports free right now (for a stack beside another one)."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((LOCALHOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _mail_user() -> tuple[int, int]:
    """The system user that owns the mailboxes (created on first use)."""
    try:
        uid = _id_of("-u")
    except MailStackError:
        # a concurrent run may create it at the same moment: only the lookup decides
        subprocess.run(
            [_need("useradd"), "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             MAIL_USER],
            stdin=subprocess.DEVNULL, capture_output=True, check=False,
        )  # fmt: skip
        uid = _id_of("-u")
    return uid, _id_of("-g")


def _id_of(flag: str) -> int:
    done = subprocess.run(["id", flag, MAIL_USER], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode != 0:
        raise MailStackError(f"no user {MAIL_USER}")
    return int(done.stdout)


def _postfix_data_dir(path: Path) -> None:
    path.mkdir(exist_ok=True)
    done = subprocess.run(["id", "-u", "postfix"], capture_output=True, text=True, check=False)
    group = subprocess.run(["id", "-g", "postfix"], capture_output=True, text=True, check=False)
    if done.returncode == 0 and group.returncode == 0:
        os.chown(path, int(done.stdout), int(group.stdout))


def _make_certificates(tls: Path) -> None:
    """A throwaway CA and a server certificate for localhost and 127.0.0.1."""
    openssl = _need("openssl")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    (tls / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
    )
    commands = [
        [openssl, "req", "-x509", *ec, "-days", "3650", "-subj", "/CN=Mailstack Test CA",
         "-keyout", "ca.key", "-out", "ca.pem",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [openssl, "req", *ec, "-subj", "/CN=localhost", "-keyout", "server.key",
         "-out", "server.csr"],
        [openssl, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "3650", "-extfile", "server.ext", "-out", "server.pem"],
    ]  # fmt: skip
    for command in commands:
        done = subprocess.run(command, cwd=tls, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if done.returncode != 0:
            raise MailStackError(f"openssl {command[1]} failed: {done.stderr.strip()}")
    for key in ("ca.key", "server.key"):
        (tls / key).chmod(0o600)


def _fetch_folder(client: IMAPClient, folder: str) -> list[bytes]:
    client.select_folder(folder, readonly=True)
    uids = client.search("ALL")
    if not uids:
        return []
    fetched = client.fetch(uids, ["BODY.PEEK[]"])
    return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]


def _probe_message(sender: str, recipient: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{DOMAIN}>"
    message.set_content("This message is addressed to a mailbox that does not exist.\n")
    return message


def _is_bounce_for(raw: bytes, recipient: str) -> bool:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    return (
        parsed.get_content_type() == "multipart/report"
        and parsed.get_param("report-type") == "delivery-status"
        and recipient.lower().encode() in raw.lower()
    )


def main(argv: Sequence[str]) -> int:
    """Command line: ``start`` prints the root directory; ``stop ROOT`` stops that stack."""
    if len(argv) >= 1 and argv[0] == "start":
        stack = MailStack()
        stack.start(owner=0)
        print(stack.root)
        print(json.dumps({"ca_file": str(stack.ca_file), **stack.ports}), file=sys.stderr)
        return 0
    if len(argv) == 2 and argv[0] == "stop":
        MailStack.from_root(Path(argv[1])).stop()
        return 0
    print("usage: stack.py start | stack.py stop ROOT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
