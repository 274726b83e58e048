"""The long-running service (``mailbot run``) and its single pass (``mailbot run --once``).

The IMAP watcher thread owns the mailbox connection and runs intake for
each message (one transaction each), moving mail only after the commit.
After each batch it wakes the asyncio loop, which dispatches the outbox at
once, so a State's acknowledgement leaves within seconds of its report.
APScheduler (``service.scheduler``) triggers the periodic sweeps on the
same loop; the database holds what is due.

The service says what it does: one INFO line per message handled (outcome,
class, incident, Message-ID, with addresses masked when
``desk.mask_addresses`` is set) and one per batch sent (logger
``mailbot.desk``).  Intake and the parse-ahead worker are built when the first
message arrives, so that a pass with nothing to do starts and ends quickly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from mailbot.mail.imap import FetchedMail, Watcher
from mailbot.service.app import App
from mailbot.service.clock import utcnow
from mailbot.service.outbox import Dispatcher, DispatchStats
from mailbot.store.checkpoint import Checkpointer

if TYPE_CHECKING:
    from mailbot.service.intake import Intake, Outcome
    from mailbot.service.prepare import Preparer
    from mailbot.service.sweep import Sweeper

log = logging.getLogger("mailbot.runner")
#: The lines a person watching the service reads: each message handled, each batch sent.
desk_log = logging.getLogger("mailbot.desk")


@dataclass
class RunStats:
    """What one pass did."""

    received: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    reminders: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


class Service:
    """Wires intake, the watcher, the sweeps and the dispatcher over one :class:`App`."""

    def __init__(self, app: App, clock: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.settings = app.settings
        self.clock = clock
        self.dispatcher = Dispatcher(app, clock=clock)
        self.checkpointer = Checkpointer.for_url(self.settings.database_url)
        self.stats = RunStats()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running = False  # between start and close of a pass: the worker may start
        self._handled: list[Outcome] = []  # said at the batch's barrier, with their incidents

    @cached_property
    def intake(self) -> Intake:
        """The intake pipeline, built for the first message (or a replay)."""
        from mailbot.service.intake import Intake

        intake = Intake(self.app, clock=self.clock)
        intake.durable = False  # one barrier per batch, before the move (Watcher)
        return intake

    @cached_property
    def preparer(self) -> Preparer:
        """The parse-ahead worker's handle; its process starts when there is mail to read."""
        from mailbot.service.prepare import Preparer

        return Preparer(self.settings.path(self.settings.desk.forms_file),
                        self.settings.blob_dir, self.settings.mailbox.parse_ahead)

    @cached_property
    def sweeper(self) -> Sweeper:
        from mailbot.service.sweep import Sweeper

        return Sweeper(self.app)

    # -- intake callback, on the watcher thread ----------------------------------------------

    def _ready_worker(self) -> Preparer:
        """The parse-ahead worker, started on the first batch of a pass (not for an empty inbox)."""
        if self._running:
            self.preparer.start()
        return self.preparer

    def _barrier(self) -> None:
        """Before the batch is moved: make it durable, then say what became of each message."""
        self.intake.barrier()
        self._say_handled()

    def _fetched_ahead(self, uidvalidity: int, uid: int) -> bytes | None:
        return self.preparer.fetched(uidvalidity, uid)

    def prepare(self, batch: list[FetchedMail]) -> None:
        """A batch was fetched: have it parsed (and its forms read) ahead, on another core."""
        preparer = self._ready_worker()
        with self.app.sessions() as session:
            context = self.intake.mail_context(session)
        preparer.submit([(f.uidvalidity, f.uid, f.raw) for f in batch if not f.oversized], context)

    def fetch_ahead(self, uidvalidity: int, sizes: list[tuple[int, int]], fresh: bool) -> set[int]:
        """The next part of the inbox: fetched, stored and read by the worker meanwhile."""
        preparer = self._ready_worker()
        with self.app.sessions() as session:
            context = self.intake.mail_context(session)
        return preparer.fetch_ahead(self.settings.mailbox, uidvalidity, sizes, context, fresh)

    def handle(self, fetched: FetchedMail) -> str:
        from mailbot.service.intake import Fetched

        outcome = self.intake.process(Fetched(
            mailbox=self.settings.mailbox.inbox, uidvalidity=fetched.uidvalidity, uid=fetched.uid,
            size=fetched.size, raw=fetched.raw, oversized=fetched.oversized),
            self.preparer.take(fetched.uidvalidity, fetched.uid))
        self.stats.received += 1
        self.stats.outcomes[outcome.status] = self.stats.outcomes.get(outcome.status, 0) + 1
        if desk_log.isEnabledFor(logging.INFO):
            self._handled.append(outcome)
        box = self.settings.mailbox
        return {"processed": box.processed, "quarantine": box.quarantine,
                "ignored": box.ignored}[outcome.folder]

    def _say_handled(self) -> None:
        """One line a message for a person watching: what became of it, and its incident
        (looked up for the whole batch at once)."""
        handled, self._handled = self._handled, []
        if not handled:
            return
        from mailbot.service.intake import mask
        from mailbot.store.repo import incident_references

        with self.app.sessions() as session:
            incidents = incident_references(session, [o.row_id for o in handled])
        hide = self.settings.desk.mask_addresses
        for outcome in handled:
            key = outcome.key
            shown = f"<{mask(key[1:-1], hide)}>" if key.startswith("<") else mask(key, hide)
            incident = incidents.get(outcome.row_id)
            desk_log.info("message %s: %s (%s)%s, Message-ID %s from %s%s", outcome.row_id,
                          outcome.status, outcome.classification or "unclassified",
                          f", incident {incident}" if incident else "", shown,
                          mask(outcome.sender, hide) or "(no sender)",
                          " (seen before)" if outcome.repeated else "")

    def _batch_done(self, n: int) -> None:
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # -- one pass -----------------------------------------------------------------------------

    def sweep(self) -> int:
        """Queue the reminders and escalations that fell due; how many."""
        return self.sweeper.sweep(self.clock())

    def digest(self) -> bool:
        """Queue the Secretariat's daily digest, when one is due."""
        return self.sweeper.digest(self.clock())

    def open_cycles(self) -> int:
        """Open the reporting cycle the configuration names, once its date has come."""
        from mailbot.service.cycles import open_scheduled_cycles

        return open_scheduled_cycles(self.app, self.clock())

    async def dispatch_all(self) -> DispatchStats:
        total = DispatchStats()
        for _ in range(1000):
            stats = await self.dispatcher.dispatch(self.clock())
            _say_sent(stats)
            total.sent += stats.sent
            total.retried += stats.retried
            total.failed += stats.failed
            if stats.sent + stats.retried + stats.failed == 0:
                break
            if stats.retried and not stats.sent:
                break  # the server is refusing for now; later passes retry
        if self.dispatcher.report_failures(self.clock()):
            more = await self.dispatcher.dispatch(self.clock())
            _say_sent(more)
            total.sent += more.sent
        return total

    def run_once(self) -> RunStats:
        """Process what is in the inbox, queue what fell due, send what is due, and return."""
        watcher = Watcher(self.settings.mailbox, self.handle, before_move=self._barrier,
                          on_fetched=self.prepare, fetch_ahead=self.fetch_ahead,
                          fetched_ahead=self._fetched_ahead)
        self._running = True
        self.checkpointer.start()
        try:
            watcher.run_once()
        finally:
            self._say_handled()
            self._close_worker()
            self.checkpointer.close()
        self.stats.reminders = self.sweep()
        sent = asyncio.run(self.dispatch_all())
        self.stats.sent, self.stats.retried, self.stats.failed = sent.sent, sent.retried, sent.failed
        return self.stats

    def _close_worker(self) -> None:
        self._running = False
        if "preparer" in self.__dict__:  # built only when mail came
            self.preparer.close()

    def replay(self, row_id: int) -> tuple[Outcome, int]:
        """Replay a stored message; when its outcome folder changes, move it on the server too."""
        from mailbot.mail.imap import refile
        from mailbot.store.tables import InboundMessage

        with self.app.sessions() as session:
            row = session.get(InboundMessage, row_id)
            before = row.folder if row else None
            message_id = row.message_id if row else None
        outcome = self.intake.replay(row_id)
        moved = 0
        if before and message_id and before != outcome.folder:
            box = self.settings.mailbox
            names = {"processed": box.processed, "quarantine": box.quarantine, "ignored": box.ignored}
            moved = refile(box, message_id, names[before], names[outcome.folder])
        return outcome, moved

    # -- forever ------------------------------------------------------------------------------

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        from mailbot.service.scheduler import build_scheduler

        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        stop = stop or asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, stop.set)
        watcher = Watcher(self.settings.mailbox, self.handle, on_batch=self._batch_done,
                          before_move=self._barrier, on_fetched=self.prepare,
                          fetch_ahead=self.fetch_ahead, fetched_ahead=self._fetched_ahead)
        scheduler = build_scheduler(self, self.settings.policy)
        scheduler.start()
        self._running = True
        self.preparer.start()  # the service runs on: the worker is ready for the first mail
        self.checkpointer.start()
        watcher.start()
        log.info("mailbot running: watching %s on %s", self.settings.mailbox.inbox,
                 self.settings.mailbox.host)
        try:
            while not stop.is_set():
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=self.settings.policy.dispatch_interval,
                                   return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                self._wake.clear()
                if not stop.is_set():
                    await self.dispatch_all()
        finally:
            watcher.stop()
            self._close_worker()
            self.checkpointer.close()
            scheduler.shutdown(wait=False)
            log.info("mailbot stopped")


def _say_sent(stats: DispatchStats) -> None:
    """One line per batch the outbox handled (nothing when there was nothing to send)."""
    if stats.sent or stats.retried or stats.failed:
        desk_log.info("outbox: sent %d, retrying %d, failed %d", stats.sent, stats.retried,
                      stats.failed)
