"""Time the circulation of one violation report to every State through the real Postfix.

Starts the loopback mail stack (``tests/mailstack``), sets up a desk with a
focal point for every State of ``config/states.toml``, has France's focal point
send a violation report, files it (intake over IMAP, in this process), and
then times :meth:`Dispatcher.dispatch` until every queued row is sent: the
acknowledgement, the notice to the host State and one circulation per other
State (about 194 mails).  For comparison it then sends the very same mails
the naive way -- a new SMTP connection with STARTTLS for each mail -- in the
same run, against the same server.

Run: .venv/bin/python bench/bench_circulation.py [--repeat R]   (needs root: it starts the stack)
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import time
from pathlib import Path

import aiosmtplib
from sqlalchemy import select, update

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from desk import Desk  # noqa: E402
from mailstack.stack import MailStack, focal_point_address  # noqa: E402

from mailbot.config import load_settings  # noqa: E402
from mailbot.domain.forms import FormKind, render_blank  # noqa: E402
from mailbot.mail.imap import Watcher  # noqa: E402
from mailbot.mail.tls import tls_context  # noqa: E402
from mailbot.service.app import App  # noqa: E402
from mailbot.service.clock import utcnow  # noqa: E402
from mailbot.service.outbox import Dispatcher  # noqa: E402
from mailbot.service.registry import catalog  # noqa: E402
from mailbot.service.runner import Service  # noqa: E402
from mailbot.store.db import transaction  # noqa: E402
from mailbot.store.tables import OutboxMessage, OutboxRecipient  # noqa: E402

#: Hard bound on one timed pass, in seconds (the target is under 3 s).
PASS_TIMEOUT = 120.0


def violation_report(app: App) -> str:
    values = {
        "reporting_state": "France", "date": "2026-11-20", "place": "Nairobi, Riverside Drive",
        "host_state": "Kenya", "affected": "Embassy of France in Nairobi",
        "affected_kind": "diplomatic_mission", "sending_state": "France",
        "description": "Demonstrators forced the gate and damaged the consular section.",
        "persons_harmed": "One guard injured.", "offenders": "Unknown persons",
        "measures_taken": "Police called.", "circulate": "yes", "contact": focal_point_address("FRA"),
    }
    return render_blank(catalog(app.settings), FormKind.VIOLATION, "en", values)


def file_report(desk: Desk, app: App) -> int:
    """Send the report through Postfix and file it in-process; returns the rows queued."""
    desk.send(focal_point_address("FRA"), violation_report(app), "Violation report")
    desk.stack.wait_for("mailbot@example.test", 1)
    service = Service(app)
    Watcher(app.settings.mailbox, service.handle).run_once()
    with app.sessions() as session:
        return len(list(session.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "pending"))))


def requeue(app: App) -> None:
    """Put every row back to pending, so the same mails can be timed again."""
    with transaction(app.sessions) as session:
        session.execute(update(OutboxMessage).values(status="pending", sent_at=None, claimed_at=None,
                                                     claimed_by=None, attempts=0))
        session.execute(update(OutboxRecipient).values(status="pending", detail=None))


async def dispatch_all(app: App) -> tuple[float, int]:
    """Time the dispatcher until nothing is left to send; returns (seconds, sent)."""
    dispatcher = Dispatcher(app)
    sent = 0
    start = time.perf_counter()
    while time.perf_counter() - start < PASS_TIMEOUT:
        stats = await dispatcher.dispatch(utcnow())
        sent += stats.sent
        if stats.sent + stats.retried + stats.failed == 0:
            break
    return time.perf_counter() - start, sent


async def naive(app: App, mails: list[tuple[list[str], bytes]]) -> float:
    """The same mails, one new connection (with STARTTLS) per mail."""
    s = app.settings.smtp
    ctx = tls_context(s.ca_file)
    start = time.perf_counter()
    for recipients, raw in mails:
        await aiosmtplib.send(raw, sender=s.from_address, recipients=recipients, hostname=s.host,
                              port=s.port, start_tls=True, tls_context=ctx, timeout=s.timeout)
        if time.perf_counter() - start > PASS_TIMEOUT:
            raise TimeoutError("naive sending took too long")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes of each way (max 5)")
    args = parser.parse_args()
    repeat = max(1, min(args.repeat, 5))
    with MailStack() as stack:
        desk = Desk(stack, states=stack.state_codes).setup()
        app = App(load_settings(desk.config, desk.env))
        try:
            queued = file_report(desk, app)
            # the first pass renders each row (outbox rows keep the decision; the
            # dispatcher renders them on their first claim) and sends it
            first, sent = asyncio.run(dispatch_all(app))
            assert sent == queued, f"sent {sent} of {queued}"
            stack.purge_all()
            with app.sessions() as session:
                mails = [(list(o.recipients), o.raw or b"") for o in session.scalars(select(OutboxMessage))]
            print(f"{len(stack.state_codes)} States registered; {queued} mails queued "
                  f"(ack, notice to the host State, circulations); "
                  f"{sum(len(r) for _, r in mails) / len(mails) / 1024:.1f} KiB per mail")
            print(f"first pass, rendering and sending: {first:.2f} s, {queued / first:.0f} messages/s")
            ours, theirs = [], []
            for _ in range(repeat):
                requeue(app)
                seconds, sent = asyncio.run(dispatch_all(app))
                assert sent == queued, f"sent {sent} of {queued}"
                ours.append(seconds)
                theirs.append(asyncio.run(naive(app, mails)))
                stack.purge_all()
            best, slow = min(ours), min(theirs)
            print(f"dispatcher, rendered rows (one connection per batch): {best:.2f} s best of {repeat} "
                  f"(median {statistics.median(ours):.2f} s), {queued / best:.0f} messages/s")
            print(f"naive (a connection + STARTTLS per mail): {slow:.2f} s best of {repeat} "
                  f"(median {statistics.median(theirs):.2f} s), {len(mails) / slow:.0f} messages/s")
            print(f"speed-up: {slow / best:.1f}x; target for 193 States: under 3 s "
                  f"({'met' if best < 3 else 'NOT met'})")
        finally:
            app.close()
            shutil.rmtree(desk.root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
