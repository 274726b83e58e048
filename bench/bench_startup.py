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

``--compare DIR`` also times another source tree of mailbot (for instance the
commit before a change, from ``git archive``), its runs alternating with this
tree's so that both see the same load on the machine; both then run as
``python -S -m mailbot`` with the tree and site-packages on ``PYTHONPATH``
(``-S``: no ``.pth`` files, so the editable install does not shadow the tree).

Run: .venv/bin/python bench/bench_startup.py [--runs 7] [--rounds 3] [--messages 1000]
                                             [--compare DIR]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Corpus, append_all, desk_catalog, inbox_count, make_desk
from desk import Desk
from mailstack.stack import MailStack

PROJECT = Path(__file__).resolve().parents[1]

#: The goals of the four figures (seconds, seconds, seconds, messages per second).
GOALS = {"help": 0.2, "incidents": 0.4, "idle_run": 0.6, "corpus_rate": 300.0}


@dataclass(frozen=True)
class Target:
    """A way to start ``mailbot``: its command and the environment it adds."""

    label: str
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


def installed() -> Target:
    """The installed ``mailbot`` script beside this Python, else ``python -m mailbot``."""
    script = Path(sys.executable).with_name("mailbot")
    command = (str(script),) if script.exists() else (sys.executable, "-m", "mailbot")
    return Target("this tree", command)


def from_tree(label: str, tree: Path) -> Target:
    """``python -S -m mailbot`` with ``tree`` first on the path (see the module's docstring)."""
    site = [p for p in sys.path if p.endswith("site-packages")]
    return Target(label, (sys.executable, "-S", "-m", "mailbot"),
                  {"PYTHONPATH": os.pathsep.join([str(tree.resolve()), *site])})


def timed(target: Target, args: Sequence[str], desk: Desk, env: dict[str, str] | None = None) -> float:
    """Wall seconds of one ``mailbot`` process; it must exit 0."""
    started = time.perf_counter()
    proc = subprocess.run([*target.command, *args], env={**desk.env, **target.env, **(env or {})},
                          cwd=desk.root, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"{target.label}: mailbot {' '.join(args)} exited {proc.returncode}:\n"
                           f"{proc.stderr[-3000:]}")
    return elapsed


def medians(targets: Sequence[Target], runs: int, args: Sequence[str], desk: Desk) -> list[float]:
    """Median wall time of each target over ``runs`` runs, alternated (after one warm-up each)."""
    times: list[list[float]] = [[] for _ in targets]
    for target in targets:
        timed(target, args, desk)
    for _ in range(runs):
        for i, target in enumerate(targets):
            times[i].append(timed(target, args, desk))
    return [statistics.median(t) for t in times]


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def corpus_rates(stack: MailStack, corpus: list[bytes], rounds: int,
                 targets: Sequence[Target]) -> list[float]:
    """Messages per second of a whole ``run --once`` on the corpus, per target (median of
    ``rounds``; the targets alternate, each round on a fresh desk and a freshly filled inbox)."""
    rates: list[list[float]] = [[] for _ in targets]
    for _ in range(rounds):
        for i, target in enumerate(targets):
            desk = make_desk(stack)
            stack.purge_all()
            append_all(stack, corpus)
            elapsed = timed(target, ["run", "--once"], desk,
                            {"MAILBOT_SMTP__PORT": str(closed_port())})
            left = inbox_count(stack)
            rates[i].append(len(corpus) / elapsed)
            print(f"  {target.label}: run --once on {len(corpus)} messages: {elapsed:.2f} s = "
                  f"{len(corpus) / elapsed:.0f} msg/s (inbox left {left})", flush=True)
    stack.purge_all()
    return [statistics.median(r) for r in rates]


def verdict(value: float, goal: float, higher_is_better: bool = False) -> str:
    met = value >= goal if higher_is_better else value <= goal
    return "met" if met else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description="start-up time of the command line")
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (median)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the corpus run")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="another source tree of mailbot to time alongside (e.g. the commit before)")
    args = parser.parse_args()
    targets = ([from_tree("this tree", PROJECT), from_tree(f"{args.compare}", args.compare)]
               if args.compare else [installed()])
    figures: dict[str, list[float]] = {}
    with MailStack() as stack:
        desk = make_desk(stack)
        stack.purge_all()
        print(f"desk: {desk.root}; " + "; ".join(f"{t.label}: {' '.join(t.command)}" for t in targets),
              flush=True)
        for name, command in (("help", ["--help"]), ("incidents", ["incidents", "list"]),
                              ("idle_run", ["run", "--once"])):
            figures[name] = medians(targets, args.runs, command, desk)
            print(f"mailbot {' '.join(command)}: " + ", ".join(
                f"{t.label} {v:.3f} s" for t, v in zip(targets, figures[name], strict=True)),
                flush=True)
        corpus = Corpus(desk_catalog(desk)).build(args.messages)
        figures["corpus_rate"] = corpus_rates(stack, corpus, args.rounds, targets)
    print("\nresult (median; goal):")
    for i, target in enumerate(targets):
        print(f"  {target.label}:")
        print(f"    --help                {figures['help'][i]:.2f} s  (<= {GOALS['help']} s: "
              f"{verdict(figures['help'][i], GOALS['help'])})")
        print(f"    incidents list        {figures['incidents'][i]:.2f} s  (<= {GOALS['incidents']} s: "
              f"{verdict(figures['incidents'][i], GOALS['incidents'])})")
        print(f"    run --once, idle      {figures['idle_run'][i]:.2f} s  (<= {GOALS['idle_run']} s: "
              f"{verdict(figures['idle_run'][i], GOALS['idle_run'])})")
        print(f"    run --once, corpus    {figures['corpus_rate'][i]:.0f} msg/s "
              f"(>= {GOALS['corpus_rate']:.0f}: "
              f"{verdict(figures['corpus_rate'][i], GOALS['corpus_rate'], higher_is_better=True)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
