"""``mailbot demo`` as a newcomer runs it: embedded mail servers, no Dovecot or Postfix involved.

The demo is started as a subprocess with ``--imap-port 0 --smtp-port 0``; the
ports it picked are read from what it prints. Mail is sent with smtplib to
its SMTP port and read with imapclient from its IMAP port (login = address,
password = demo), as any mail client would. ``--scenario`` plays its short
story to the end and exits.
"""

from __future__ import annotations

import email
import email.policy
import os
import queue
import re
import signal
import smtplib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
from imapclient import IMAPClient

from mailbot.demo import BOT, DEMO_PASSWORD, demo_settings
from mailbot.domain.forms import FormKind, render_blank
from mailbot.service.registry import catalog

FRA, DEU, KEN = "fp.fra@example.test", "fp.deu@example.test", "fp.ken@example.test"
PORT_LINE = re.compile(r"^\s+(IMAP|SMTP)\s+127\.0\.0\.1:(\d+)\s", re.MULTILINE)
#: How long the test waits for the demo to start, and for its answer to a report.
START_TIMEOUT = 60.0
ANSWER_TIMEOUT = 15.0


@dataclass
class Demo:
    """A running ``mailbot demo`` subprocess and what it printed so far."""

    proc: subprocess.Popen[str]
    data_dir: Path
    lines: queue.Queue[str | None] = field(default_factory=queue.Queue)
    printed: list[str] = field(default_factory=list)
    imap_port: int = 0
    smtp_port: int = 0

    def read_until(self, marker: str, timeout: float) -> str:
        """Collect stdout until a line contains ``marker``; fail if the demo exits or stalls."""
        deadline = time.monotonic() + timeout
        while not any(marker in line for line in self.printed):
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"the demo printed no {marker!r} in {timeout} s:\n" + "".join(self.printed))
            if line is None:
                pytest.fail(f"the demo exited ({self.proc.wait()}) before {marker!r}:\n"
                            + "".join(self.printed) + (self.proc.stderr.read() if self.proc.stderr else ""))
            self.printed.append(line)
        return "".join(self.printed)

    def stop(self, signum: int) -> tuple[int, str]:
        self.proc.send_signal(signum)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            pytest.fail(f"the demo did not stop on signal {signum}:\n{err[-3000:]}")
        return self.proc.returncode, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def demo_command(data_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mailbot", "demo", "--data-dir", str(data_dir),
            "--imap-port", "0", "--smtp-port", "0", *extra]


def clean_env() -> dict[str, str]:
    """The environment without any mailbot configuration the caller may have set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_demo(data_dir: Path) -> Demo:
    """Start ``mailbot demo`` on free ports and read the ports it picked from its output."""
    proc = subprocess.Popen(demo_command(data_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=clean_env(), cwd=data_dir.parent)
    running = Demo(proc, data_dir)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            running.lines.put(line)
        running.lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        out = running.read_until("Stop with Ctrl-C", START_TIMEOUT)
        ports = {name: int(port) for name, port in PORT_LINE.findall(out)}
        assert set(ports) == {"IMAP", "SMTP"}, out
    except BaseException:
        running.kill()
        raise
    running.imap_port, running.smtp_port = ports["IMAP"], ports["SMTP"]
    return running


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """``mailbot demo`` running on free loopback ports (killed at the end if a test left it)."""
    running = start_demo(tmp_path / "demo")
    try:
        yield running
    finally:
        running.kill()


def send(demo: Demo, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", demo.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)


def inbox(demo: Demo, address: str) -> list[EmailMessage]:
    with IMAPClient("127.0.0.1", port=demo.imap_port, ssl=False, timeout=10) as client:
        client.login(address, DEMO_PASSWORD)
        client.select_folder("INBOX", readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
        out = []
        for uid in sorted(fetched):
            msg = email.message_from_bytes(bytes(fetched[uid][b"BODY[]"]), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
        return out


def wait_inbox(demo: Demo, address: str, count: int, timeout: float) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while True:
        msgs = inbox(demo, address)
        if len(msgs) >= count or time.monotonic() > deadline:
            return msgs
        time.sleep(0.2)


def mail(sender: str, to: str, subject: str, text: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="mission.example.test")
    msg.set_content(text)
    return msg


def violation_report(demo: Demo) -> str:
    settings = demo_settings(demo.data_dir, demo.imap_port, demo.smtp_port)
    return render_blank(catalog(settings), FormKind.VIOLATION, "en", {
        "reporting_state": "France", "date": "2026-11-20", "place": "Nairobi, Riverside Drive",
        "host_state": "Kenya", "affected": "Embassy of France in Nairobi",
        "affected_kind": "diplomatic_mission", "sending_state": "France",
        "description": "Demonstrators forced the gate and damaged the consular section.",
        "persons_harmed": "One guard injured.", "offenders": "Unknown persons",
        "measures_taken": "Police called.", "circulate": "yes", "contact": FRA})


def test_demo_delivers_mail_and_answers_a_report_then_stops_on_ctrl_c(demo: Demo) -> None:
    out = "".join(demo.printed)
    assert f"{BOT:<28} the desk" in out and FRA in out

    # any mail client can use it: a mail to a focal point lands in that mailbox
    note = mail("secretariat@example.test", DEU, "Hello from the demo", "A first message.")
    send(demo, note)
    got = inbox(demo, DEU)
    assert [m["Message-ID"] for m in got] == [note["Message-ID"]]
    assert "A first message." in str(got[0].get_body(("plain",)).get_content())  # type: ignore[union-attr]

    # a valid report to the desk: the running service (IMAP IDLE; its poll is every 60 s)
    # holds it (the demo's servers vouch for no sender) and asks France to confirm it
    report = mail(FRA, BOT, "Violation report", "Please find our report.\n\n" + violation_report(demo))
    send(demo, report)
    asked = wait_inbox(demo, FRA, 1, ANSWER_TIMEOUT)
    assert len(asked) == 1, "no confirmation request within the wait"
    assert asked[0]["In-Reply-To"] == report["Message-ID"]
    code = re.search(r"CNF-[A-Z2-7]{16}", str(asked[0]["Subject"]))
    assert code is not None, asked[0]["Subject"]
    assert "[DCM-" not in str(asked[0]["Subject"])  # nothing is filed before the confirmation
    # France replies with the code; then its acknowledgement arrives
    send(demo, mail(FRA, BOT, f"Re: {asked[0]['Subject']}", "We confirm."))
    acks = wait_inbox(demo, FRA, 2, ANSWER_TIMEOUT)[1:]
    assert len(acks) == 1, "no acknowledgement within the wait"
    assert acks[0]["In-Reply-To"] == report["Message-ID"]
    assert re.search(r"\[DCM-\d{4}-\d{4}\]", acks[0]["Subject"]), acks[0]["Subject"]
    assert acks[0]["Auto-Submitted"] == "auto-replied"

    # the inspection command the demo printed finds its data, from another terminal
    command = re.search(r"^\s+(\S+ --config (\S+) incidents list)$", out, re.MULTILINE)
    assert command is not None, out
    assert (demo.data_dir.parent / command.group(2)).resolve() == demo.data_dir / "mailbot.toml"
    listed = subprocess.run([sys.executable, "-m", "mailbot", *command.group(1).split()[1:]],
                            capture_output=True, text=True, env=clean_env(),
                            cwd=demo.data_dir.parent, timeout=60, check=False)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^DCM-\d{4}-\d{4}\s+open\s.*FRA \(reporting\), KEN \(host\)", listed.stdout,
                     re.MULTILINE), listed.stdout
    # and the running desk said what it did, a line per message and per batch sent
    said = demo.read_until("processed (state), incident", ANSWER_TIMEOUT)
    assert re.search(r"message \d+: held \(state\), Message-ID <[^>]+> from fp\.fra", said), said
    assert re.search(r"message \d+: processed \(state\), incident DCM-\d{4}-\d{4}, "
                     r"Message-ID <[^>]+> from fp\.fra@example\.test", said), said

    code, err = demo.stop(signal.SIGINT)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]


def test_demo_stops_cleanly_on_sigterm_and_a_second_run_keeps_the_mail(demo: Demo) -> None:
    kept = mail("secretariat@example.test", KEN, "Kept", "Kept across restarts.")
    send(demo, kept)
    code, err = demo.stop(signal.SIGTERM)
    assert code == 0, err[-3000:]
    assert "Traceback" not in err, err[-3000:]

    again = start_demo(demo.data_dir)
    try:
        assert [m["Message-ID"] for m in inbox(again, KEN)] == [kept["Message-ID"]]
        code, err = again.stop(signal.SIGTERM)
        assert code == 0, err[-3000:]
    finally:
        again.kill()


def test_scenario_runs_to_the_end(tmp_path: Path) -> None:
    proc = subprocess.run(demo_command(tmp_path / "demo", "--reset", "--scenario"), capture_output=True,
                          text=True, env=clean_env(), cwd=tmp_path, timeout=180, check=False)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    steps = [int(n) for n in re.findall(r"^\[(\d)\] ", out, re.MULTILINE)]
    assert steps == [1, 2, 3, 4], out
    ref = re.search(r"filed it as (DCM-\d{4}-\d{4})", out)
    assert ref is not None, out
    assert "reminders queued: 2," in out  # Kenya's 10 (a) and 10 (b) reports
    assert f"{ref.group(1)} is now closed" in out
    assert (tmp_path / "demo" / "mailbot.toml").is_file()
    assert "--config demo/mailbot.toml incidents list" in out
    tail = out[out.index("[4]"):]
    assert re.search(r"^\s+60 days later: reminders queued 0$", tail, re.MULTILINE), out
