"""Latency with IDLE: from Postfix accepting a message to the desk's commit of it.

Place in the project: a benchmark (prints numbers, not a test).  It starts the
loopback mail stack and a fresh desk, then the long-running service
(``python -m mailbot run``, a subprocess, as a user runs it), which watches the
inbox with IMAP IDLE (polling only every 30 s as the safety net).  It sends
messages one at a time through Postfix (smtplib over STARTTLS, one reused
connection); for each it takes the moment ``sendmail`` returns (Postfix has
queued the message: it accepted it) and polls the desk's SQLite ``messages``
table every 2 ms for the Message-ID; the row appears only with the intake
transaction's commit.  It waits for each commit, then ``--gap`` seconds (so
the watcher has moved the mail and is back in IDLE), before sending the next;
with ``--gap 0`` a message often arrives while the watcher is still busy and
is found by its next SEARCH without IDLE.
The mix is the intake benchmark's (forms, letters, unknown senders,
out-of-office replies), so the service also dispatches replies between
messages, as it would in production.

Run: .venv/bin/python bench/bench_latency.py [--messages 100]
"""

from __future__ import annotations

import argparse
import email
import email.policy
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MIX, Corpus, desk_catalog, make_desk, percentile
from mailstack.stack import BOT_ADDRESS, MailStack


def wait_for_line(log: Path, pattern: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and re.search(pattern, log.read_text(errors="replace")):
            return
        time.sleep(0.05)
    raise TimeoutError(f"no {pattern!r} in {log} after {timeout} s:\n{log.read_text()[-3000:]}")


def wait_for_commit(db: sqlite3.Connection, message_id: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.execute("SELECT 1 FROM messages WHERE message_id = ?", (message_id,)).fetchone()
        if row is not None:
            return time.monotonic()
        time.sleep(0.002)
    raise TimeoutError(f"{message_id} not committed after {timeout} s")


def main() -> int:
    parser = argparse.ArgumentParser(description="IDLE latency: Postfix accepted -> desk committed")
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.5,
                        help="pause after each commit, so the watcher is back in IDLE (0: back to back)")
    args = parser.parse_args()
    with MailStack() as stack:
        desk = make_desk(stack)
        corpus = Corpus(desk_catalog(desk), seed=31)
        kinds = [k for k, _ in MIX]
        weights = [w for _, w in MIX]
        log = desk.root / "service.log"
        with log.open("wb") as out:
            service = subprocess.Popen([sys.executable, "-m", "mailbot", "run"], env=desk.env,
                                       cwd=desk.root, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT)
        latencies: list[float] = []
        try:
            wait_for_line(log, "mailbot running", 30)
            time.sleep(1.0)  # the watcher's first drain is done and it sits in IDLE
            db = sqlite3.connect(f"file:{desk.root / 'data' / 'mailbot.db'}?mode=ro", uri=True)
            with stack.smtp() as smtp:
                for i in range(args.messages):
                    kind = corpus.rng.choices(kinds, weights)[0]
                    if kind == "follow_up" and corpus.violations == 0:
                        kind = "violation"
                    msg = corpus.make(kind, i)
                    # signed as the focal point's own server signs it: the desk proves the sender
                    raw = stack.sign(msg.as_bytes(policy=email.policy.SMTP))
                    smtp.sendmail(str(msg["From"]), [BOT_ADDRESS], raw)
                    accepted = time.monotonic()
                    committed = wait_for_commit(db, str(msg["Message-ID"]), 30)
                    latencies.append(committed - accepted)
                    time.sleep(args.gap)
            db.close()
        finally:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
        ms = [x * 1000 for x in latencies]
        print(f"{len(ms)} messages, one at a time ({args.gap:.1f} s after each commit), Postfix "
              f"accepted (sendmail returned) -> commit seen in SQLite")
        print(f"median {statistics.median(ms):.0f} ms, p90 {percentile(ms, 90):.0f} ms, "
              f"p99 {percentile(ms, 99):.0f} ms, min {min(ms):.0f} ms, max {max(ms):.0f} ms; "
              f"target median < 1000 ms")
        print(f"service log: {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
