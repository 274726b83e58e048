"""The desk's mail decisions: who gets what, in which language, about which report.

Place in the flow: inside the intake transaction (and the sweep's and a
cycle opening's), :class:`Mailer` decides each mail as a typed
:class:`~mailbot.domain.mails.OutgoingMail` — an answer to a received
message, a notice to the Secretariat, an acknowledgement, the circulation to
every State, the attention of the States concerned — and the handlers return
those decisions for the outbox (``service.queueing``) to write.  It renders
nothing: the dispatcher (``service.dispatch``, re-exported here) renders each
row when it first sends it.  A State's objection to circulation cancels the
notes not sent yet (:meth:`Mailer.withdraw_submission`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from mailbot.domain.forms import FormKind
from mailbot.domain.languages import default_languages
from mailbot.domain.mails import (
    AckFollowUp,
    AckViews,
    AckViolation,
    Attention,
    CirculationNote,
    MailContent,
    MailKind,
    OutgoingMail,
    Reply,
    SecretariatNotice,
)
from mailbot.domain.states import StateInfo
from mailbot.domain.types import Circulation, InboundMail, MessageStatus, OutboxStatus
from mailbot.service.dispatch import WITHDRAWN, Dispatcher, DispatchStats, failure_entry
from mailbot.service.registry import followup_form, registry, submission_summary
from mailbot.store import cycle_rows, repo
from mailbot.store.db import Session
from mailbot.store.tables import AttachmentRecord, InboundMessage, Incident, Submission

if TYPE_CHECKING:
    from mailbot.service.app import App

__all__ = ["DispatchStats", "Dispatcher", "Mailer", "cycle_label", "failure_entry",
           "message_summary"]

FOCAL_TTL = 10.0  # seconds the focal points are cached for circulations and notices


class Mailer:
    """Decides the desk's mails; each decision is an :class:`OutgoingMail` for the outbox."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.settings = app.settings
        self._registry = registry(self.settings)
        self._focal: tuple[float, dict[str, list[str]]] | None = None

    def focal_points(self, session: Session) -> dict[str, list[str]]:
        """Every State's active focal-point addresses, cached for a few seconds like intake's
        view of who is who (a ``states import`` shows within that time)."""
        now = time.monotonic()
        if self._focal is None or now - self._focal[0] >= FOCAL_TTL:
            self._focal = (now, repo.focal_point_map(session))
        return self._focal[1]

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

    def reply(self, content: MailContent, row: InboundMessage, mail: InboundMail, *, lang: str,
              state_code: str | None = None, incident: Incident | None = None,
              submission: Submission | None = None,
              attachments: Sequence[tuple[str, str, bytes]] = (), cap: bool = True) -> OutgoingMail:
        """An answer to ``row``, under the key ``<kind>:msg:<row id>``."""
        # answers go to the From address only: for a State, its registered address (an
        # acknowledgement carries the report's text, which a Reply-To could send elsewhere);
        # for anyone else, one address, so a message cannot make the desk mail a list
        return OutgoingMail(
            content, key=f"{content.kind}:msg:{row.id}",
            to=(mail.from_addr,) if mail.from_addr else (), lang=lang, state_code=state_code,
            incident_id=incident.id if incident else None,
            reference=incident.reference if incident else None,
            submission_id=submission.id if submission else None, cause_id=row.id,
            reply=Reply(row.received_at, row.subject, row.from_addr, mail.message_id,
                        tuple(mail.references)),
            attachments=attachments, cap=cap)

    def notify_secretariat(self, row: InboundMessage, reason: str,
                           status: MessageStatus = MessageStatus.HELD,
                           incident: Incident | None = None) -> OutgoingMail:
        """The Secretariat's notice of a message held or quarantined for its review."""
        return OutgoingMail(
            SecretariatNotice(status=status.value, received_at=row.received_at,
                              from_addr=row.from_addr, original_subject=row.subject,
                              reason=reason, message_key=row.message_key,
                              actions=[f"mailbot messages show {row.id}",
                                       f"mailbot messages replay {row.id}"]),
            key=f"secretariat_notice:msg:{row.id}", to=[self.settings.desk.secretariat_review],
            lang="en", incident_id=incident.id if incident else None,
            reference=incident.reference if incident else None, cause_id=row.id, cap=False)

    # -- decisions on submissions -------------------------------------------------------------

    def acknowledge(self, session: Session, row: InboundMessage, mail: InboundMail,
                    sub: Submission, incident: Incident | None, pairs: Sequence[tuple[str, str]],
                    state: str, lang: str, now: datetime, *,
                    follow_up_due: datetime | None = None,
                    outstanding: Sequence[str] = ()) -> OutgoingMail:
        """The acknowledgement of a filed form, in the form's kind."""
        files = [(a.safe_name, a.size) for a in repo.attachments_of(session, row.id)]
        circulation = sub.circulation
        if circulation == Circulation.CIRCULATE and sub.circulation_defaulted:
            circulation = Circulation.DEFAULTED
        deadline = (self.circulation_time(sub, now) if circulation == Circulation.DEFAULTED
                    else None)
        confidential = sub.circulation != Circulation.CIRCULATE
        content: MailContent
        if sub.kind == FormKind.VIOLATION:
            content = AckViolation(list(pairs), files, circulation, deadline, confidential,
                                   follow_up_due.date() if follow_up_due else None)
        elif sub.kind == FormKind.FOLLOW_UP:
            content = AckFollowUp(list(pairs), files, circulation, deadline, confidential,
                                  list(outstanding))
        else:
            cycle = cycle_rows.open_cycle(session)
            content = AckViews(list(pairs), files, circulation, deadline, confidential,
                               cycle_label(cycle.session) if cycle else "")
        return self.reply(content, row, mail, lang=lang, state_code=state, incident=incident,
                          submission=sub)

    def circulation_time(self, sub: Submission, now: datetime) -> datetime:
        """When a circulation leaves: at once, or after the grace period for a defaulted choice."""
        if sub.circulation_defaulted:
            return now + timedelta(hours=self.settings.policy.circulation_grace_hours)
        return now

    def circulate(self, session: Session, sub: Submission, incident: Incident | None,
                  reporter: str, now: datetime) -> list[OutgoingMail]:
        """Para 11 (b): one note to each other State's focal points, in its language."""
        if sub.circulation != Circulation.CIRCULATE:
            return []
        files, listing = self._circulated_files(session, sub)
        cycle = cycle_rows.open_cycle(session)
        focal = self.focal_points(session)
        states = sorted(code for code in focal if code != reporter)
        keys = {code: f"circulation:{sub.id}:{code}" for code in states}
        done = repo.existing_keys(session, list(keys.values()))
        by_lang: dict[str, CirculationNote] = {}  # what every note in one language shares
        leaves_at = self.circulation_time(sub, now)
        mails = []
        for code in states:
            if keys[code] in done:
                continue
            lang = self.mail_lang(code)
            if lang not in by_lang:
                by_lang[lang] = CirculationNote(
                    report_kind=sub.kind, reporting_state=self.state_name(reporter, lang),
                    communication_date=sub.received_at.date(),
                    summary=submission_summary(self.settings, sub, lang),
                    cycle=cycle_label(cycle.session) if cycle else "", attachments=listing,
                    request_address=self.settings.desk.secretariat_review)
            mails.append(OutgoingMail(
                by_lang[lang], key=keys[code], to=focal.get(code, []), lang=lang, state_code=code,
                incident_id=incident.id if incident else None,
                reference=incident.reference if incident else None, submission_id=sub.id,
                attachment_refs=files, not_before=leaves_at, known_new=True))
        return mails

    def _circulated_files(self, session: Session, sub: Submission
                          ) -> tuple[list[tuple[str, str, str]], list[dict[str, Any]]]:
        """The attachments a circulation carries (up to the size limit), and its list of all."""
        atts = [a for a in repo.attachments_of(session, sub.message_id) if a.verdict == "ok"]
        limit = self.settings.policy.circulation_attachment_limit
        attached = [a for a in atts if a.size <= limit]
        listed = [a for a in atts if a.size > limit]

        def entry(a: AttachmentRecord, attached: bool) -> dict[str, Any]:
            return {"name": a.safe_name, "size": a.size, "attached": attached}

        listing = [entry(a, True) for a in attached] + [entry(a, False) for a in listed]
        return [(a.safe_name, a.content_type, a.sha256) for a in attached], listing

    def withdraw_circulation(self, session: Session, incident: Incident, state: str,
                             now: datetime) -> int:
        n = 0
        for sub in repo.incident_submissions(session, incident.id):
            if sub.state_code == state:
                n += self.withdraw_submission(session, sub)
        return n

    def withdraw_submission(self, session: Session, sub: Submission) -> int:
        """The reporting State objects: the submission becomes confidential, unsent notes stop."""
        sub.circulation = Circulation.CONFIDENTIAL
        n = 0
        for out in repo.submission_outbox(session, sub.id):
            if out.kind == MailKind.CIRCULATION and out.status in (OutboxStatus.PENDING, OutboxStatus.HELD):
                out.status, out.last_error = OutboxStatus.CANCELLED, WITHDRAWN
                n += 1
        return n

    def attention(self, session: Session, incident: Incident, sub: Submission, state_code: str,
                  role: str, due: datetime | None, now: datetime) -> OutgoingMail:
        """Para 11 (c): draw the attention of a State concerned, with a pre-filled follow-up form."""
        lang = self.mail_lang(state_code)
        # the States concerned learn that a violation was reported, never the words of a report
        # its State asked not to circulate (a State's own place name is its report's text too)
        confidential = sub.circulation != Circulation.CIRCULATE
        return OutgoingMail(
            Attention(
                role=role, reporting_state=self.state_name(sub.state_code, lang),
                communication_date=sub.received_at.date(), incident_date=incident.occurred_on,
                place="" if confidential else incident.place or "", confidential=confidential,
                due_date=(due or now).date(),
                followup_form=followup_form(self.settings, incident.reference, state_code,
                                            role, lang)),
            key=f"attention:{incident.id}:{state_code}",
            to=self.focal_points(session).get(state_code, []), lang=lang, state_code=state_code,
            incident_id=incident.id, reference=incident.reference, submission_id=sub.id)


def message_summary(row: InboundMessage) -> dict[str, Any]:
    """A received message as the Secretariat's digest lists it."""
    return {"received_at": row.received_at, "from_addr": row.from_addr, "subject": row.subject,
            "reason": row.reason or "", "message_key": row.message_key}


def cycle_label(session_number: int) -> str:
    """The reporting cycle as people name it: the two years before that GA session opens."""
    end = 1945 + session_number
    return f"{end - 2}-{end}"
