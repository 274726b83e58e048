"""``mailbot demo``: the desk on embedded mail servers, with sample States, for a first look.

Starts a pure-Python IMAP server (pymap) and an SMTP server (aiosmtpd) on
loopback (``mail.embedded``), writes a configuration for them as
``mailbot.toml`` in the demo data directory (with the mailbox password in a
file beside it), loads the States and the demo focal points, prints how to
connect any mail client and the command that inspects the demo's data
(``mailbot --config demo-data/mailbot.toml incidents list``), and runs the
service against them, one line per message handled and per batch sent.  A
second run reuses the data directory (``--reset`` starts afresh).
``--scenario`` plays a short story with a fast clock, in its own data
directory (``scenario-data`` by default): a State reports a violation; the
desk acknowledges, circulates and notifies the host State; the host State is
reminded when its follow-up is overdue; its follow-up closes the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import shutil
import signal
import smtplib
import sys
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailbot.config import REPO_ROOT, Settings, load_settings
from mailbot.mail.embedded import EmbeddedMailServer
from mailbot.service.admin import db_upgrade, import_states
from mailbot.service.app import App, read_toml
from mailbot.service.clock import utcnow
from mailbot.service.registry import violation_form

if TYPE_CHECKING:
    from mailbot.service.runner import Service

BOT = "mailbot@example.test"
DEMO_PASSWORD = "demo"


def demo_users() -> dict[str, str]:
    """The desk, the Secretariat and the demo focal points (config/focal_points.toml)."""
    data = read_toml(REPO_ROOT / "config" / "focal_points.toml")
    users = {BOT: DEMO_PASSWORD}
    for entry in data.get("secretariat", []):
        users[entry["address"]] = DEMO_PASSWORD
    for entry in data.get("focal_point", []):
        users[entry["address"]] = DEMO_PASSWORD
    return users


DEMO_CONFIG = """\
# The demo's configuration, written by 'mailbot demo' at each start (the ports it picked).
# Inspect the demo's data with: mailbot --config {config} incidents list

[mailbox]
host = "127.0.0.1"
port = {imap_port}
tls = "none"
user = "{bot}"
password_file = "{password_file}"
poll_interval = 60

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
from_address = "{bot}"

[storage]
data_dir = "desk"

[desk]
states_file = "{config_dir}/states.toml"
focal_points_file = "{config_dir}/focal_points.toml"
forms_file = "{config_dir}/forms.toml"
instruments_file = "{config_dir}/instruments.toml"

[policy]
retry_base_seconds = 5
dispatch_interval = 5
"""


def write_demo_config(data_dir: Path, imap_port: int, smtp_port: int) -> Path:
    """Write ``mailbot.toml`` (and the mailbox password file) in the demo's data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    password_file = data_dir.resolve() / "mailbox.password"
    password_file.write_text(DEMO_PASSWORD + "\n", encoding="utf-8")
    config = data_dir / "mailbot.toml"
    config.write_text(DEMO_CONFIG.format(
        config=config, imap_port=imap_port, smtp_port=smtp_port, bot=BOT,
        password_file=password_file, config_dir=REPO_ROOT / "config"), encoding="utf-8")
    return config


def demo_settings(data_dir: Path, imap_port: int, smtp_port: int) -> Settings:
    """The settings of the configuration the demo writes for these ports."""
    return load_settings(write_demo_config(data_dir, imap_port, smtp_port), environ={})


def inspect_command(config: Path) -> str:
    """The command a person types to inspect the demo's data, as short as it can be written."""
    script = Path(sys.executable).with_name("mailbot")
    program = _relative(script) if script.exists() else "mailbot"
    return f"{program} --config {_relative(config)} incidents list"


def _relative(path: Path) -> str:
    absolute = path.resolve()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


def show_desk_log() -> None:
    """Print what the desk does (``mailbot.desk``: each message, each batch sent) and warnings."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  %(asctime)s  %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("mailbot.desk").setLevel(logging.INFO)


class FastClock:
    """The scenario's clock: real time plus whatever the story has skipped."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def print_connection(server: EmbeddedMailServer, settings: Settings) -> None:
    info = server.info
    print("mailbot demo is running on embedded mail servers (loopback only).\n")
    print(f"  IMAP  {info.host}:{info.imap_port}  (plain text, no TLS)")
    print(f"  SMTP  {info.host}:{info.smtp_port}  (plain text, no TLS, no login needed)")
    print(f"  data  {settings.data_dir}")
    print(f"  configuration  {settings.config_file}\n")
    print(f"  See what the desk filed, from another terminal:\n    {inspect_command(settings.config_file)}\n")
    print("  Mailboxes (login = address, password = demo):")
    for address in info.users:
        role = ("the desk" if address == BOT else
                "Secretariat" if not address.startswith("fp.") else
                f"focal point of {address[3:6].upper()}")
        print(f"    {address:<28} {role}")
    print("\n  Try it: from fp.fra@example.test, send a filled violation report to "
          f"{BOT}.\n  The desk acts only for a sender it has proven; these demo servers vouch "
          "for nobody, so it\n  first asks fp.fra@example.test to confirm: reply to that note "
          "(keep its CNF-... code)\n  and the report is acknowledged, circulated and notified.\n"
          "  The blank form (mailbot forms show violation):\n")
    print("    " + violation_form(settings, "en").replace("\n", "\n    "))
    print("\n  Stop with Ctrl-C.", flush=True)


def run_demo(*, data_dir: Path, reset: bool, scenario: bool, imap_port: int, smtp_port: int,
             once: bool = False) -> int:
    if reset and data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = EmbeddedMailServer(data_dir / "mail", imap_port=imap_port, smtp_port=smtp_port,
                                users=demo_users())
    server.start()
    try:
        info = server.info
        settings = demo_settings(data_dir, info.imap_port, info.smtp_port)
        app = App(settings)
        db_upgrade(app)
        import_states(app)
        if scenario:
            return play_scenario(app, server)
        stopper = _StopOnSignal()
        stopper.install()
        with contextlib.suppress(KeyboardInterrupt):
            print_connection(server, settings)
            if once:
                return 0
            from mailbot.service.runner import Service

            show_desk_log()
            asyncio.run(stopper.serve(Service(app)))
        return 0
    finally:
        server.stop()


class _StopOnSignal:
    """Ctrl-C or SIGTERM at any moment, even before the service has its own handlers: a clean stop.

    The handler only records the request and, once the loop runs, sets the
    service's stop event (raising from a signal handler can land in a weakref
    or import callback, where Python ignores it and the demo would run on).
    """

    def __init__(self) -> None:
        self.requested = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)

    async def serve(self, service: Service) -> None:
        self.stop = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        if not self.requested:
            await service.run_forever(self.stop)


# --- the scenario --------------------------------------------------------------------------


def _send(server: EmbeddedMailServer, sender: str, subject: str, body: str,
          in_reply_to: str | None = None) -> str:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, BOT, subject
    msg["Message-ID"] = make_msgid(domain="mission.example.test")
    if in_reply_to:
        msg["In-Reply-To"] = msg["References"] = in_reply_to
    msg.set_content(body)
    with smtplib.SMTP(server.info.host, server.info.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)
    return str(msg["Message-ID"])


def _say(step: str, text: str) -> None:
    print(f"\n[{step}] {text}", flush=True)


def _inbox(server: EmbeddedMailServer, address: str) -> list[str]:
    from imapclient import IMAPClient

    with IMAPClient(server.info.host, port=server.info.imap_port, ssl=False, timeout=10) as c:
        c.login(address, DEMO_PASSWORD)
        c.select_folder("INBOX", readonly=True)
        uids = c.search(["ALL"])
        if not uids:
            return []
        data = c.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        subjects = []
        for d in data.values():
            head = email.message_from_bytes(bytes(d[b"BODY[HEADER.FIELDS (SUBJECT)]"]),
                                            policy=email.policy.default)
            subjects.append(str(head.get("Subject", "")).split(" — ")[-1])
        return subjects


def play_scenario(app: App, server: EmbeddedMailServer) -> int:
    from mailbot.service.runner import Service
    from mailbot.store import repo
    from mailbot.store.db import transaction

    clock = FastClock()
    service = Service(app, clock=clock)
    s = app.settings
    today = clock().date()
    _say("1", "France reports a violation that took place in Kenya (fp.fra@example.test).")
    from mailbot.domain.forms import FormKind, render_blank
    from mailbot.service.registry import catalog

    form = render_blank(catalog(s), FormKind.VIOLATION, "en", {
        "reporting_state": "France", "date": (today - timedelta(days=3)).isoformat(),
        "place": "Nairobi, Embassy of France, main gate", "host_state": "Kenya",
        "affected": "Embassy of France in Nairobi", "affected_kind": "diplomatic_mission",
        "sending_state": "France",
        "description": "A group forced the main gate and damaged the consular section.",
        "persons_harmed": "One local guard slightly injured.",
        "offenders": "Unknown persons", "measures_taken": "Police were called at once.",
        "circulate": "yes", "contact": "fp.fra@example.test"})
    _send(server, "fp.fra@example.test", "Violation report", "Please find our report below.\n\n" + form)
    service.run_once()
    print("    The demo's servers vouch for no sender, so the desk asks France to confirm first:")
    stats = _confirm(server, service, "fp.fra@example.test")
    with transaction(app.sessions) as session:
        incident = repo.list_incidents(session, 1)[0]
        ref = incident.reference
    _say("2", f"The desk filed it as {ref} and sent {stats.sent} mails: the acknowledgement to "
              "France, a circulation to every other State, the notice to Kenya.")
    for who in ("fp.fra@example.test", "fp.ken@example.test", "fp.deu@example.test"):
        print(f"    {who}: {_inbox(server, who)}")
    days = s.policy.reasonable_period_days + 1
    clock.advance(timedelta(days=days))
    _say("3", f"{days} days later (fast clock) Kenya has not reported; the sweep reminds it.")
    stats = service.run_once()
    print(f"    reminders queued: {stats.reminders}, mails sent: {stats.sent}")
    print(f"    fp.ken@example.test: {_inbox(server, 'fp.ken@example.test')}")
    from mailbot.service.registry import followup_form

    follow = _fill(followup_form(s, ref, "KEN", "host", "en"), {
                            "measures_justice": "Two suspects were arrested and charged.",
                            "proceedings_status": "Both were convicted on 1 March.",
                            "final_outcome": "yes",
                            "measures_prevention": "A permanent police post guards the embassy.",
                            "circulate": "yes"}, s)
    _send(server, "fp.ken@example.test", f"[{ref}] Follow-up report", follow)
    clock.advance(timedelta(days=1))
    service.run_once()
    stats = _confirm(server, service, "fp.ken@example.test")
    _say("4", "Kenya's follow-up with the final outcome closes the loop.")
    with transaction(app.sessions) as session:
        inc = repo.incident_by_reference(session, ref)
        status = inc.status if inc else "?"
    print(f"    {ref} is now {status}; mails sent: {stats.sent}")
    clock.advance(timedelta(days=60))
    stats = service.run_once()
    print(f"    60 days later: reminders queued {stats.reminders}")
    print(f"\nThe mailboxes are left in {server.data_dir} for any mail client (serve them with "
          f"'mailbot demo --data-dir {_relative(server.data_dir.parent)}'); inspect the data with\n"
          f"  {inspect_command(app.settings.config_file)}")
    return 0


def _confirm(server: EmbeddedMailServer, service: Any, address: str) -> Any:
    """Answer the desk's confirmation request in ``address``'s mailbox, as its owner would;
    the desk then acts on the held mail.  The run's statistics."""
    from mailbot.service.confirming import TOKEN

    token = TOKEN.findall(_latest_text(server, address))[-1]
    print(f"    {address} replies to the confirmation request with its code {token}")
    _send(server, address, f"Re: Confirmation of a communication [{token}]", "Confirmed.")
    return service.run_once()


def _latest_text(server: EmbeddedMailServer, address: str) -> str:
    from imapclient import IMAPClient

    with IMAPClient(server.info.host, port=server.info.imap_port, ssl=False, timeout=10) as c:
        c.login(address, DEMO_PASSWORD)
        c.select_folder("INBOX", readonly=True)
        uids = c.search(["ALL"])
        data = c.fetch(uids[-1:], ["BODY.PEEK[]"]) if uids else {}
    texts = []
    for d in data.values():
        msg = email.message_from_bytes(bytes(d[b"BODY[]"]), policy=email.policy.default)
        body = msg.get_body(("plain",)) if isinstance(msg, EmailMessage) else None
        texts.append(str(msg.get("Subject", "")) + "\n" + (str(body.get_content()) if body else ""))
    return "\n".join(texts)


def _fill(form: str, values: dict[str, str], settings: Settings) -> str:
    from mailbot.domain.forms import FormKind, extract_form, render_blank
    from mailbot.service.registry import catalog

    cat = catalog(settings)
    raw = extract_form(form, cat)
    merged = dict(raw.values) if raw else {}
    merged.update(values)
    return render_blank(cat, FormKind.FOLLOW_UP, "en", merged)


