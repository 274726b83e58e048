"""The dispatcher: queued outbox rows are rendered, sent and recorded, outside any intake transaction.

Place in the flow: after intake, the sweep or a cycle opening has queued
rows (``service.queueing``).  :class:`Dispatcher` claims due rows with a
conditional UPDATE, renders each on its first claim (``service.rendering``),
sends them over one reused SMTP connection per batch (``mail.smtp``), and
records the result per recipient.  4xx replies and connection errors retry
with exponential backoff; a 5xx stops the row, and the Secretariat hears of
all such failures in one digest.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailbot.domain.mails import DeliveryFailure, MailKind, OutgoingMail
from mailbot.domain.types import Circulation, OutboxStatus, RecipientStatus
from mailbot.mail.smtp import SendResult, SmtpConnection, SmtpSender, TemporaryFailure
from mailbot.mail.verp import return_path
from mailbot.service.queueing import Outbox
from mailbot.service.rendering import MailRenderer
from mailbot.store import repo
from mailbot.store.db import Session, transaction
from mailbot.store.tables import OutboxMessage, OutboxRecipient, Submission

if TYPE_CHECKING:
    from mailbot.service.app import App

log = logging.getLogger("mailbot.outbox")

#: (outbox row id, recipients, raw bytes) of a claimed row
#: a claimed row ready to send: its id, the recipients still to send to, its bytes, its return path
Claimed = tuple[int, list[str], bytes, str]
WITHDRAWN = "the reporting State asked not to circulate"


def failure_entry(row: OutboxMessage) -> dict[str, Any]:
    """A failed outbox row as the failure reports list it."""
    undelivered = [r.address for r in row.results if r.status != RecipientStatus.SENT] or row.recipients
    return {"recipient": ", ".join(undelivered), "subject": row.subject, "outbox_key": row.key,
            "error": row.last_error or "", "failed_at": row.sent_at or row.claimed_at or row.created_at}


@dataclass
class DispatchStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    refused: list[str] = field(default_factory=list)


class Dispatcher:
    """Claims due outbox rows and sends them; safe to run in several processes at once."""

    def __init__(self, app: App, sender: SmtpSender | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        from mailbot.service.clock import utcnow

        self.app = app
        self.settings = app.settings
        self.sender = sender or SmtpSender(app.settings.smtp)
        self.renderer = MailRenderer(app)
        # results and retries are timed on the same clock as the claim (``run --once --at``)
        self.clock = clock or utcnow
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def backoff(self, attempts: int) -> timedelta:
        base = self.settings.policy.retry_base_seconds
        return timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), 6 * 3600))

    async def dispatch(self, now: datetime, limit: int | None = None) -> DispatchStats:
        """Send what is due at ``now``; returns counts.  Rows are recorded one by one.

        The due rows are claimed first, then the connection is opened, and only
        then are rows rendered that were not yet: while the server cannot be
        reached, nothing is rendered for nothing.
        """
        stats = DispatchStats()
        claimed = self._claim(now, limit or self.settings.smtp.batch_size)
        if not claimed:
            return stats
        try:
            async with self.sender.session() as conn:
                await self._send_all(conn, self._render(claimed), stats)
        except TemporaryFailure as exc:
            self._release_unsent(claimed, str(exc), self.clock(), stats)
        except OSError as exc:
            self._release_unsent(claimed, f"connection failed: {exc}", self.clock(), stats)
        return stats

    def _claim(self, now: datetime, batch: int) -> list[int]:
        """Claim the due rows that are still wanted; their ids."""
        with transaction(self.app.sessions) as session:
            rows = repo.claim_due(session, now, self.worker, batch, stale_after=timedelta(minutes=10))
            return [r.id for r in rows if self._still_wanted(session, r)]

    def _render(self, claimed: Sequence[int]) -> list[Claimed]:
        """The claimed rows that can be rendered, with the recipients still to be sent to."""
        with transaction(self.app.sessions) as session:
            order = {oid: n for n, oid in enumerate(claimed)}  # sent in the order claimed
            rows = sorted(repo.outbox_by_ids(session, claimed), key=lambda r: order[r.id])
            ready = [r for r in rows if self._rendered(r)]
            # a retry goes only to the recipients that have not received the mail yet
            sender = self.settings.smtp.from_address
            return [(r.id, [x.address for x in r.results if x.status == RecipientStatus.PENDING]
                     or list(r.recipients), r.raw or b"", return_path(sender, r.id, r.return_token))
                    for r in ready]

    async def _send_all(self, conn: SmtpConnection, claimed: Sequence[Claimed],
                        stats: DispatchStats) -> None:
        for oid, recipients, raw, envelope_from in claimed:
            try:
                result = await conn.send(envelope_from, recipients, raw)
            except TemporaryFailure as exc:
                self._retry(oid, str(exc), self.clock())
                stats.retried += 1
                if exc.connection_lost:
                    raise
                continue
            self._record(oid, recipients, result, self.clock(), stats)

    @staticmethod
    def _still_wanted(session: Session, row: OutboxMessage) -> bool:
        """A circulation whose State withdrew it since it was queued (or claimed) is not sent."""
        if row.kind != MailKind.CIRCULATION or row.submission_id is None:
            return True
        sub = session.get(Submission, row.submission_id)
        if sub is None or sub.circulation == Circulation.CIRCULATE:
            return True
        row.status, row.last_error = OutboxStatus.CANCELLED, WITHDRAWN
        row.claimed_at = None
        return False

    def _rendered(self, row: OutboxMessage) -> bool:
        """Render a row on its first claim; a row that cannot be rendered fails, reported."""
        if row.raw is not None:
            return True
        try:
            self.renderer.render_row(row)
            return True
        except Exception as exc:  # a template or data error: this mail cannot go, others can
            log.exception("outbox row %s (%s) could not be rendered", row.id, row.kind)
            row.status = OutboxStatus.FAILED
            row.last_error = f"could not be rendered: {type(exc).__name__}: {exc}"
            row.claimed_at = None
            return False

    def _record(self, oid: int, recipients: Sequence[str], result: SendResult, now: datetime,
                stats: DispatchStats) -> None:
        with transaction(self.app.sessions) as session:
            row = session.get(OutboxMessage, oid)
            assert row is not None
            row.attempts += 1
            for rec in row.results:
                if rec.address in recipients:
                    _record_recipient(rec, result, now)
            if result.accepted:
                self._record_accepted(row, result, now, stats)
            elif result.permanent_failure:
                row.status, row.last_error = OutboxStatus.FAILED, result.error[:2000]
                stats.failed += 1
            else:
                self._schedule_retry(row, result.error, now)
                stats.retried += 1

    def _record_accepted(self, row: OutboxMessage, result: SendResult, now: datetime,
                         stats: DispatchStats) -> None:
        row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, None
        if result.refused:
            row.last_error = "; ".join(f"{a}: {c} {m}" for a, (c, m) in result.refused.items())[:2000]
            stats.refused.extend(result.refused)
        if any(code < 500 for code, _m in result.refused.values()):
            self._schedule_retry(row, row.last_error or "", now)  # the 4xx recipients, later
        stats.sent += 1

    def _schedule_retry(self, row: OutboxMessage, error: str, now: datetime) -> None:
        row.last_error = error[:2000]
        if row.attempts >= self.settings.policy.retry_max_attempts:
            row.status = OutboxStatus.FAILED
        else:
            row.status = OutboxStatus.PENDING
            row.next_attempt_at = now + self.backoff(row.attempts)
        row.claimed_at = None

    def _retry(self, oid: int, error: str, now: datetime) -> None:
        with transaction(self.app.sessions) as session:
            row = session.get(OutboxMessage, oid)
            if row is not None and row.status == OutboxStatus.SENDING:
                row.attempts += 1
                self._schedule_retry(row, error, now)

    def _release_unsent(self, claimed: Sequence[int], error: str,
                        now: datetime, stats: DispatchStats) -> None:
        """Put every row still marked ``sending`` back for a later attempt."""
        log.warning("smtp unavailable: %s", error)
        with transaction(self.app.sessions) as session:
            for oid in claimed:
                row = session.get(OutboxMessage, oid)
                if row is not None and row.status == OutboxStatus.SENDING:
                    row.attempts += 1
                    self._schedule_retry(row, error, now)
                    stats.retried += 1

    def report_failures(self, now: datetime) -> int:
        """One digest to the Secretariat for every failure not yet reported; returns the count."""
        with transaction(self.app.sessions) as session:
            failed = repo.unreported_failures(session, limit=500)
            if not failed:
                return 0
            Outbox(self.app).put(session, OutgoingMail(
                DeliveryFailure([failure_entry(r) for r in failed]),
                key=f"delivery_failure:{failed[0].id}:{failed[-1].id}",
                to=[self.settings.desk.secretariat_review], lang="en", cap=False), now)
            for r in failed:
                r.reported_at = now
            return len(failed)


def _record_recipient(rec: OutboxRecipient, result: SendResult, now: datetime) -> None:
    """One recipient's result: sent, refused (5xx) or pending again (4xx)."""
    refused = result.refused.get(rec.address)
    if refused is None and result.accepted:
        rec.status, rec.detail = RecipientStatus.SENT, result.response[:300]
    elif refused is not None:
        rec.status = RecipientStatus.REFUSED if refused[0] >= 500 else RecipientStatus.PENDING
        rec.detail = f"{refused[0]} {refused[1]}"[:300]
    rec.updated_at = now
