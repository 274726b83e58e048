"""End to end on the real mail stack: the outbox when delivery goes wrong.

Each test files a report (or opens a cycle) through the command line, as a
user does, then makes the outbox meet a failure a real deployment meets:
the SMTP server down, the dispatcher killed while sending, a recipient
refused at RCPT time (5xx, for all or some recipients of a mail), a mail
accepted and bounced later.  What happened is read from
``mailbot outbox list --json``, from the deployment's SQLite file and from
the recipients' Dovecot inboxes.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from desk import Desk
from mailstack.stack import SECRETARIAT_ADDRESS, UNDELIVERABLE_ADDRESS, MailStack, focal_point_address
from test_e2e_filing import violation_form

FRA, KEN = focal_point_address("FRA"), focal_point_address("KEN")
BOT = "mailbot@example.test"
#: Unknown to the stack: Postfix refuses them with 550 at RCPT time.
NOBODY, NOBODY_TOO = "fp.nobody@example.test", "fp.nobody2@example.test"


# -- helpers ------------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def at(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def outbox(desk: Desk) -> list[dict[str, Any]]:
    rows = json.loads(desk.cli("outbox", "list", "--limit", "1000", "--json").stdout)
    assert isinstance(rows, list)
    return rows


def message_ids(stack: MailStack, user: str) -> list[str]:
    """The Message-IDs of every message in the user's INBOX, duplicates kept."""
    return [str(email.message_from_bytes(raw, policy=email.policy.default)["Message-ID"])
            for raw in stack.fetch_all(user)]


def desk_with_focal_points(stack: MailStack, focal: Sequence[tuple[str, str]]) -> Desk:
    """A deployment whose focal points are exactly ``focal`` (State, address) pairs."""
    desk = Desk(stack, states=sorted({code for code, _ in focal}))
    entries = [f'[[focal_point]]\nstate = "{code}"\naddress = "{address}"\n' for code, address in focal]
    entries += ['[[secretariat]]\naddress = "officer@example.test"\n',
                f'[[secretariat]]\naddress = "{SECRETARIAT_ADDRESS}"\n']
    (desk.root / "focal_points.toml").write_text("\n".join(entries), encoding="utf-8")
    return desk.setup()


def file_report(desk: Desk) -> None:
    """France's focal point reports a violation in Kenya; wait until it is in the bot's inbox."""
    desk.send(FRA, "Please find our report.\n\n" + violation_form(desk), "Violation report")
    desk.stack.wait_for(BOT, 1)


def _smtp_answers(stack: MailStack) -> bool:
    try:
        with socket.create_connection((stack.host, stack.smtp_port), timeout=0.5) as conn:
            return conn.recv(4).startswith(b"220")
    except OSError:
        return False


def _postfix(stack: MailStack, action: str) -> None:
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/bin:/sbin:/bin"
    binary = shutil.which("postfix", path=path)
    assert binary is not None, "postfix not found"
    subprocess.run([binary, "-c", str(stack.root / "pf"), action], stdin=subprocess.DEVNULL,
                   capture_output=True, check=False, timeout=60)


def _wait_smtp(stack: MailStack, up: bool, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while _smtp_answers(stack) != up:
        assert time.monotonic() < deadline, f"Postfix still {'down' if up else 'up'} after {timeout} s"
        time.sleep(0.05)


@contextlib.contextmanager
def postfix_stopped(stack: MailStack) -> Iterator[None]:
    """Stop only the stack's Postfix (Dovecot keeps running); always start it again."""
    _postfix(stack, "stop")
    try:
        _wait_smtp(stack, up=False)
        yield
    finally:
        if not _smtp_answers(stack):
            _postfix(stack, "start")
            _wait_smtp(stack, up=True)


def database(desk: Desk) -> sqlite3.Connection:
    """The deployment's SQLite file, opened beside the CLI (WAL lets both read and write)."""
    conn = sqlite3.connect(desk.root / "data" / "mailbot.db", timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


# -- SMTP down --------------------------------------------------------------------------------


def test_rows_wait_while_smtp_is_down_then_each_mail_is_delivered_once(desk: Desk) -> None:
    file_report(desk)
    with postfix_stopped(desk.stack):
        before = utcnow()
        out = desk.run_once()
        assert "received 1" in out and "sent 0" in out
        rows = outbox(desk)
        assert len(rows) >= 3 and {r["kind"] for r in rows} >= {"circulation", "attention"}
        for row in rows:
            assert row["status"] == "pending", row
            assert row["attempts"] == 1
            assert "connect" in row["error"]
            assert datetime.fromisoformat(row["next_attempt_at"]) > before
            assert set(row["recipients"].values()) == {"pending"}

        # still down, an hour later by the desk's clock: the wait doubles from that time
        later = utcnow() + timedelta(hours=1)
        desk.cli("run", "--once", "--at", at(later))
        for row in outbox(desk):
            assert row["status"] == "pending" and row["attempts"] == 2, row
            assert datetime.fromisoformat(row["next_attempt_at"]) > later

    out = desk.cli("run", "--once", "--at", at(later + timedelta(minutes=1))).stdout
    rows = outbox(desk)
    assert all(r["status"] == "sent" for r in rows), rows
    assert f"sent {len(rows)}" in out
    expected: dict[str, list[str]] = {}
    for row in rows:
        assert set(row["recipients"].values()) == {"sent"}
        for address in row["to"]:
            expected.setdefault(address, []).append(row["message_id"])
    for address, ids in expected.items():
        received = desk.stack.wait_for(address, len(ids))
        got = [str(email.message_from_bytes(r, policy=email.policy.default)["Message-ID"])
               for r in received]
        assert sorted(got) == sorted(ids), address  # each mail exactly once, none twice


# -- killed while sending -------------------------------------------------------------------------


def test_dispatcher_killed_mid_batch_resends_at_most_the_mail_in_flight(mailstack: MailStack) -> None:
    mailstack.purge_all()
    desk = Desk(mailstack, states=mailstack.state_codes).setup()
    deadline = date.today() + timedelta(days=200)
    desk.cli("cycle", "open", "--session", "83", "--deadline", deadline.isoformat())
    db = database(desk)
    total = db.execute("SELECT count(*) FROM outbox WHERE kind = 'circular'").fetchone()[0]
    assert total == len(mailstack.state_codes)

    proc = subprocess.Popen([sys.executable, "-m", "mailbot", "run", "--once"], env=desk.env,
                            cwd=desk.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        limit = time.monotonic() + 60
        while db.execute("SELECT count(*) FROM outbox WHERE status = 'sent'").fetchone()[0] == 0:
            assert proc.poll() is None, "the dispatcher finished before it could be killed"
            assert time.monotonic() < limit, "nothing was sent within 60 s"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(30)
    at_kill = {r["message_id"]: r["status"]
               for r in db.execute("SELECT message_id, status FROM outbox").fetchall()}
    sent_before = {m for m, s in at_kill.items() if s == "sent"}
    in_flight = {m for m, s in at_kill.items() if s == "sending"}
    assert sent_before and in_flight, "the kill must come while rows are being sent"

    desk.cli("run", "--once")  # claimed a moment ago: not taken from the dead dispatcher yet
    assert db.execute("SELECT count(*) FROM outbox WHERE status = 'sending'").fetchone()[0] == len(in_flight)
    desk.cli("run", "--once", "--at", at(utcnow() + timedelta(minutes=11)))
    rows = outbox(desk)
    assert all(r["status"] == "sent" for r in rows), [r for r in rows if r["status"] != "sent"]
    db.close()

    addressed: dict[str, set[str]] = {}
    for row in rows:
        for address in row["to"]:
            addressed.setdefault(address, set()).add(row["message_id"])
    twice: list[str] = []
    for address, ids in addressed.items():
        got = Counter(message_ids(mailstack, address))
        # every mail arrived, and nothing else: a resent copy carries its first copy's Message-ID
        assert set(got) == ids, address
        assert max(got.values()) <= 2, address
        twice += [m for m, n in got.items() if n == 2]
    assert len(twice) <= 1, twice  # one connection, one mail at a time: only one can be in flight
    assert not set(twice) & sent_before


# -- refused at RCPT time (5xx) -----------------------------------------------------------------


def test_refused_recipients_fail_the_row_and_reach_the_secretariat_in_one_digest(
        clean_mailboxes: MailStack) -> None:
    desk = desk_with_focal_points(clean_mailboxes, [
        ("FRA", FRA), ("KEN", KEN), ("DEU", NOBODY),
        ("ESP", focal_point_address("ESP")), ("ESP", NOBODY_TOO),
    ])
    file_report(desk)
    out = desk.run_once()
    assert "failed 1" in out
    rows = {(r["kind"], r["state"]): r for r in outbox(desk)}

    refused = rows[("circulation", "DEU")]
    assert refused["status"] == "failed" and refused["attempts"] == 1
    assert refused["recipients"] == {NOBODY: "refused"}
    assert "550" in refused["error"]

    partial = rows[("circulation", "ESP")]
    assert partial["status"] == "sent"
    assert partial["recipients"] == {focal_point_address("ESP"): "sent", NOBODY_TOO: "refused"}
    assert NOBODY_TOO in partial["error"]
    assert message_ids(desk.stack, focal_point_address("ESP")) == [partial["message_id"]]

    digest = rows[("delivery_failure", None)]
    assert digest["status"] == "sent" and digest["to"] == [SECRETARIAT_ADDRESS]
    received = desk.stack.wait_for(SECRETARIAT_ADDRESS, 1)
    assert len(received) == 1
    text = email.message_from_bytes(received[0], policy=email.policy.default)
    body = str(text.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert NOBODY in body and refused["subject"] in body
    assert NOBODY_TOO in body and partial["key"] in body  # the address the partial mail missed
    assert focal_point_address("ESP") not in body

    # nothing new failed: the next pass sends no second digest
    desk.run_once()
    assert [r["kind"] for r in outbox(desk)].count("delivery_failure") == 1
    assert len(desk.stack.fetch_all(SECRETARIAT_ADDRESS)) == 1


# -- accepted, then bounced -------------------------------------------------------------------


def test_bounce_after_acceptance_marks_the_delivery_and_the_address(clean_mailboxes: MailStack) -> None:
    desk = desk_with_focal_points(clean_mailboxes, [
        ("FRA", FRA), ("KEN", KEN), ("MEX", UNDELIVERABLE_ADDRESS),
    ])
    file_report(desk)
    desk.run_once()
    circulation = next(r for r in outbox(desk) if r["kind"] == "circulation" and r["state"] == "MEX")
    assert circulation["status"] == "sent"
    assert circulation["recipients"] == {UNDELIVERABLE_ADDRESS: "sent"}

    queued = len(outbox(desk))
    desk.stack.wait_for(BOT, 1)  # Postfix's delivery status notification, to our envelope sender
    desk.run_once()
    bounces = json.loads(desk.cli("messages", "list", "--json").stdout)
    assert [m["class"] for m in bounces].count("bounce") == 1
    circulation = next(r for r in outbox(desk) if r["key"] == circulation["key"])
    assert circulation["recipients"] == {UNDELIVERABLE_ADDRESS: "bounced"}
    with contextlib.closing(database(desk)) as db:
        state, count = db.execute("SELECT bounce_state, bounce_count FROM addresses WHERE address = ?",
                                  (UNDELIVERABLE_ADDRESS,)).fetchone()
    assert (state, count) == ("hard", 1)
    # the notification was filed, not left in the inbox, and not answered
    assert desk.stack.fetch_all(BOT, "INBOX") == []
    assert len(outbox(desk)) == queued


def test_a_forged_bounce_changes_no_delivery_record(clean_mailboxes: MailStack) -> None:
    """Anyone can write a delivery report naming a circulation's Message-ID: only one that came
    back to that mail's own return path (VERP) counts."""
    desk = desk_with_focal_points(clean_mailboxes, [("FRA", FRA), ("KEN", KEN)])
    file_report(desk)
    desk.run_once()
    circulation = next(r for r in outbox(desk) if r["kind"] == "circulation" and r["state"] == "KEN")
    assert circulation["recipients"] == {KEN: "sent"}
    sent = [m for m in (email.message_from_bytes(r, policy=email.policy.default)
                        for r in desk.stack.fetch_all(KEN)) if "11 (b)" in str(m["Subject"])]
    assert len(sent) == 1
    assert "+b-" in str(sent[0]["Return-Path"])  # the mail went out with its own return path
    forged = (f"From: MAILER-DAEMON@elsewhere.example\r\nTo: {BOT}\r\n"
              "Subject: Undelivered Mail Returned to Sender\r\n"
              "Message-ID: <forged-dsn@elsewhere.example>\r\nMIME-Version: 1.0\r\n"
              "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
              "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
              "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
              "Reporting-MTA: dns; elsewhere.example\r\n\r\n"
              f"Final-Recipient: rfc822; {KEN}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
              "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
              f"Message-ID: {sent[0]['Message-ID']}\r\n--B--\r\n").encode()
    desk.stack.send(forged, "attacker@elsewhere.example", BOT, dkim=None)
    desk.stack.wait_for(BOT, 1)
    desk.run_once()
    listed = json.loads(desk.cli("messages", "list", "--json").stdout)
    dsn = next(m for m in listed if m["class"] == "bounce")
    assert "not addressed to a return path of ours" in dsn["reason"]
    circulation = next(r for r in outbox(desk) if r["key"] == circulation["key"])
    assert circulation["recipients"] == {KEN: "sent"}
    with contextlib.closing(database(desk)) as db:
        row = db.execute("SELECT bounce_state FROM addresses WHERE address = ?", (KEN,)).fetchone()
    assert row is None or row[0] == "ok"
