"""Intake throughput: a backlog of mixed mail in the real Dovecot inbox, filed until it is empty.

Place in the project: a benchmark (prints numbers, not a test).  It starts the
loopback mail stack and a fresh desk (SQLite), APPENDs a corpus of mixed mail
(default 1,000 messages of about 10 KB of text, every fifth with a 20 KB PDF or
photo; focal points with valid violation, follow-up and views forms, forms with
errors, unknown senders, out-of-office replies, letters with the desk in copy)
to the inbox of mailbot@example.test, then runs in a child process the first
stage of ``mailbot run --once``: ``Watcher.run_once`` with ``Service.handle``
(fetch in batches, store raw, parse, classify, file, write outbox rows, commit,
move).  That stage is timed alone; the dispatch stage that follows is timed
separately with SMTP pointed at a closed loopback port, so no replies are sent
and it gives up at once (the rows stay queued).  Peak RSS is the child's
``VmHWM`` (/proc) at the end of intake.

The floor, in the same run: the corpus is APPENDed again and a second child
does a bare imapclient fetch in batches of 100 plus
``email.message_from_bytes(raw, policy=email.policy.default)`` of each message.

The two are run in turn, three rounds by default (``--rounds``), each on a fresh
desk and a freshly filled inbox; the result is the median of the rounds (this
machine's speed drifts by 10 to 30 % from one minute to the next).

Run: .venv/bin/python bench/bench_intake.py [--messages 1000] [--rounds 3] [--profile out.prof]
"""

from __future__ import annotations

import argparse
import socket
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Corpus,
    append_all,
    desk_catalog,
    inbox_count,
    make_desk,
    run_child,
)
from desk import Desk
from mailstack.stack import MailStack


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def table_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
                for t in ("messages", "submissions", "incidents", "outbox", "attachments")}


def run_intake(stack: MailStack, desk: Desk, corpus: list[bytes], profile: str,
               detail: bool) -> float:
    """One round's intake, on a fresh desk; its rate (printed whole when ``detail``)."""
    append_all(stack, corpus)
    result = run_child("intake", desk, "--dispatch", *(["--profile", profile] if profile else []),
                       env={"MAILBOT_SMTP__PORT": str(closed_port())})
    left = inbox_count(stack)
    rate = float(result["handled"] / result["intake_s"])
    print(f"intake: {result['handled']} messages in {result['intake_s']:.2f} s = {rate:.0f} msg/s; "
          f"peak RSS {result['peak_rss_mb']:.0f} MiB (start {result['rss_start_mb']:.0f}); "
          f"inbox left {left}")
    spent = result["spent_s"]
    print(f"  CPU: the service process {result['process_cpu_s']:.2f} s (all its threads), "
          f"the worker process {result['worker_cpu_s']:.2f} s "
          f"({result['worker_sys_s']:.2f} s of it in the kernel)")
    print(f"  watcher thread: CPU {result['watcher_cpu_s']:.2f} s; "
          f"filing (handle) {spent['handle']:.2f} s with {spent['handle_cpu']:.2f} s CPU "
          f"(waiting for the worker "
          f"{spent.get('take', 0.0):.2f} s), "
          f"IMAP fetch here {spent.get('fetch', 0.0):.2f} s, waiting for the worker's fetch "
          f"{spent.get('fetched', 0.0):.2f} s, move {spent['move']:.2f} s, "
          f"barrier (sync) {spent['before_move']:.2f} s, "
          f"hand-over {spent.get('on_fetched', 0.0):.2f} s")
    if not detail:
        return rate
    setup = sum(spent.get(k, 0.0) for k in ("connect", "ensure_folders", "select_inbox",
                                              "pending_uids", "sizes", "close"))
    print(f"  ... connect, folders, SEARCH, sizes and logout {setup:.2f} s; asking ahead "
          f"{spent.get('fetch_ahead', 0.0):.2f} s; starting the worker "
          f"{result['worker_start_s']:.2f} s")
    ahead = result["parse_ahead"]
    print(f"  parse-ahead: {ahead['used']} read by the worker, {ahead['missed']} by the service; "
          f"worker peak RSS {result['worker_peak_rss_mb']} MiB; "
          f"{ahead['checkpoints']} WAL checkpoints on their own thread")
    print(f"  outcomes: {dict(sorted(result['outcomes'].items()))}")
    print(f"  rows: {table_counts(desk.root / 'data' / 'mailbot.db')}")
    print(f"dispatch (SMTP at a closed port, skipped): {result['dispatch_s']:.2f} s "
          f"(sent {result['sent']}, retrying {result['retried']}, failed {result['failed']})")
    print(f"desk: {desk.root}")
    return rate


def run_floor(stack: MailStack, desk: Desk, corpus: list[bytes]) -> float:
    """The floor over the same corpus, in a fresh inbox (the desk gives only the settings)."""
    append_all(stack, corpus)
    time.sleep(0.2)
    floor = run_child("floor", desk, "--batch", "100")
    rate = float(floor["handled"] / floor["intake_s"])
    print(f"floor: {floor['handled']} messages in {floor['intake_s']:.2f} s = {rate:.0f} msg/s; "
          f"peak RSS {floor['peak_rss_mb']:.0f} MiB")
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description="intake throughput against the loopback mail stack")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="intake and floor, alternated, this many times (each on a fresh desk)")
    parser.add_argument("--profile", default="", help="write a cProfile of the first intake here")
    args = parser.parse_args()
    n = args.messages
    with MailStack() as stack:
        desk = make_desk(stack)  # the first round's (its path is printed)
        others: list[Desk] = []
        corpus = Corpus(desk_catalog(desk)).build(n)
        size = sum(len(r) for r in corpus)
        print(f"corpus: {n} messages, {size / 1e6:.1f} MB, mean {size / n / 1024:.1f} KiB")
        started = time.perf_counter()
        append_all(stack, corpus)
        print(f"APPEND (MULTIAPPEND, 200 a command): {time.perf_counter() - started:.1f} s; "
              f"inbox holds {inbox_count(stack)}")
        stack.purge_all()
        ratios: list[float] = []
        rates: list[float] = []
        for round_no in range(args.rounds):
            if args.rounds > 1:
                print(f"-- round {round_no + 1} of {args.rounds}")
            if round_no:
                desk = make_desk(stack)
                others.append(desk)
            rate = run_intake(stack, desk, corpus, args.profile if round_no == 0 else "",
                              round_no == 0)
            stack.purge_all()
            floor_rate = run_floor(stack, desk, corpus)
            stack.purge_all()
            rates.append(rate)
            ratios.append(rate / floor_rate)
            print(f"intake / floor: {rate / floor_rate:.2f} (floor is {floor_rate / rate:.1f}x faster)")
        # left in place, as the first round's: on a file system mounted with "discard" (this
        # machine's), deleting their files slows the writes of the next minute or so, which
        # would be the next round's or the next benchmark's
        print(f"the other rounds' desks: {' '.join(str(d.root) for d in others)}")
        print(f"result over {args.rounds} round(s): intake {statistics.median(rates):.0f} msg/s "
              f"(median; {min(rates):.0f} to {max(rates):.0f}), intake / floor "
              f"{statistics.median(ratios):.2f} (median; {min(ratios):.2f} to {max(ratios):.2f}); "
              "target >= 260 msg/s and within 2x of the floor (>= 0.50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
