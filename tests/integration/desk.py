"""A desk deployment for the end-to-end tests: config, database and CLI against the mail stack.

The tests drive mailbot as a user would: through its command line
(``python -m mailbot --config FILE ...``) in a subprocess, with a real SQLite
file (or PostgreSQL) and the real Dovecot + Postfix of ``tests/mailstack``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from mailstack.stack import BOT_ADDRESS, MailStack, focal_point_address, password_for

PROJECT = Path(__file__).resolve().parents[2]
CONFIG = PROJECT / "config"

#: The States registered in the test deployment and their working languages.
TEST_STATES = ("FRA", "DEU", "BRA", "KEN", "MEX", "ESP")


class Desk:
    """One deployment: a data directory, a configuration file and the CLI to drive it."""

    def __init__(self, stack: MailStack, root: Path | None = None,
                 states: Sequence[str] = TEST_STATES, database_url: str = "",
                 extra: str = "") -> None:
        self.stack = stack
        self.root = root or Path(tempfile.mkdtemp(prefix="mailbot-desk-"))
        self.states = tuple(states)
        self.config = self.root / "mailbot.toml"
        focal = self.root / "focal_points.toml"
        lines = [f'[[focal_point]]\nstate = "{c}"\naddress = "{focal_point_address(c)}"\n'
                 for c in self.states]
        lines += ['[[secretariat]]\naddress = "officer@example.test"\n',
                  '[[secretariat]]\naddress = "secretariat@example.test"\n']
        focal.write_text("\n".join(lines), encoding="utf-8")
        self.config.write_text(f"""
[mailbox]
host = "{stack.host}"
port = {stack.imap_port}
tls = "starttls"
user = "{BOT_ADDRESS}"
ca_file = "{stack.ca_file}"
poll_interval = 30

[smtp]
host = "{stack.host}"
port = {stack.smtp_port}
tls = "starttls"
ca_file = "{stack.ca_file}"
from_address = "{BOT_ADDRESS}"

[database]
url = "{database_url}"

[storage]
data_dir = "{self.root / 'data'}"

[desk]
addresses = ["{BOT_ADDRESS}"]
secretariat_review = "secretariat@example.test"
authserv_ids = ["mx.example.test"]
trusted_relays = ["imap.example.test"]
states_file = "{CONFIG / 'states.toml'}"
focal_points_file = "{focal}"
forms_file = "{CONFIG / 'forms.toml'}"
instruments_file = "{CONFIG / 'instruments.toml'}"

[policy]
retry_base_seconds = 1
{extra}
""", encoding="utf-8")
        self.env = {**os.environ, "MAILBOT_MAILBOX__PASSWORD": password_for(BOT_ADDRESS),
                    "MAILBOT_CONFIG": str(self.config)}

    def cli(self, *args: str, check: bool = True, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "mailbot", *args], env=env or self.env,
                              capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if check and proc.returncode != 0:
            raise AssertionError(f"mailbot {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}")
        return proc

    def setup(self) -> Desk:
        self.cli("db", "upgrade")
        self.cli("states", "import")
        return self

    def run_once(self) -> str:
        return self.cli("run", "--once").stdout

    def send(self, sender: str, body: str, subject: str = "Report", *,
             to: Sequence[str] = (BOT_ADDRESS,), cc: Sequence[str] = (),
             in_reply_to: str | None = None, attachments: Sequence[tuple[str, str, bytes]] = (),
             html: str | None = None, dkim: str | None = "", from_line: str | None = None,
             headers: Sequence[tuple[str, str]] = ()) -> str:
        """Send a message through the stack's Postfix (and its verifiers); ``dkim``: the signing
        domain (default: the sender's own; None: unsigned, a forgery); ``from_line``: a From
        field other than ``sender``; ``headers``: more fields, as a sender can write any."""
        msg = EmailMessage()
        msg["From"] = from_line or sender
        for name, value in headers:
            msg[name] = value
        msg["To"] = ", ".join(to)
        if cc:
            msg["Cc"] = ", ".join(cc)
        msg["Subject"] = subject
        msg["Message-ID"] = make_msgid(domain="sender.example.test")
        msg["Date"] = "Fri, 27 Nov 2026 10:00:00 +0000"
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = in_reply_to
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        for name, ctype, data in attachments:
            maintype, subtype = ctype.split("/", 1)
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        self.stack.send(msg, sender, [*to, *cc], dkim=dkim)
        return str(msg["Message-ID"])
