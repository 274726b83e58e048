"""Filing: forms become submissions on incidents; letters land on the incident they concern.

Called by the handlers inside the intake transaction.  A State's mail is
read for a form (``service.reading``, unless the parse-ahead worker read it
already), validated (``domain.forms``), and filed: a violation report
opens an incident with a new reference, a follow-up report lands on its
incident, views land on the open reporting cycle.  Each accepted submission
creates its obligations (``domain.obligations``) and its mails, decided by
the :class:`~mailbot.service.outbox.Mailer` and returned with the result:
acknowledgement, circulation to all States unless the State asked otherwise,
notices to the States concerned.  :meth:`Filing.correlate` finds the
incident any mail concerns, for every handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rapidfuzz import fuzz

from mailbot.domain import commands as cmd
from mailbot.domain.forms import (
    FieldError,
    FormCatalog,
    FormData,
    FormKind,
    RawForm,
    SenderError,
    extract_form,
    find_references,
    no_form_error,
    render_blank,
    summary,
    validate,
)
from mailbot.domain.languages import default_languages
from mailbot.domain.mails import Correction, Held, OutgoingMail
from mailbot.domain.obligations import (
    Fulfil,
    ObligationPolicy,
    Open,
    after_submission,
    obligations_for_violation,
)
from mailbot.domain.states import StateRegistry
from mailbot.domain.types import (
    Circulation,
    InboundMail,
    IncidentStatus,
    ObligationStatus,
    PartyRole,
    SubmissionStatus,
)
from mailbot.service.app import read_toml
from mailbot.service.reading import read_form
from mailbot.service.rendering import MailRenderer
from mailbot.service.results import HandlerResult, Handling
from mailbot.store import cycle_rows, obligation_rows, repo
from mailbot.store.db import Session
from mailbot.store.tables import (
    InboundMessage,
    Incident,
    Obligation,
    OutboxMessage,
    Submission,
)

if TYPE_CHECKING:
    from mailbot.service.app import App
    from mailbot.service.outbox import Mailer

#: (role, State code, organization) of a party to an incident
Party = tuple[PartyRole, str | None, str | None]


def jsonable(values: dict[str, Any]) -> dict[str, Any]:
    """Typed form values -> JSON (dates as ISO strings)."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        out[k] = v.isoformat() if isinstance(v, date) else v
    return out


def outstanding_parts(values: dict[str, Any]) -> list[str]:
    """What paragraph 10 (b) still awaits after a follow-up: justice, outcome, prevention."""
    parts = []
    if not values.get("measures_justice"):
        parts.append("justice")
    if not values.get("final_outcome"):
        parts.append("outcome")
    if not values.get("measures_prevention"):
        parts.append("prevention")
    return parts


class Filing:
    """Files forms and letters; owns the catalog of forms and the State registry."""

    def __init__(self, app: App, mailer: Mailer) -> None:
        self.app = app
        self.settings = app.settings
        self.mailer = mailer
        desk = self.settings.desk
        self.catalog = FormCatalog.from_toml_data(read_toml(self.settings.path(desk.forms_file)))
        self.registry = StateRegistry.from_toml_data(read_toml(self.settings.path(desk.states_file)))
        self.policy = ObligationPolicy.from_settings(self.settings.policy)

    @cached_property
    def renderer(self) -> MailRenderer:
        return MailRenderer(self.app)

    # -- correlation -----------------------------------------------------------------------

    def correlate(self, session: Session, mail: InboundMail, row: InboundMessage | None,
                  form_reference: str | None = None) -> Incident | None:
        """The incident a mail concerns: subject tag, form reference, thread, +token; or None."""
        for ref in find_references(mail.subject):
            incident = repo.incident_by_reference(session, ref)
            if incident:
                return incident
        if form_reference:
            incident = repo.incident_by_reference(session, form_reference)
            if incident:
                return incident
        return self._by_thread(session, mail, row) or self._by_plus_token(session, mail)

    @staticmethod
    def _by_thread(session: Session, mail: InboundMail, row: InboundMessage | None) -> Incident | None:
        """The incident of an earlier message or mail of ours in the thread."""
        thread = list(mail.thread_ids)
        if not thread:
            return None
        known = repo.find_message_ids(session, thread)
        for mid in thread:
            prior = known.get(mid)
            if prior is not None and prior.incident_id and (row is None or prior.id != row.id):
                return session.get(Incident, prior.incident_id)
        for out in repo.find_outbox_by_message_ids(session, thread):
            if out.incident_id:
                return session.get(Incident, out.incident_id)
        return None

    @staticmethod
    def _by_plus_token(session: Session, mail: InboundMail) -> Incident | None:
        """The incident named in a desk+REFERENCE@ address the mail was sent to."""
        for address in (*mail.to, *mail.cc):
            local = address.split("@", 1)[0]
            if "+" not in local:
                continue
            for ref in find_references(local.split("+", 1)[1].upper()):
                incident = repo.incident_by_reference(session, ref)
                if incident:
                    return incident
        return None

    # -- a State's mail ----------------------------------------------------------------------

    def state_mail(self, msg: Handling) -> HandlerResult:
        """A focal point's mail; its form is read here unless it was read ahead."""
        state = msg.cls.state_code
        assert state is not None
        session, row, mail, now = msg.session, msg.row, msg.mail, msg.now
        raw = read_form(mail, self.catalog) if msg.reading is None else msg.reading.form
        acked = self._acknowledged(session, mail, state)
        if acked is not None and (raw is None or self._quotes_ack(raw, acked[1])):
            return self._ack_reply(session, row, mail, acked[0], state, now)
        if raw is None:
            return self._without_form(session, row, mail, state, now)
        try:
            data = validate(raw, self.catalog, self.registry, sender_state=state,
                            reference_exists=lambda ref: repo.incident_by_reference(session, ref)
                            is not None)
        except SenderError as err:
            return self._correction(session, row, mail, err, state, now)
        if data.claimed_state and data.claimed_state != state:
            return self._hold(session, row, mail, data, state, now,
                              f"the form reports for {data.claimed_state} but the sender is "
                              f"registered for {state}")
        if not msg.cls.released and self._flooding(session, state, now):
            return self._held_flood(row, state)
        if data.kind is FormKind.VIOLATION:
            return self._violation(session, row, mail, data, state, now)
        if data.kind is FormKind.FOLLOW_UP:
            return self._follow_up(session, row, mail, data, state, now)
        return self._views(session, row, mail, data, state, now)

    def _flooding(self, session: Session, state: str, now: datetime) -> bool:
        limit = self.app.settings.policy.reports_per_state_per_day
        return repo.submissions_since(session, state, now - timedelta(days=1)) >= limit

    def _held_flood(self, row: InboundMessage, state: str) -> HandlerResult:
        """Past the day's number of reports from one State: held, not filed, for the Secretariat."""
        limit = self.app.settings.policy.reports_per_state_per_day
        reason = (f"more than {limit} reports from {state} within 24 hours: held for the Secretariat "
                  f"(mailbot messages release {row.id})")
        return HandlerResult.held(reason, mails=[self.mailer.notify_secretariat(row, reason)])

    def _without_form(self, session: Session, row: InboundMessage, mail: InboundMail,
                      state: str, now: datetime) -> HandlerResult:
        """A State's mail with no form: instructions held, a letter filed, else a correction."""
        incident = self.correlate(session, mail, row)
        commands, _errors = cmd.parse_commands(mail.text, mail.subject,
                                               state_codes={s.code for s in self.registry})
        if commands:
            asked = ", ".join(c.line for c in commands)
            reason = (f"the message contains instructions ({asked}) that only the Secretariat "
                      "can give; it will consider the request")
            mails = [self.mailer.reply(Held(reason), row, mail, lang=self._lang(state),
                                       state_code=state, incident=incident),
                     self.mailer.notify_secretariat(row, f"{state} asks: "
                                                    + "; ".join(c.line for c in commands),
                                                    incident=incident)]
            return HandlerResult.held(f"instructions from {state} held for the Secretariat",
                                      incident_id=incident.id if incident else None, mails=mails)
        if incident is not None:
            return self._state_letter(session, row, mail, incident, state, now)
        err = SenderError([no_form_error(self.catalog)], kind=None, raw=None)
        return self._correction(session, row, mail, err, state, now)

    def _lang(self, state: str) -> str:
        return self.mailer.mail_lang(state)

    def _correction(self, session: Session, row: InboundMessage, mail: InboundMail,
                    err: SenderError, state: str, now: datetime) -> HandlerResult:
        lang = self._lang(state)
        kind = err.kind or FormKind.VIOLATION
        prefill = dict(err.raw.values) if err.raw else {}
        correction = self.mailer.reply(Correction(
            problems=[(self._label(kind, e.field, lang), e.describe(self.catalog, lang))
                      for e in err.errors],
            prefilled_form=render_blank(self.catalog, kind, lang, prefill),
            form_kind=kind.value,
            reference=prefill.get("reference") or None,
        ), row, mail, lang=lang, state_code=state)
        codes = ", ".join(f"{e.field}:{e.code}" for e in err.errors)
        return HandlerResult.corrected(f"form errors ({codes}); correction sent", mails=[correction])

    def _label(self, kind: FormKind, field: str, lang: str) -> str:
        try:
            return self.catalog.form(kind).field(field).label.get(lang)
        except (KeyError, LookupError):
            return field

    def _hold(self, session: Session, row: InboundMessage, mail: InboundMail, data: FormData,
              state: str, now: datetime, reason: str, incident_id: int | None = None) -> HandlerResult:
        sub = self._submission(session, row, data, state, now, incident_id=incident_id)
        sub.status, sub.hold_reason = SubmissionStatus.HELD, reason
        mails = [self.mailer.reply(Held(reason), row, mail, lang=self._lang(state),
                                   state_code=state),
                 self.mailer.notify_secretariat(row, f"held for review: {reason}")]
        return HandlerResult.held(reason, incident_id=incident_id, mails=mails)

    def _submission(self, session: Session, row: InboundMessage, data: FormData, state: str,
                    now: datetime, incident_id: int | None = None,
                    incident: Incident | None = None) -> Submission:
        """File the form as a submission, against ``incident`` (or ``incident_id``).

        A new submission is inserted at once; one taken up again on a replay (it
        was held before) is updated and flushed.
        """
        cycle = cycle_rows.open_cycle(session)
        # a replayed message that was held before: its held submission is taken up again
        # (a message handled for the first time has none)
        earlier = repo.submission_of_message(session, row.id) if row.attempts > 1 else None
        values = {
            "message_id": row.id, "kind": data.kind.value, "state_code": state,
            "incident_id": incident.id if incident is not None else incident_id,
            "cycle_id": cycle.id if cycle else None,
            "fields": jsonable(data.values), "extra_lines": list(data.unknown_lines),
            "circulation": data.circulation, "circulation_defaulted": data.circulation_defaulted,
            "status": SubmissionStatus.ACCEPTED.value, "hold_reason": None,
            "late": bool(cycle and row.received_at.date() > cycle.deadline),
            "received_at": row.received_at,
        }
        if earlier is None:
            sub = repo.insert_loaded(session, Submission, values)
        else:
            sub = earlier
            for name, value in values.items():
                setattr(sub, name, value)
            session.flush()
        repo.link_attachments(session, row.id, sub.id)
        return sub

    # violation reports ---------------------------------------------------------------------

    def _violation(self, session: Session, row: InboundMessage, mail: InboundMail,
                   data: FormData, state: str, now: datetime) -> HandlerResult:
        v = data.values
        host = str(v["host_state"])
        offender = str(v["offender_state"]) if v.get("offender_state") else None
        incident, similar = self._open_incident(session, data, now)
        parties = _parties(data, state)
        # the incident and its submission, its parties and its obligations: one statement
        # each (nothing in this transaction needs the parties or obligations as objects)
        sub = self._submission(session, row, data, state, now, incident=incident)
        repo.add_parties(session, incident.id, parties)
        specs = obligations_for_violation(reporting_state=state, host_state=host,
                                          offender_state=offender, filed_at=now, policy=self.policy)
        repo.add_obligations(session, [
            {"incident_id": incident.id, "state_code": spec.state_code, "paragraph": spec.paragraph,
             "role": spec.role, "gentle": spec.gentle, "due_at": spec.due_at,
             "status": ObligationStatus.OPEN.value, "created_at": now} for spec in specs])
        mails = self._after_accept(session, row, mail, data, sub, incident, state, now,
                                   follow_up_due=max((s.due_at for s in specs), default=None))
        due = {s.state_code: s.due_at for s in specs}
        mails += [self.mailer.attention(session, incident, sub, code, role, due.get(code), now)
                  for code, role in _concerned(parties, state)]
        reason = f"violation report filed as {incident.reference}"
        if similar:
            reason += f"; possibly the same as {similar.reference}"
        return HandlerResult.processed(reason, incident_id=incident.id, mails=mails)

    def _open_incident(self, session: Session, data: FormData,
                       now: datetime) -> tuple[Incident, Incident | None]:
        """A new incident for a violation report, and an open one it may be the same as."""
        v = data.values
        reference, seq = repo.next_reference(session, self.settings.desk.reference_prefix, now.year)
        occurred = v.get("date") if isinstance(v.get("date"), date) else None
        place = str(v.get("place") or "")
        similar = self._similar(session, str(v["host_state"]), occurred, place)
        incident = repo.insert_loaded(session, Incident, {
            "reference": reference, "year": now.year, "seq": seq,
            "status": IncidentStatus.OPEN.value, "occurred_on": occurred, "place": place,
            "summary": str(v.get("description") or "")[:500],
            "possibly_same_as_id": similar.id if similar else None, "created_at": now})
        return incident, similar

    def _similar(self, session: Session, host: str, occurred: date | None,
                 place: str) -> Incident | None:
        """An open incident in the same State on the same day at a place of similar words."""
        if occurred is None:
            return None
        for other in repo.open_incidents_at(session, host, occurred):
            if fuzz.token_set_ratio(place.lower(), (other.place or "").lower()) >= \
                    self.settings.policy.same_incident_place_similarity:
                return other
        return None

    def _after_accept(self, session: Session, row: InboundMessage, mail: InboundMail,
                      data: FormData, sub: Submission, incident: Incident | None, state: str,
                      now: datetime, follow_up_due: datetime | None = None,
                      outstanding: Sequence[str] = ()) -> list[OutgoingMail]:
        """Acknowledge, and circulate when the State did not object."""
        lang = self._lang(state)
        pairs = summary(self.catalog, data, lang, self.registry)
        mails = [self.mailer.acknowledge(session, row, mail, sub, incident, pairs, state, lang, now,
                                         follow_up_due=follow_up_due, outstanding=outstanding)]
        if data.circulation == Circulation.CIRCULATE:
            mails += self.mailer.circulate(session, sub, incident, state, now)
        return mails

    # follow-up reports ---------------------------------------------------------------------

    def _follow_up(self, session: Session, row: InboundMessage, mail: InboundMail,
                   data: FormData, state: str, now: datetime) -> HandlerResult:
        incident = self.correlate(session, mail, row, form_reference=data.reference)
        if incident is None:
            err = SenderError([FieldError("reference", "unknown_reference",
                                          "The incident reference was not found.")],
                              kind=FormKind.FOLLOW_UP, raw=None)
            return self._correction(session, row, mail, err, state, now)
        roles = dict(repo.party_states(session, incident.id))
        capacity = next((role for role in (PartyRole.HOST, PartyRole.OFFENDER)
                         if roles.get(role) == state), None)
        if capacity is None:
            return self._hold(session, row, mail, data, state, now,
                              f"{state} is neither the State where {incident.reference} took place "
                              "nor the State where the alleged offender is present",
                              incident_id=incident.id)
        sub = self._submission(session, row, data, state, now, incident_id=incident.id)
        obligations = obligation_rows.obligations_of(session, incident.id)
        changes = after_submission(kind="follow_up", sender_state=state, capacity=capacity,
                                   final_outcome=bool(data.values.get("final_outcome")),
                                   open_obligations=[view for view, _ in obligations],
                                   filed_at=now, policy=self.policy)
        self._apply(session, incident, changes, sub, now, {v.id: row for v, row in obligations})
        mails = self._after_accept(session, row, mail, data, sub, incident, state, now,
                                   outstanding=outstanding_parts(data.values))
        return HandlerResult.processed(f"follow-up report filed on {incident.reference}",
                                       incident_id=incident.id, mails=mails)

    def _apply(self, session: Session, incident: Incident, changes: Sequence[Fulfil | Open],
               sub: Submission, now: datetime, rows: Mapping[int, Obligation] | None = None) -> None:
        """Fulfil and open obligations; ``rows``: the incident's obligations as read already."""
        for change in changes:
            if isinstance(change, Fulfil):
                ob = (rows or {}).get(change.obligation_id) or session.get(Obligation, change.obligation_id)
                if ob is not None and ob.status == ObligationStatus.OPEN:
                    ob.status, ob.fulfilled_by_id = ObligationStatus.FULFILLED, sub.id
            else:
                spec = change.spec
                exists = obligation_rows.obligation_for(session, incident.id, spec.state_code, spec.paragraph)
                if exists is None:
                    session.add(Obligation(incident_id=incident.id, state_code=spec.state_code,
                                           paragraph=spec.paragraph, role=spec.role,
                                           gentle=spec.gentle, due_at=spec.due_at,
                                           status=ObligationStatus.OPEN, created_at=now))
        session.flush()
        if not obligation_rows.open_obligations(session, incident.id):
            incident.status = IncidentStatus.CLOSED

    # views -----------------------------------------------------------------------------------

    def _views(self, session: Session, row: InboundMessage, mail: InboundMail, data: FormData,
               state: str, now: datetime) -> HandlerResult:
        sub = self._submission(session, row, data, state, now)
        mails = self._after_accept(session, row, mail, data, sub, None, state, now)
        cycle = cycle_rows.open_cycle(session)
        where = f"cycle {cycle.session}" if cycle else "no open cycle"
        return HandlerResult.processed(f"views filed ({where})", mails=mails)

    # letters ---------------------------------------------------------------------------------

    def _state_letter(self, session: Session, row: InboundMessage, mail: InboundMail,
                      incident: Incident, state: str, now: datetime) -> HandlerResult:
        """A State's letter (no form) in the thread of an incident: filed, seen by the Secretariat."""
        parties = {code for _role, code in repo.party_states(session, incident.id)}
        if state not in parties:
            notice = self.mailer.notify_secretariat(row, f"letter from {state}, not a party to "
                                                    f"{incident.reference}")
            return HandlerResult.held(f"letter from {state} about {incident.reference}, to which "
                                      "it is not a party; for review", incident_id=incident.id,
                                      mails=[notice])
        if self._asks_no_circulation(mail.text):
            n = self.mailer.withdraw_circulation(session, incident, state, now)
            return HandlerResult.processed(f"{state} asked not to circulate; {n} pending "
                                           "circulation mails withdrawn", incident_id=incident.id)
        return HandlerResult.processed(f"letter filed on {incident.reference}",
                                       incident_id=incident.id)

    def _acknowledged(self, session: Session, mail: InboundMail,
                      state: str) -> tuple[Submission, OutboxMessage] | None:
        """The sender's submission whose acknowledgement this mail answers, if any."""
        for out in repo.find_outbox_by_message_ids(session, list(mail.thread_ids)):
            if out.kind.startswith("ack_") and out.submission_id and out.state_code == state:
                sub = session.get(Submission, out.submission_id)
                if sub is not None:
                    return sub, out
        return None

    def _quotes_ack(self, raw: RawForm, ack: OutboxMessage) -> bool:
        """The form read from a reply is only our acknowledgement's summary, quoted back."""
        quoted = extract_form(self.renderer.render(ack).text, self.catalog)
        if quoted is None:
            return False

        def words(values: Mapping[str, str]) -> dict[str, str]:
            return {k: " ".join(str(v).split()).casefold() for k, v in values.items() if str(v).strip()}

        return words(raw.values) == words(quoted.values)

    def _ack_reply(self, session: Session, row: InboundMessage, mail: InboundMail, sub: Submission,
                   state: str, now: datetime) -> HandlerResult:
        """A reply to an acknowledgement that brings no new form: an objection, or a letter."""
        incident = session.get(Incident, sub.incident_id) if sub.incident_id else None
        if self._asks_no_circulation(mail.text):
            n = self.mailer.withdraw_submission(session, sub)
            if incident is not None:
                n += self.mailer.withdraw_circulation(session, incident, state, now)
            return HandlerResult.processed(f"{state} asked not to circulate its {sub.kind} "
                                           f"(submission {sub.id}); {n} pending circulation mails "
                                           "withdrawn", incident_id=incident.id if incident else None)
        if incident is not None:
            return self._state_letter(session, row, mail, incident, state, now)
        notice = self.mailer.notify_secretariat(row, f"reply from {state} to the acknowledgement "
                                                f"of its {sub.kind} (submission {sub.id})")
        return HandlerResult.processed(f"reply to the acknowledgement of submission {sub.id}; "
                                       "filed for the Secretariat", mails=[notice])

    @staticmethod
    def _asks_no_circulation(text: str) -> bool:
        body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))
        low = body.lower()
        return any(p in low for p in default_languages().collect("replies", "no_circulation"))


def _parties(data: FormData, state: str) -> list[Party]:
    """The parties a violation report names: reporting, host, sending and offender States."""
    v = data.values
    parties: list[Party] = [(PartyRole.REPORTING, state, None),
                            (PartyRole.HOST, str(v["host_state"]), None)]
    sending = v.get("sending_state") or {}
    if isinstance(sending, dict) and (sending.get("state") or sending.get("organization")):
        parties.append((PartyRole.SENDING, sending.get("state"), sending.get("organization")))
    if v.get("offender_state"):
        parties.append((PartyRole.OFFENDER, str(v["offender_state"]), None))
    return parties


def _concerned(parties: Sequence[Party], reporter: str) -> list[tuple[str, str]]:
    """(State, role) of each State concerned other than the reporter, each named once."""
    seen = {reporter}
    concerned: list[tuple[str, str]] = []
    for role in (PartyRole.HOST, PartyRole.OFFENDER, PartyRole.SENDING):
        for party_role, code, _org in parties:
            if party_role == role and code and code not in seen:
                concerned.append((code, role))
            if party_role == role and code:
                seen.add(code)
    return concerned
