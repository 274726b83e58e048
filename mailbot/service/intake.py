"""Intake: one message, one transaction.

For every message the watcher hands over, in this order: store the raw
bytes in the blob store; record the message (Message-ID or content hash,
UIDVALIDITY + UID); parse; classify with the rule table; hand it to the
handler for its class (``service.handlers``), which files it and decides the
mails to send; write those mails to the outbox (``service.queueing``);
commit.  A focal point's form is read by filing (``service.reading``) unless
the parse-ahead worker read it already.  Only after the commit does the
caller move the message to the folder of its outcome.  A message seen again
(after a crash, a restart, a UIDVALIDITY change or a double delivery) is
recognised and not filed again.  Anything that fails is quarantined with its
reason; one bad message never stops the others.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mailbot.domain.attachments import judge
from mailbot.domain.classify import classify
from mailbot.domain.trust import prove
from mailbot.domain.types import (
    Classification,
    Folder,
    InboundMail,
    MailClass,
    MailContext,
    MessageStatus,
)
from mailbot.mail.bounces import bounce_info, looks_like_bounce
from mailbot.mail.parse import ParseError, parse_message
from mailbot.service.app import App
from mailbot.service.handlers import Handlers
from mailbot.service.queueing import Outbox
from mailbot.service.results import HandlerResult
from mailbot.store import repo
from mailbot.store.blobs import safe_filename
from mailbot.store.db import Session, transaction
from mailbot.store.tables import AttachmentRecord, InboundMessage

if TYPE_CHECKING:
    from mailbot.service.prepare import Prepared

log = logging.getLogger("mailbot.intake")

REPLAYABLE = (MessageStatus.QUARANTINED, MessageStatus.HELD)
#: the classes of mail the desk acts for, once their sender is proven
ACTS_FOR = frozenset({MailClass.STATE, MailClass.SECRETARIAT, MailClass.CORRESPONDENCE,
                      MailClass.UNKNOWN})
CONTEXT_TTL = 10.0  # seconds the registered addresses are cached for classification


@dataclass(frozen=True)
class Fetched:
    """A message as the watcher fetched it; ``raw`` holds only the header when oversized."""

    mailbox: str
    uidvalidity: int
    uid: int
    size: int
    raw: bytes
    oversized: bool = False


@dataclass(frozen=True)
class Outcome:
    """What became of a message: its row, status and the folder (by role) it belongs in."""

    row_id: int
    status: str
    folder: str  # a Folder: processed | quarantine | ignored
    classification: str | None
    repeated: bool = False  # seen before: nothing was filed this time
    reason: str | None = None
    key: str = ""  # Message-ID, or sha256:<hash> when the message had none
    sender: str = ""


def mask(address: str, enabled: bool) -> str:
    if not enabled or "@" not in address:
        return address
    local, domain = address.split("@", 1)
    return f"{local[:1]}***@{domain}"


class Intake:
    """The intake pipeline over an :class:`App`; ``process`` is safe to call again for any message."""

    def __init__(self, app: App, handlers: Handlers | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        from mailbot.service.clock import utcnow

        self.app = app
        self.settings = app.settings
        self.handlers = handlers or Handlers(app)
        self.outbox = Outbox(app)
        self.clock = clock or utcnow
        self._context: tuple[float, MailContext] | None = None
        #: fsync each blob as it is written; the watcher turns this off and calls
        #: :meth:`barrier` once per batch instead, before it moves the mail
        self.durable = True

    # -- context ---------------------------------------------------------------------------

    def mail_context(self, session: Session) -> MailContext:
        """Who is who, cached for a few seconds (a ``states import`` shows within that time)."""
        now = time.monotonic()
        if self._context is not None and now - self._context[0] < CONTEXT_TTL:
            return self._context[1]
        focal, secretariat = repo.known_addresses(session)
        desk = self.settings.desk
        ctx = MailContext(
            bot_addresses=frozenset(a.lower() for a in desk.addresses),
            msgid_domain=desk.msgid_domain,
            loop_header=desk.loop_header,
            loop_value=desk.loop_value,
            secretariat=frozenset(secretariat | {desk.secretariat_review.lower()}),
            focal_points=focal,
            authserv_ids=frozenset(desk.authserv_ids),
            relays=frozenset(h.lower() for h in desk.trusted_relays),
        )
        self._context = (now, ctx)
        return ctx

    def barrier(self) -> None:
        """Make the batch just processed durable (raw mail, attachments, SQLite WAL)."""
        from mailbot.store.blobs import sync

        sync()

    # -- the pipeline ----------------------------------------------------------------------

    def process(self, fetched: Fetched, prepared: Prepared | None = None) -> Outcome:
        """File one message; ``prepared`` is its parse read ahead (``service.prepare``), if any."""
        started = time.perf_counter()
        now = self.clock()
        if prepared is not None and prepared.digest is not None and not self.durable:
            digest = prepared.digest  # stored by the parse-ahead worker (made durable by the barrier)
        else:
            digest = self.app.blobs.put(fetched.raw, durable=self.durable)
        try:
            outcome = self._process(fetched, digest, now, prepared)
        except Exception as exc:  # a bug or a database failure: park the message, go on
            log.exception("intake failed uid=%s", fetched.uid)
            outcome = self._quarantine_after_error(fetched, digest, now, exc)
        log.info(
            "message msgid=%s uid=%s from=%s class=%s status=%s folder=%s repeated=%s ms=%.1f",
            outcome.key, fetched.uid, mask(outcome.sender, self.settings.desk.mask_addresses),
            outcome.classification, outcome.status, outcome.folder, outcome.repeated,
            (time.perf_counter() - started) * 1000,
        )
        return outcome

    def _process(self, fetched: Fetched, digest: str, now: datetime,
                 prepared: Prepared | None = None) -> Outcome:
        with transaction(self.app.sessions) as session:
            seen = repo.status_at(session, fetched.mailbox, fetched.uidvalidity, fetched.uid)
            if seen is not None and seen[1] != MessageStatus.RECEIVED:
                return self._outcome(self._row(session, seen[0]), repeated=True)
            mail, parse_error = self._parsed(fetched, prepared)
            key = (mail.message_id if mail and mail.message_id else None) or f"sha256:{digest}"
            priors = repo.hashes_by_key(session, key)
            for prior_id, prior_hash in priors:
                if prior_hash == digest or fetched.oversized:
                    return self._seen_again(session, self._row(session, prior_id), fetched, now)
            # classified before the row is written, so that it is written once
            cls = (self._classify(session, mail, fetched.raw, prepared)
                   if mail is not None and not priors else None)
            row = self._record(session, fetched, mail, key, digest, cls, now)
            if priors:
                return self._finish(session, row, HandlerResult.ignore(
                    f"duplicate Message-ID {key} with different content (first seen as "
                    f"message {priors[0][0]}); not filed again", status=MessageStatus.DUPLICATE),
                    None, now, duplicate_of=priors[0][0])
            if mail is None or cls is None:
                reason = f"parse failure: {parse_error}"
                return self._finish(session, row, self._quarantined(
                    session, row, None, None, reason, reason), None, now)
            return self._finish(session, row, self._handle(session, row, fetched, mail, cls, now,
                                                           prepared), cls, now)

    @staticmethod
    def _parsed(fetched: Fetched, prepared: Prepared | None) -> tuple[InboundMail | None, str | None]:
        """The message parsed (as read ahead, or here), or why it could not be."""
        if prepared is not None:
            return prepared.mail, prepared.parse_error
        try:
            return parse_message(fetched.raw), None
        except ParseError as exc:
            return None, str(exc)

    @staticmethod
    def _record(session: Session, fetched: Fetched, mail: InboundMail | None, key: str,
                digest: str, cls: Classification | None, now: datetime) -> InboundMessage:
        """Record the message, received and not handled yet, at its mailbox location."""
        return repo.record_message(session, {
            "message_key": key,
            "message_id": mail.message_id if mail else None,
            "content_hash": digest,
            "size": fetched.size,
            "from_addr": mail.from_addr if mail else "",
            "subject": (mail.subject if mail else "")[:2000],
            "sent_date": mail.date if mail else None,
            "in_reply_to": mail.in_reply_to if mail else None,
            "references": list(mail.references) if mail else [],
            "received_at": now,
            "status": MessageStatus.RECEIVED.value,
            "attempts": 1,
            "folder": None, "reason": None, "error": None, "incident_id": None,
            "duplicate_of_id": None, "processed_at": None,
            "classification": cls.kind.value if cls else None,
            "rules": list(cls.rules) if cls else [],
            "notes": list(cls.notes) if cls else [],
            "state_code": cls.state_code if cls else None,
        }, fetched.mailbox, fetched.uidvalidity, fetched.uid, now)

    def _handle(self, session: Session, row: InboundMessage, fetched: Fetched, mail: InboundMail,
                cls: Classification, now: datetime, prepared: Prepared | None) -> HandlerResult:
        """A parsed, classified message: quarantined when oversized or carrying a blocked
        attachment, else handed to the handler of its class."""
        if fetched.oversized:
            limit = self.settings.mailbox.max_message_size
            reason = (f"message of {fetched.size} bytes exceeds the limit of {limit} bytes; "
                      "kept in the quarantine folder, only its header was read")
            return self._quarantined(session, row, mail, cls, "too_large", reason)
        stored = (prepared.attachment_digests
                  if prepared is not None and not self.durable else None)
        blocked = self._store_attachments(session, row, mail, stored)
        if blocked:
            reason = "; ".join(blocked)
            return self._quarantined(
                session, row, mail, cls,
                f"it carries an attachment that is not accepted ({reason}); please send the "
                "report again without it, or as PDF, Word or image files", reason)
        return self.handlers.handle(session, row, mail, cls, now,
                                    prepared.reading if prepared is not None else None)

    def _quarantined(self, session: Session, row: InboundMessage, mail: InboundMail | None,
                     cls: Classification | None, sender_reason: str, reason: str) -> HandlerResult:
        """Quarantine, with the notices the handlers decide."""
        return HandlerResult.quarantine(reason, mails=self.handlers.quarantined(
            session, row, mail, cls, sender_reason, reason))

    @staticmethod
    def _row(session: Session, row_id: int) -> InboundMessage:
        row = session.get(InboundMessage, row_id)
        assert row is not None, row_id
        return row

    def _seen_again(self, session: Session, prior: InboundMessage, fetched: Fetched,
                    now: datetime) -> Outcome:
        """A message already recorded: nothing is filed again.

        The same copy seen under a new UIDVALIDITY (the server renumbered the
        mailbox before we could move it) goes where it was meant to go; a second
        copy in the same mailbox generation (a double delivery) goes to Ignored,
        so each outcome folder holds one copy of each message.
        """
        second_copy = any(loc.mailbox == fetched.mailbox and loc.uidvalidity == fetched.uidvalidity
                          and loc.uid != fetched.uid for loc in prior.locations)
        repo.add_location(session, prior, fetched.mailbox, fetched.uidvalidity, fetched.uid, now)
        outcome = self._outcome(prior, repeated=True)
        if second_copy:
            return Outcome(row_id=prior.id, status=MessageStatus.DUPLICATE, folder=Folder.IGNORED,
                           classification=prior.classification, repeated=True,
                           reason="the same message delivered again; not filed again",
                           key=prior.message_key, sender=prior.from_addr)
        return outcome

    def _classify(self, session: Session, mail: InboundMail, raw: bytes,
                  prepared: Prepared | None = None) -> Classification:
        ctx = self.mail_context(session)
        bounce = looks_like_bounce(mail)
        if (prepared is not None and prepared.classification is not None and not bounce
                and prepared.context is ctx):
            cls = prepared.classification  # the worker ran the same rules on the same view
        else:
            info = bounce_info(raw) if bounce else None
            bounced = (info.permanent + info.temporary) if info else ()
            cls = classify(mail, ctx, bounced)
        return self._proven_by_the_desk(mail, raw, ctx, cls)

    def _proven_by_the_desk(self, mail: InboundMail, raw: bytes, ctx: MailContext,
                            cls: Classification) -> Classification:
        """When our servers gave no verdict on a sender the desk would act for, the desk
        checks a DKIM signature itself (``mail.dkim``) and classifies again with it."""
        desk = self.settings.desk
        if cls.verified or cls.kind not in ACTS_FOR or not desk.dkim_check or "@" not in mail.from_addr:
            return cls
        if prove(mail.headers, ctx.authserv_ids, ctx.relays).spoke:
            return cls  # our servers gave their verdict: the desk does not overrule them
        from mailbot.mail.dkim import verify

        found = verify(raw, mail.from_addr.rpartition("@")[2], timeout=desk.dns_timeout)
        if found.result != "pass":
            return cls
        return classify(mail, ctx, cls.bounced, desk_results=(found,))

    def _store_attachments(self, session: Session, row: InboundMessage, mail: InboundMail,
                           stored: tuple[str, ...] | None = None) -> list[str]:
        """Record the attachments (stored in the blob store here, unless ``stored`` gives
        their digests: the parse-ahead worker stored them) and judge them; the problems."""
        if stored is not None and len(stored) != len(mail.attachments):
            stored = None
        policy = self.settings.policy
        problems: list[str] = []
        records: list[AttachmentRecord] = []
        total = 0
        for i, att in enumerate(mail.attachments, 1):
            name = safe_filename(att.filename, f"attachment-{i}")
            # judged on the name as the sender gave it: shortening for storage could drop
            # the very extension that makes it dangerous
            verdict = judge(att.filename or name, att.content_type, att.data,
                            blocked_extensions=policy.blocked_extensions,
                            max_size=policy.max_attachment_size)
            total += att.size
            digest = stored[i - 1] if stored is not None else self.app.blobs.put(
                att.data, durable=self.durable)
            records.append(repo.insert_loaded(session, AttachmentRecord, {
                "message_id": row.id, "submission_id": None, "sha256": digest, "safe_name": name,
                "content_type": att.content_type[:255], "size": att.size,
                "verdict": verdict.verdict}))
            if verdict.verdict != "ok":
                problems.append(verdict.reason)
        repo.remember_attachments(session, row.id, records)
        if total > policy.max_attachments_total:
            problems.append(f"attachments total {total} bytes, over the limit of "
                            f"{policy.max_attachments_total}")
        return problems

    def _finish(self, session: Session, row: InboundMessage, result: HandlerResult,
                cls: Classification | None, now: datetime, duplicate_of: int | None = None) -> Outcome:
        """Queue the result's mails and record the outcome on the message."""
        self.outbox.write(session, result.mails, now)
        repo.finish_message(session, row, status=result.status, reason=result.reason,
                            folder=result.folder, processed_at=now, duplicate_of_id=duplicate_of,
                            incident_id=row.incident_id if result.incident_id is None
                            else result.incident_id)
        return self._outcome(row)

    @staticmethod
    def _outcome(row: InboundMessage, repeated: bool = False) -> Outcome:
        return Outcome(row_id=row.id, status=row.status, folder=row.folder or Folder.QUARANTINE,
                       classification=row.classification, repeated=repeated, reason=row.reason,
                       key=row.message_key, sender=row.from_addr)

    def _quarantine_after_error(self, fetched: Fetched, digest: str, now: datetime,
                                exc: Exception) -> Outcome:
        """Record the message as quarantined in a fresh transaction after a failure."""
        reason = f"unexpected error: {type(exc).__name__}: {str(exc)[:300]}"
        with transaction(self.app.sessions) as session:
            row = repo.message_at(session, fetched.mailbox, fetched.uidvalidity, fetched.uid)
            if row is None:
                key = f"sha256:{digest}"
                existing = [r for r in repo.messages_by_key(session, key) if r.content_hash == digest]
                row = existing[0] if existing else InboundMessage(
                    message_key=key, content_hash=digest, size=fetched.size, received_at=now,
                    status=MessageStatus.RECEIVED, references=[], rules=[], notes=[])
                if row.id is None:
                    session.add(row)
                    session.flush()
                repo.add_location(session, row, fetched.mailbox, fetched.uidvalidity,
                                  fetched.uid, now)
            row.status, row.folder, row.reason = MessageStatus.QUARANTINED, Folder.QUARANTINE, reason
            row.error = traceback.format_exc()[-4000:]
            row.processed_at = now
            try:
                with session.begin_nested():
                    self.outbox.write(session, self.handlers.quarantined(
                        session, row, None, None, reason, reason), now)
            except Exception:  # the notice is a courtesy; the quarantine must be recorded
                log.exception("could not queue the quarantine notice for message %s", row.id)
            return self._outcome(row)

    # -- replay ----------------------------------------------------------------------------

    def replay(self, row_id: int) -> Outcome:
        """Run a stored message through classification and its handler again."""
        now = self.clock()
        with transaction(self.app.sessions) as session:
            row = session.get(InboundMessage, row_id)
            if row is None:
                raise LookupError(f"no message with id {row_id}")
            if row.status not in REPLAYABLE:
                raise LookupError(f"message {row_id} is {row.status}; only quarantined or held "
                                  "messages are replayed (it was filed already)")
            if row.size > len(self.app.blobs.get(row.content_hash)):
                raise LookupError(f"message {row_id} was over the size limit and only its header "
                                  "was stored; handle it from the quarantine folder")
            raw = self.app.blobs.get(row.content_hash)
            row.attempts += 1
            row.error = None
            try:
                mail = parse_message(raw)
            except ParseError as exc:
                return self._finish(session, row, HandlerResult.quarantine(f"parse failure: {exc}"),
                                    None, now)
            for att in list(row.attachments):
                session.delete(att)
            session.flush()
            blocked = self._store_attachments(session, row, mail)
            cls = self._classify(session, mail, raw)
            row.classification, row.rules = cls.kind.value, list(cls.rules)
            row.notes, row.state_code = list(cls.notes), cls.state_code
            if blocked:
                return self._finish(session, row, HandlerResult.quarantine("; ".join(blocked)), cls, now)
            result = self.handlers.handle(session, row, mail, cls, now)
            return self._finish(session, row, result, cls, now)
