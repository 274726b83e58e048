"""Start-up: how long the command line takes before it does anything, and a whole ``run --once``.

Place in the project: a benchmark (prints numbers, not a test).  Each figure is
the wall time of a ``mailbot`` process, run as a subprocess the way a person
runs it, the median of several runs:

1. ``mailbot --help``;
2. ``mailbot incidents list`` on a fresh, empty but upgraded SQLite database;
3. ``mailbot run --once`` with nothing to do: an empty inbox in the loopback
   Dovecot of ``tests/mailstack`` and an empty outbox;
4. ``mailbot run --once`` on the 1,000-message corpus of ``bench_intake``
   (start-up, intake and the dispatch stage, with SMTP pointed at a closed
   loopback port as in ``bench_intake``, so nothing is sent); printed as
   messages per second of the whole process.

Each desk is a fresh deployment (config file, database upgraded, States
imported) built as ``tests/integration/desk.py`` builds one.

Run: .venv/bin/python bench/bench_startup.py [--runs 7] [--rounds 3] [--messages 1000]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Corpus, append_all, desk_catalog, inbox_count, make_desk
from desk import Desk
from mailstack.stack import MailStack

#: The goals of the four figures (seconds, seconds, seconds, messages per second).
GOALS = {"help": 0.2, "incidents": 0.4, "idle_run": 0.6, "corpus_rate": 300.0}


def mailbot_command() -> list[str]:
    """The installed ``mailbot`` script beside this Python, else ``python -m mailbot``."""
    script = Path(sys.executable).with_name("mailbot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mailbot"]


def timed(args: Sequence[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one ``mailbot`` process; it must exit 0."""
    started = time.perf_counter()
    proc = subprocess.run([*mailbot_command(), *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"mailbot {' '.join(args)} exited {proc.returncode}:\n"
                           f"{proc.stderr[-3000:]}")
    return elapsed


def median_of(runs: int, args: Sequence[str], desk: Desk) -> tuple[float, float]:
    """Median and minimum wall time of ``runs`` runs (after one unmeasured warm-up)."""
    timed(args, desk.env, desk.root)
    times = [timed(args, desk.env, desk.root) for _ in range(runs)]
    return statistics.median(times), min(times)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def corpus_rate(stack: MailStack, corpus: list[bytes], rounds: int) -> tuple[float, float, float]:
    """Messages per second of a whole ``run --once`` on the corpus: median, min, max of rounds."""
    rates = []
    for _ in range(rounds):
        desk = make_desk(stack)
        stack.purge_all()
        append_all(stack, corpus)
        env = {**desk.env, "MAILBOT_SMTP__PORT": str(closed_port())}
        started = time.perf_counter()
        proc = subprocess.run([*mailbot_command(), "run", "--once"], env=env, cwd=desk.root,
                              capture_output=True, text=True, timeout=900)
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"run --once exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        left = inbox_count(stack)
        rates.append(len(corpus) / elapsed)
        print(f"  run --once on {len(corpus)} messages: {elapsed:.2f} s = "
              f"{len(corpus) / elapsed:.0f} msg/s (inbox left {left})", flush=True)
    stack.purge_all()
    return statistics.median(rates), min(rates), max(rates)


def verdict(value: float, goal: float, higher_is_better: bool = False) -> str:
    met = value >= goal if higher_is_better else value <= goal
    return "met" if met else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description="start-up time of the command line")
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (median)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the corpus run")
    parser.add_argument("--messages", type=int, default=1000)
    args = parser.parse_args()
    with MailStack() as stack:
        desk = make_desk(stack)
        stack.purge_all()
        print(f"desk: {desk.root}; command: {' '.join(mailbot_command())}", flush=True)
        help_s = median_of(args.runs, ["--help"], desk)
        print(f"mailbot --help:                {help_s[0]:.3f} s (min {help_s[1]:.3f})", flush=True)
        inc_s = median_of(args.runs, ["incidents", "list"], desk)
        print(f"mailbot incidents list (empty): {inc_s[0]:.3f} s (min {inc_s[1]:.3f})", flush=True)
        idle_s = median_of(args.runs, ["run", "--once"], desk)
        print(f"mailbot run --once (nothing):  {idle_s[0]:.3f} s (min {idle_s[1]:.3f})", flush=True)
        corpus = Corpus(desk_catalog(desk)).build(args.messages)
        rate = corpus_rate(stack, corpus, args.rounds)
        print(f"mailbot run --once on the corpus: {rate[0]:.0f} msg/s (median of {args.rounds}; "
              f"{rate[1]:.0f} to {rate[2]:.0f})")
    print("\nresult (median; goal):")
    print(f"  --help                {help_s[0]:.2f} s  (<= {GOALS['help']} s: "
          f"{verdict(help_s[0], GOALS['help'])})")
    print(f"  incidents list        {inc_s[0]:.2f} s  (<= {GOALS['incidents']} s: "
          f"{verdict(inc_s[0], GOALS['incidents'])})")
    print(f"  run --once, idle      {idle_s[0]:.2f} s  (<= {GOALS['idle_run']} s: "
          f"{verdict(idle_s[0], GOALS['idle_run'])})")
    print(f"  run --once, corpus    {rate[0]:.0f} msg/s (>= {GOALS['corpus_rate']:.0f}: "
          f"{verdict(rate[0], GOALS['corpus_rate'], higher_is_better=True)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
