"""Exactly once: the service killed with SIGKILL at random moments files every message once.

Several hundred messages are put into the desk's inbox on the real Dovecot;
``mailbot run`` (IDLE) runs as a subprocess and is killed with SIGKILL at
random moments, at least ten times, and restarted each time.  Afterwards
every message is recorded exactly once, the inbox is empty, and every
message sits in exactly one outcome folder.  Also: every fixture of
``tests/fixtures/eml`` and every message of CPython's own email test data
goes through the real mailbox without crashing the service.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import sysconfig
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from desk import Desk
from imapclient import IMAPClient

BOT = "mailbot@example.test"
OUTCOME_FOLDERS = ("Processed", "Quarantine", "Ignored")
EML = Path(__file__).resolve().parents[1] / "fixtures" / "eml"


def corpus(n: int) -> list[bytes]:
    """A mix the desk treats differently: auto-replies, list mail, letters, unknown senders."""
    out = []
    for i in range(n):
        msg = EmailMessage()
        kind = i % 4
        msg["From"] = ("fp.fra@example.test", "news@list.example.org", "officer@example.test",
                       f"stranger{i}@elsewhere.example")[kind]
        msg["To"] = BOT
        msg["Subject"] = f"Message {i}"
        if i % 25 != 7:  # a few have no Message-ID: they are keyed by their content hash
            msg["Message-ID"] = f"<kill-{i}@sender.example.test>"
        if kind == 0:
            msg["Auto-Submitted"] = "auto-replied"
        if kind == 1:
            msg["List-Id"] = "<news.list.example.org>"
        msg.set_content(f"Body of message {i}.\n" + "text " * 200)
        out.append(bytes(msg))
    return out


def append_all(client: IMAPClient, messages: list[bytes]) -> None:
    for raw in messages:
        client.append("INBOX", raw)


def folder_message_keys(client: IMAPClient) -> dict[str, list[str]]:
    """Message-ID (or a body marker) of every message in each outcome folder and the inbox."""
    found: dict[str, list[str]] = {}
    for folder in ("INBOX", *OUTCOME_FOLDERS):
        if not client.folder_exists(folder):
            found[folder] = []
            continue
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        keys = []
        if uids:
            for data in client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID SUBJECT)]"]).values():
                keys.append(bytes(data[b"BODY[HEADER.FIELDS (MESSAGE-ID SUBJECT)]"]).decode().strip())
        found[folder] = keys
    return found


def start_service(desk: Desk) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "mailbot", "run"], env=desk.env, cwd=desk.root,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def inbox_count(desk: Desk) -> int:
    with desk.stack.imap(BOT) as client:
        return int(client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"])


@pytest.mark.slow
def test_sigkill_at_random_moments_files_each_message_once(desk: Desk) -> None:
    rng = random.Random(6131)
    messages = corpus(300)
    with desk.stack.imap(BOT) as client:
        append_all(client, messages)
    kills = 0
    deadline = time.monotonic() + 240
    while kills < 12 and time.monotonic() < deadline:
        proc = start_service(desk)
        time.sleep(rng.uniform(0.8, 2.5))  # python start-up is ~0.5 s: kill mid-work
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        if kills == 6:  # a second delivery of some messages half-way through
            with desk.stack.imap(BOT) as client:
                append_all(client, messages[:10])
    assert kills >= 10
    # let the service finish the backlog, then stop it politely
    proc = start_service(desk)
    try:
        end = time.monotonic() + 120
        while inbox_count(desk) and time.monotonic() < end:
            time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert inbox_count(desk) == 0

    rows = json.loads(desk.cli("messages", "list", "--limit", "5000", "--json").stdout)
    keys = [r["message_id"] for r in rows]
    assert len(keys) == len(set(keys)) == len(messages), "each message recorded exactly once"
    with desk.stack.imap(BOT) as client:
        placed = folder_message_keys(client)
    assert placed["INBOX"] == []
    everywhere = [k for f in OUTCOME_FOLDERS for k in placed[f]]
    # 300 originals + 10 second deliveries: every original in exactly one folder,
    # the second copies in Ignored
    assert len(everywhere) == len(messages) + 10
    originals = [k for f in ("Processed", "Quarantine") for k in placed[f]]
    assert len(originals) == len(set(originals))
    statuses = {r["status"] for r in rows}
    assert statuses <= {"processed", "held", "corrected", "ignored", "quarantined", "duplicate"}


def test_bad_input_and_cpython_email_corpus_end_in_exactly_one_folder(desk: Desk) -> None:
    raws = [p.read_bytes() for p in sorted(EML.glob("*.eml"))]
    data = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    cpython = sorted(data.glob("msg_*.txt"))
    print(f"CPython email test messages found: {len(cpython)} in {data}")
    raws += [p.read_bytes() for p in cpython]
    sys.path.insert(0, str(EML))
    from make_fixtures import big_message  # type: ignore[import-not-found]

    raws.append(big_message())  # 30 MB
    with desk.stack.imap(BOT) as client:
        for raw in raws:
            client.append("INBOX", raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    out = desk.run_once()
    assert "received" in out
    with desk.stack.imap(BOT) as client:
        counts = {}
        for folder in ("INBOX", *OUTCOME_FOLDERS):
            counts[folder] = int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])
    assert counts["INBOX"] == 0
    assert sum(counts[f] for f in OUTCOME_FOLDERS) == len(raws)
    quarantined = json.loads(desk.cli("messages", "list", "--status", "quarantined",
                                      "--json", "--limit", "500").stdout)
    assert all(q["reason"] for q in quarantined)  # each says why


def test_messages_show_explains_the_decision(desk: Desk) -> None:
    desk.send("fp.fra@example.test", "No form here, just greetings.", "Greetings")
    desk.run_once()
    row = json.loads(desk.cli("messages", "list", "--json").stdout)[0]
    shown = json.loads(desk.cli("messages", "show", str(row["id"]), "--json").stdout)
    assert shown["class"] == "state" and "from-focal-point" in shown["rules"]
    assert shown["status"] == "corrected" and shown["locations"]
    assert os.path.exists(shown["blob"])
