"""The outbox: every mail the desk decides to send, and the dispatcher that sends them.

:class:`Mailer` is used inside the decision's transaction: it renders the
mail (``mail.render``), gives it a stable Message-ID derived from its unique
key, applies loop safety (never to ourselves, a daily cap per address) and
writes one outbox row — the same key never enqueues twice.

:class:`Dispatcher` runs outside any message transaction: it claims due rows
with a conditional UPDATE, sends them over one reused SMTP connection per
batch (``mail.smtp``), and records the result per recipient.  4xx replies and
connection errors retry with exponential backoff; a 5xx stops the row, and
the Secretariat hears of all such failures in one digest.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailbot.domain.classify import unplussed
from mailbot.domain.languages import default_languages
from mailbot.domain.states import StateInfo
from mailbot.domain.types import InboundMail
from mailbot.mail.render import Renderer, build_message, make_message_id
from mailbot.mail.smtp import SendResult, SmtpSender, TemporaryFailure
from mailbot.service.registry import registry
from mailbot.store import repo
from mailbot.store.db import Session, transaction
from mailbot.store.tables import (
    InboundMessage,
    Incident,
    OutboxMessage,
    Submission,
)

if TYPE_CHECKING:
    from mailbot.service.app import App

log = logging.getLogger("mailbot.outbox")

RESOLUTION = "61/31"
FOCAL_TTL = 10.0  # seconds the focal points are cached for circulations and notices


class Mailer:
    """Renders decisions into outbox rows, inside the caller's transaction."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings
        self.renderer = Renderer(self.settings.templates_dir)
        self._registry = registry(self.settings)
        self._focal: tuple[float, dict[str, list[str]]] | None = None
        #: contexts converted lately, by identity (each with the dict, which keeps its id unique)
        self._frozen: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    def focal_points(self, session: Session) -> dict[str, list[str]]:
        """Every State's active focal-point addresses, cached for a few seconds like intake's
        view of who is who (a ``states import`` shows within that time)."""
        now = time.monotonic()
        if self._focal is None or now - self._focal[0] >= FOCAL_TTL:
            self._focal = (now, repo.focal_point_map(session))
        return self._focal[1]

    # -- the one way to queue a mail ----------------------------------------------------------

    def queue(
        self,
        session: Session,
        *,
        kind: str,
        key: str,
        to: Sequence[str],
        lang: str,
        context: dict[str, Any],
        now: datetime,
        state_code: str | None = None,
        incident: Incident | None = None,
        submission: Submission | None = None,
        cause: InboundMessage | None = None,
        reply_to: InboundMail | None = None,
        attachments: Sequence[tuple[str, str, bytes]] = (),
        auto: str = "auto-generated",
        cap: bool = True,
        not_before: datetime | None = None,
        known_new: bool = False,
        attachment_refs: Sequence[tuple[str, str, str]] = (),
    ) -> bool:
        """Queue one mail (its decision: kind, language, context); False when it is not queued.

        Not queued: no recipient left once the desk's own addresses are removed, or
        a row with the same key exists.  ``attachments`` are (name, type, bytes),
        stored in the blob store; ``attachment_refs`` are (name, type, digest) of
        blobs stored already.
        """
        own = {unplussed(a) for a in self.settings.desk.addresses}
        recipients = [a for a in dict.fromkeys(x.strip().lower() for x in to)
                      if a and unplussed(a) not in own]  # desk+token@ is the desk too
        if not recipients:
            return False
        # the context as JSON: the shared part of a circulation (one dict for every State
        # in a language) is converted once, not once per State
        frozen = self._frozen.get(id(context))
        if frozen is None or frozen[0] is not context:
            if len(self._frozen) >= 8:  # a circulation shares one per language
                self._frozen.clear()
            frozen = self._frozen[id(context)] = (context, freeze(context))
        ctx = {**freeze(self.base_context(session, lang, state_code, incident, now)),
               **frozen[1]}
        message_id = make_message_id(key, self.settings.desk.msgid_domain)
        references: list[str] = []
        in_reply_to = None
        if reply_to is not None and reply_to.message_id:
            in_reply_to = reply_to.message_id
            references = list(reply_to.references)
        refs = [[name, ctype, self.app.blobs.put(data)] for name, ctype, data in attachments]
        refs += [list(ref) for ref in attachment_refs]
        status, error = "pending", None
        if cap:
            since = now - timedelta(days=1)
            limit = self.settings.policy.daily_cap_per_address
            over = [a for a in recipients if repo.automatic_mail_count(session, a, since, limit) >= limit]
            if over:
                status = "held"
                error = f"daily cap of {limit} automatic mails reached for {', '.join(over)}"
        return repo.enqueue(session, {
            "key": key, "kind": kind, "message_id": message_id, "recipients": recipients,
            "subject": "", "lang": lang, "context": ctx, "attachment_refs": refs,
            "in_reply_to": in_reply_to, "thread_references": references, "auto_submitted": auto,
            "raw": None, "status": status, "attempts": 0, "next_attempt_at": not_before or now,
            "last_error": error, "state_code": state_code,
            "incident_id": incident.id if incident else None,
            "submission_id": submission.id if submission else None,
            "cause_message_id": cause.id if cause else None, "created_at": now,
        }, known_new=known_new)

    def render_row(self, row: OutboxMessage) -> bytes:
        """Render a queued decision into the bytes to send (once: a resend reuses them)."""
        rendered = self.renderer.render(row.kind, row.lang, thaw(row.context))
        files = [(name, ctype, self.app.blobs.get(digest)) for name, ctype, digest in row.attachment_refs]
        row.raw = build_message(
            rendered,
            from_addr=self.settings.smtp.from_address,
            from_name=self.settings.smtp.from_name,
            to=list(row.recipients),
            message_id=row.message_id,
            date=row.created_at,
            in_reply_to=row.in_reply_to,
            references=list(row.thread_references),
            auto_submitted=row.auto_submitted,
            loop_header=(self.settings.desk.loop_header, self.settings.desk.loop_value),
            attachments=files,
        )
        row.subject = rendered.subject
        return row.raw

    def base_context(self, session: Session, lang: str, state_code: str | None,
                     incident: Incident | None, now: datetime) -> dict[str, Any]:
        """What every note verbale needs: reference line, date, addressee, confidentiality."""
        state = self.state_info(state_code)
        reference = incident.reference if incident else None
        return {
            "state_name": state.display_name(lang) if state else None,
            "observer": bool(state and state.observer),
            "reference": reference,
            "note_reference": f"LA/COD/61-31/{reference}" if reference else "LA/COD/61-31",
            "note_date": now.date(),
            "confidential": False,
        }

    def state_info(self, code: str | None) -> StateInfo | None:
        """A State as the registry (config/states.toml) describes it: names, language."""
        reg = self._registry
        return reg.get(code) if code and code in reg else None

    def state_name(self, code: str, lang: str) -> str:
        state = self.state_info(code)
        return state.display_name(lang) if state else code

    def mail_lang(self, code: str | None) -> str:
        """The State's working language when its mails exist in it, else English."""
        state = self.state_info(code)
        return default_languages().resolve(state.language if state else None)

    # -- replies to a received message --------------------------------------------------------

    def reply(self, session: Session, kind: str, row: InboundMessage, mail: InboundMail,
              now: datetime, *, lang: str, context: dict[str, Any], state_code: str | None = None,
              incident: Incident | None = None, submission: Submission | None = None,
              attachments: Sequence[tuple[str, str, bytes]] = (), cap: bool = True) -> None:
        # answers go to the From address only: for a State, its registered address (an
        # acknowledgement carries the report's text, which a Reply-To could send elsewhere);
        # for anyone else, one address, so a message cannot make the desk mail a list
        to = (mail.from_addr,) if mail.from_addr else ()
        context = {"received_at": row.received_at, "original_subject": row.subject,
                   "sender_address": row.from_addr, **context}
        self.queue(session, kind=kind, key=f"{kind}:msg:{row.id}", to=to, lang=lang,
                   context=context, now=now, state_code=state_code, incident=incident,
                   submission=submission, cause=row, reply_to=mail, attachments=attachments,
                   auto="auto-replied", cap=cap)

    def notify_secretariat(self, session: Session, row: InboundMessage, reason: str,
                           now: datetime, status: str = "held",
                           incident: Incident | None = None) -> None:
        self.queue(session, kind="secretariat_notice", key=f"secretariat_notice:msg:{row.id}",
                   to=[self.settings.desk.secretariat_review], lang="en",
                   context={"status": status, "received_at": row.received_at,
                            "from_addr": row.from_addr, "original_subject": row.subject,
                            "reason": reason, "message_key": row.message_key,
                            "actions": [f"mailbot messages show {row.id}",
                                        f"mailbot messages replay {row.id}"]},
                   now=now, cause=row, incident=incident, cap=False)

    # -- decisions on submissions -------------------------------------------------------------

    def acknowledge(self, session: Session, row: InboundMessage, mail: InboundMail,
                    sub: Submission, incident: Incident | None, pairs: Sequence[tuple[str, str]],
                    state: str, lang: str, now: datetime, *,
                    follow_up_due: datetime | None = None,
                    outstanding: Sequence[str] = ()) -> None:
        from mailbot.store import timeq

        files = [(a.safe_name, a.size) for a in repo.attachments_of(session, row.id)]
        circulation = sub.circulation
        if circulation == "circulate" and sub.circulation_defaulted:
            circulation = "circulation_defaulted"
        cycle = timeq.open_cycle(session)
        self.reply(session, f"ack_{sub.kind}", row, mail, now, lang=lang, state_code=state,
                   incident=incident, submission=sub, context={
                       "summary": list(pairs),
                       "attachments": files,
                       "circulation": circulation,
                       "objection_deadline": self.circulation_time(sub, now)
                       if circulation == "circulation_defaulted" else None,
                       "confidential": sub.circulation != "circulate",
                       "follow_up_due": follow_up_due.date() if follow_up_due else None,
                       "outstanding": list(outstanding),
                       "cycle": cycle_label(cycle.session) if cycle else "",
                   })

    def circulation_time(self, sub: Submission, now: datetime) -> datetime:
        """When a circulation leaves: at once, or after the grace period for a defaulted choice."""
        if sub.circulation_defaulted:
            return now + timedelta(hours=self.settings.policy.circulation_grace_hours)
        return now

    def circulate(self, session: Session, sub: Submission, incident: Incident | None,
                  reporter: str, now: datetime) -> int:
        """Para 11 (b): one note to each other State's focal points, in its language."""
        if sub.circulation != "circulate":
            return 0
        from mailbot.service.registry import submission_summary

        atts = repo.attachments_of(session, sub.message_id)
        limit = self.settings.policy.circulation_attachment_limit
        attached = [a for a in atts if a.verdict == "ok" and a.size <= limit]
        listed = [a for a in atts if a.verdict == "ok" and a.size > limit]
        files = [(a.safe_name, a.content_type, a.sha256) for a in attached]
        from mailbot.store import timeq

        cycle = timeq.open_cycle(session)
        focal = self.focal_points(session)
        states = sorted(code for code in focal if code != reporter)
        keys = {code: f"circulation:{sub.id}:{code}" for code in states}
        done = repo.existing_keys(session, list(keys.values()))
        listing = ([{"name": a.safe_name, "size": a.size, "attached": True} for a in attached]
                   + [{"name": a.safe_name, "size": a.size, "attached": False} for a in listed])
        by_lang: dict[str, dict[str, Any]] = {}  # what every note in one language shares
        leaves_at = self.circulation_time(sub, now)
        n = 0
        for code in states:
            if keys[code] in done:
                continue
            lang = self.mail_lang(code)
            if lang not in by_lang:
                by_lang[lang] = {
                    "report_kind": sub.kind,
                    "reporting_state": self.state_name(reporter, lang),
                    "communication_date": sub.received_at.date(),
                    "summary": submission_summary(self.settings, sub, lang),
                    "cycle": cycle_label(cycle.session) if cycle else "",
                    "attachments": listing,
                    "request_address": self.settings.desk.secretariat_review,
                }
            self.queue(
                session, kind="circulation", key=keys[code], to=focal.get(code, []),
                lang=lang, now=now, state_code=code, incident=incident, submission=sub,
                cap=False, context=by_lang[lang], attachment_refs=files, not_before=leaves_at,
                known_new=True,
            )
            n += 1
        return n

    def withdraw_circulation(self, session: Session, incident: Incident, state: str,
                             now: datetime) -> int:
        n = 0
        for sub in repo.incident_submissions(session, incident.id):
            if sub.state_code == state:
                n += self.withdraw_submission(session, sub)
        return n

    def withdraw_submission(self, session: Session, sub: Submission) -> int:
        """The reporting State objects: the submission becomes confidential, unsent notes stop."""
        sub.circulation = "confidential"
        n = 0
        for out in repo.submission_outbox(session, sub.id):
            if out.kind == "circulation" and out.status in ("pending", "held"):
                out.status, out.last_error = "cancelled", "the reporting State asked not to circulate"
                n += 1
        return n

    def attention(self, session: Session, incident: Incident, sub: Submission, state_code: str,
                  role: str, due: datetime | None, now: datetime) -> None:
        """Para 11 (c): draw the attention of a State concerned, with a pre-filled follow-up form."""
        from mailbot.service.registry import followup_form

        lang = self.mail_lang(state_code)
        # the States concerned learn that a violation was reported, never the words of a report
        # its State asked not to circulate (a State's own place name is its report's text too)
        confidential = sub.circulation != "circulate"
        self.queue(
            session, kind="attention", key=f"attention:{incident.id}:{state_code}",
            to=self.focal_points(session).get(state_code, []), lang=lang, now=now,
            state_code=state_code, incident=incident, submission=sub, cap=False,
            context={
                "role": role,
                "reporting_state": self.state_name(sub.state_code, lang),
                "communication_date": sub.received_at.date(),
                "incident_date": incident.occurred_on,
                "place": "" if confidential else incident.place or "",
                "confidential": confidential,
                "due_date": (due or now).date(),
                "followup_form": followup_form(self.settings, incident.reference, state_code,
                                               role, lang),
            },
        )


_PLAIN = frozenset({str, int, float, bool})


def freeze(value: Any) -> Any:
    """A mail context as JSON: dates and times tagged so that :func:`thaw` restores them."""
    if value is None or type(value) in _PLAIN:  # most of a context: kept as it is
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, dict):
        return {str(k): freeze(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [freeze(v) for v in value]
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`."""
    if isinstance(value, dict):
        if len(value) == 1 and "$datetime" in value:
            return datetime.fromisoformat(value["$datetime"])
        if len(value) == 1 and "$date" in value:
            return date.fromisoformat(value["$date"])
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value


def message_summary(row: InboundMessage) -> dict[str, Any]:
    """A received message as the Secretariat's digest lists it."""
    return {"received_at": row.received_at, "from_addr": row.from_addr, "subject": row.subject,
            "reason": row.reason or "", "message_key": row.message_key}


def failure_entry(row: OutboxMessage) -> dict[str, Any]:
    """A failed outbox row as the failure reports list it."""
    undelivered = [r.address for r in row.results if r.status != "sent"] or row.recipients
    return {"recipient": ", ".join(undelivered), "subject": row.subject, "outbox_key": row.key,
            "error": row.last_error or "", "failed_at": row.sent_at or row.claimed_at or row.created_at}


def cycle_label(session_number: int) -> str:
    """The reporting cycle as people name it: the two years before that GA session opens."""
    end = 1945 + session_number
    return f"{end - 2}-{end}"


# --- dispatch ----------------------------------------------------------------------------------


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
        self.mailer = Mailer(app)
        # results and retries are timed on the same clock as the claim (``run --once --at``)
        self.clock = clock or utcnow
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def backoff(self, attempts: int) -> timedelta:
        base = self.settings.policy.retry_base_seconds
        return timedelta(seconds=min(base * (2 ** max(attempts - 1, 0)), 6 * 3600))

    async def dispatch(self, now: datetime, limit: int | None = None) -> DispatchStats:
        """Send what is due at ``now``; returns counts.  Rows are recorded one by one."""
        stats = DispatchStats()
        batch = limit or self.settings.smtp.batch_size
        with transaction(self.app.sessions) as session:
            rows = repo.claim_due(session, now, self.worker, batch, stale_after=timedelta(minutes=10))
            ready = [r for r in rows if self._still_wanted(session, r) and self._rendered(r)]
            # a retry goes only to the recipients that have not received the mail yet
            claimed = [(r.id, [x.address for x in r.results if x.status == "pending"] or r.recipients,
                        r.raw or b"") for r in ready]
        if not claimed:
            return stats
        try:
            async with self.sender.session() as conn:
                for oid, recipients, raw in claimed:
                    try:
                        result = await conn.send(self.settings.smtp.from_address, recipients, raw)
                    except TemporaryFailure as exc:
                        self._retry(oid, str(exc), self.clock())
                        stats.retried += 1
                        if exc.connection_lost:
                            raise
                        continue
                    self._record(oid, recipients, result, self.clock(), stats)
        except TemporaryFailure as exc:
            self._release_unsent(claimed, str(exc), self.clock(), stats)
        except OSError as exc:
            self._release_unsent(claimed, f"connection failed: {exc}", self.clock(), stats)
        return stats

    @staticmethod
    def _still_wanted(session: Session, row: OutboxMessage) -> bool:
        """A circulation whose State withdrew it since it was queued (or claimed) is not sent."""
        if row.kind != "circulation" or row.submission_id is None:
            return True
        sub = session.get(Submission, row.submission_id)
        if sub is None or sub.circulation == "circulate":
            return True
        row.status, row.last_error = "cancelled", "the reporting State asked not to circulate"
        row.claimed_at = None
        return False

    def _rendered(self, row: OutboxMessage) -> bool:
        """Render a row on its first claim; a row that cannot be rendered fails, reported."""
        if row.raw is not None:
            return True
        try:
            self.mailer.render_row(row)
            return True
        except Exception as exc:  # a template or data error: this mail cannot go, others can
            log.exception("outbox row %s (%s) could not be rendered", row.id, row.kind)
            row.status, row.last_error = "failed", f"could not be rendered: {type(exc).__name__}: {exc}"
            row.claimed_at = None
            return False

    def _record(self, oid: int, recipients: Sequence[str], result: SendResult, now: datetime,
                stats: DispatchStats) -> None:
        with transaction(self.app.sessions) as session:
            row = session.get(OutboxMessage, oid)
            assert row is not None
            row.attempts += 1
            for rec in row.results:
                if rec.address not in recipients:
                    continue
                refused = result.refused.get(rec.address)
                if refused is None and result.accepted:
                    rec.status, rec.detail = "sent", result.response[:300]
                elif refused is not None:
                    rec.status, rec.detail = ("refused" if refused[0] >= 500 else "pending",
                                              f"{refused[0]} {refused[1]}"[:300])
                rec.updated_at = now
            permanent = result.permanent_failure
            if result.accepted:
                row.status, row.sent_at, row.last_error = "sent", now, None
                if result.refused:
                    row.last_error = "; ".join(f"{a}: {c} {m}" for a, (c, m) in result.refused.items())[:2000]
                    stats.refused.extend(result.refused)
                if any(code < 500 for code, _m in result.refused.values()):
                    self._schedule_retry(row, row.last_error or "", now)  # the 4xx recipients, later
                stats.sent += 1
            elif permanent:
                row.status, row.last_error = "failed", result.error[:2000]
                stats.failed += 1
            else:
                self._schedule_retry(row, result.error, now)
                stats.retried += 1

    def _schedule_retry(self, row: OutboxMessage, error: str, now: datetime) -> None:
        row.last_error = error[:2000]
        if row.attempts >= self.settings.policy.retry_max_attempts:
            row.status = "failed"
        else:
            row.status = "pending"
            row.next_attempt_at = now + self.backoff(row.attempts)
        row.claimed_at = None

    def _retry(self, oid: int, error: str, now: datetime) -> None:
        with transaction(self.app.sessions) as session:
            row = session.get(OutboxMessage, oid)
            if row is not None and row.status == "sending":
                row.attempts += 1
                self._schedule_retry(row, error, now)

    def _release_unsent(self, claimed: Sequence[tuple[int, Any, Any]], error: str,
                        now: datetime, stats: DispatchStats) -> None:
        """Put every row still marked ``sending`` back for a later attempt."""
        log.warning("smtp unavailable: %s", error)
        with transaction(self.app.sessions) as session:
            for oid, _r, _raw in claimed:
                row = session.get(OutboxMessage, oid)
                if row is not None and row.status == "sending":
                    row.attempts += 1
                    self._schedule_retry(row, error, now)
                    stats.retried += 1

    def report_failures(self, now: datetime) -> int:
        """One digest to the Secretariat for every failure not yet reported; returns the count."""
        with transaction(self.app.sessions) as session:
            failed = repo.unreported_failures(session, limit=500)
            if not failed:
                return 0
            Mailer(self.app).queue(
                session, kind="delivery_failure", key=f"delivery_failure:{failed[0].id}:{failed[-1].id}",
                to=[self.settings.desk.secretariat_review], lang="en", now=now, cap=False,
                context={"failures": [failure_entry(r) for r in failed]},
            )
            for r in failed:
                r.reported_at = now
            return len(failed)
