"""Memory of intake: one 25 MB message, and a backlog of 10,000 small ones.

Place in the project: a benchmark (prints numbers, not a test).  Both parts run
the first stage of ``mailbot run --once`` (``Watcher.run_once`` with
``Service.handle``) in a child process against the loopback mail stack and a
fresh desk, and report that process's RSS (``/proc/self/status``) and peak RSS
(``VmHWM``; ``getrusage``'s ``ru_maxrss`` would include the
forked parent's RSS, which Linux carries across exec).

(a) A focal point's report with a scanned annex: a one-page PDF holding an
    18 MB image, about 25 MB on the wire once base64-encoded.
(b) A backlog of small letters (copies of States' letters, out-of-office
    replies, strangers' questions) APPENDed with MULTIAPPEND, filed until the
    inbox is empty, with the RSS sampled every 1,000 messages: memory should
    not grow with the backlog.

Run: .venv/bin/python bench/bench_memory.py [--backlog 10000] [--big-mb 18]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Corpus,
    append_all,
    desk_catalog,
    inbox_count,
    make_desk,
    run_child,
    scanned_pdf_bytes,
    small_message,
)
from desk import Desk
from mailstack.stack import MailStack


def big_message(desk: Desk, annex_mb: int) -> bytes:
    corpus = Corpus(desk_catalog(desk), seed=25)
    msg: EmailMessage = corpus.make("violation", 0)
    pdf = scanned_pdf_bytes(random.Random(25), annex_mb * 1024 * 1024)
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="annex-scan.pdf")
    return msg.as_bytes()


def part_a(stack: MailStack, annex_mb: int) -> None:
    desk = make_desk(stack)
    raw = big_message(desk, annex_mb)
    append_all(stack, [raw])
    result = run_child("intake", desk)
    print(f"(a) one message of {len(raw) / 1e6:.1f} MB ({annex_mb} MiB PDF annex): "
          f"handled {result['handled']} {dict(result['outcomes'])} in {result['intake_s']:.2f} s; "
          f"peak RSS {result['peak_rss_mb']:.0f} MiB (RSS before intake {result['rss_start_mb']:.0f}, "
          f"after {result['rss_end_mb']:.0f}); target < 250 MiB")
    print(f"    (a single message is parsed by the service; the parse-ahead worker, idle, peaked at "
          f"{result['worker_peak_rss_mb']} MiB)")


def part_b(stack: MailStack, backlog: int) -> None:
    stack.purge_all()
    desk = make_desk(stack)
    raws = [small_message(i) for i in range(backlog)]
    took = append_all(stack, raws, chunk=500)
    print(f"(b) backlog of {backlog} small messages ({sum(map(len, raws)) / 1e6:.1f} MB), "
          f"APPENDed in {took:.1f} s; inbox holds {inbox_count(stack)}")
    started = time.perf_counter()
    result = run_child("intake", desk, "--sample-every", str(max(backlog // 10, 1)), timeout=1200)
    wall = time.perf_counter() - started
    print(f"    handled {result['handled']} in {result['intake_s']:.1f} s "
          f"({result['handled'] / result['intake_s']:.0f} msg/s; child wall {wall:.1f} s), "
          f"outcomes {dict(sorted(result['outcomes'].items()))}; inbox left {inbox_count(stack)}")
    samples = ", ".join(f"{n}: {rss:.0f}" for n, rss in result["samples"])
    print(f"    RSS (MiB) after n processed: {samples}")
    print(f"    RSS before intake {result['rss_start_mb']:.0f} MiB, peak {result['peak_rss_mb']:.0f} MiB; "
          f"parse-ahead worker peak {result['worker_peak_rss_mb']} MiB "
          f"({result['parse_ahead']['used']} messages read by it)")


def main() -> int:
    parser = argparse.ArgumentParser(description="intake memory: one big message, a long backlog")
    parser.add_argument("--backlog", type=int, default=10_000)
    parser.add_argument("--big-mb", type=int, default=18, help="size of the PDF annex in MiB")
    parser.add_argument("--skip-big", action="store_true")
    args = parser.parse_args()
    with MailStack() as stack:
        if not args.skip_big:
            part_a(stack, args.big_mb)
        if args.backlog:
            part_b(stack, args.backlog)
    return 0


if __name__ == "__main__":
    sys.exit(main())
