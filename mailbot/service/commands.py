"""The Secretariat's commands by mail, carried out inside the intake transaction.

``domain.commands`` parses the lines (``#extend 30d``, ``#waive``,
``#fulfilled``, ``#report 83``, ``#help``); this module finds the obligation
a command is about — named explicitly, or the one the replied-to mail (a
reminder, an escalation, a notice) concerned — applies it, and returns the
lines of the confirmation and any attachment (the report).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from mailbot.domain import commands as cmd
from mailbot.domain import obligations as ob
from mailbot.domain.types import InboundMail, IncidentStatus, ObligationStatus
from mailbot.store import obligation_rows, repo
from mailbot.store.db import Session
from mailbot.store.tables import Incident, Obligation, OutboxMessage

if TYPE_CHECKING:
    from mailbot.service.app import App

Attachment = tuple[str, str, bytes]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class CommandRunner:
    """Applies parsed commands; each returns one confirmation line."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.policy = ob.ObligationPolicy.from_settings(app.settings.policy)
        self.failed = 0  # commands of the last run that were not carried out

    def run(self, session: Session, commands: list[cmd.Command], mail: InboundMail,
            incident: Incident | None, now: datetime) -> tuple[list[str], list[Attachment]]:
        lines: list[str] = []
        files: list[Attachment] = []
        for c in commands:
            try:
                if isinstance(c, cmd.Help):
                    lines.extend(cmd.HELP_TEXT.splitlines())
                elif isinstance(c, cmd.Report):
                    name, data = self._report(c)
                    files.append((name, DOCX, data))
                    lines.append(f"{c.line}: the report is attached ({name})")
                else:
                    lines.append(self.apply(session, c, mail, incident, now))
            except LookupError as exc:
                self.failed += 1
                lines.append(f"{c.line}: not done: {exc}")
        return lines, files

    def _report(self, c: cmd.Report) -> tuple[str, bytes]:
        from mailbot.service.report import ReportError, build_report_docx

        try:
            return build_report_docx(self.app.sessions, self.app.settings, c.session, c.addendum)
        except ReportError as exc:  # an unknown cycle is the officer's to fix: answer, never park
            raise LookupError(str(exc)) from None

    def _targets(self, session: Session, c: cmd.Extend | cmd.Waive | cmd.Fulfilled,
                 mail: InboundMail | None, incident: Incident | None) -> list[Obligation]:
        """The obligations a command is about: the one the replied-to reminder or escalation
        concerned, else every open obligation of one State on the incident."""
        if c.reference:
            incident = repo.incident_by_reference(session, c.reference)
            if incident is None:
                raise LookupError(f"no incident {c.reference}")
        replied = repo.find_outbox_by_message_ids(session, list(mail.thread_ids)) if mail else []
        found = None if c.state else _replied_obligation(session, replied, incident)
        if found is not None:
            return [found]
        if incident is None:
            raise LookupError("name the incident (e.g. #extend DCM-2026-0007 30d) or reply to "
                              "a mail about it")
        state = c.state or next((o.state_code for o in replied if o.state_code), None)
        return _one_states_open(session, incident, state)

    def apply(self, session: Session, c: cmd.Command, mail: InboundMail | None,
              incident: Incident | None, now: datetime) -> str:
        """Apply #extend, #waive or #fulfilled to the obligations it concerns; one line back."""
        assert isinstance(c, cmd.Extend | cmd.Waive | cmd.Fulfilled)
        rows = self._targets(session, c, mail, incident)
        inc = session.get(Incident, rows[0].incident_id)
        ref = inc.reference if inc else "?"
        what = f"{ref} {rows[0].state_code} para " + ", ".join(r.paragraph for r in rows)
        if isinstance(c, cmd.Extend):
            dues = []
            for row in rows:
                view = obligation_rows.view_of(row, ref)
                if c.by is not None:
                    due = ob.extend(view, c.by, now=now)
                elif c.until is not None:
                    due = ob.extend_until(view, c.until)
                else:
                    raise LookupError(cmd.EXTEND_USAGE)
                new = ob.restart(view, due)
                row.due_at, row.reminders_sent = new.due_at, new.reminders_sent
                row.last_reminded_at, row.escalated_at = None, None
                row.note = f"extended by the Secretariat on {now:%Y-%m-%d}: {c.reason}".strip(": ")
                dues.append(f"{due:%Y-%m-%d}")
            return f"{c.line}: {what} now due {', '.join(dict.fromkeys(dues))}"
        status, default = ((ObligationStatus.WAIVED, "waived by the Secretariat")
                           if isinstance(c, cmd.Waive)
                           else (ObligationStatus.FULFILLED, "marked fulfilled by the Secretariat"))
        for row in rows:
            row.status, row.note = status, c.reason or default
        self._close_if_done(session, inc)
        done = "waived" if status is ObligationStatus.WAIVED else "marked fulfilled"
        return f"{c.line}: {what} {done}"

    @staticmethod
    def _close_if_done(session: Session, incident: Incident | None) -> None:
        if incident is not None:
            session.flush()
            if not obligation_rows.open_obligations(session, incident.id):
                incident.status = IncidentStatus.CLOSED


def _replied_obligation(session: Session, replied: list[OutboxMessage],
                        incident: Incident | None) -> Obligation | None:
    """The obligation of the reminder or escalation a command mail replies to (on ``incident``)."""
    for out in replied:
        if out.key.startswith(("reminder:", "escalation:")):
            obligation_id = int(out.key.split(":")[1].split("@")[0])
            found = session.get(Obligation, obligation_id)
            if found is not None and (incident is None or found.incident_id == incident.id):
                return found
    return None


def _one_states_open(session: Session, incident: Incident, state: str | None) -> list[Obligation]:
    """The open obligations of ``state`` (or of the one State that owes any) on ``incident``."""
    candidates = [o for o in obligation_rows.open_obligations(session, incident.id)
                  if state is None or o.state_code == state]
    if not candidates:
        raise LookupError(f"no open obligation on {incident.reference}"
                          + (f" for {state}" if state else ""))
    states = sorted({o.state_code for o in candidates})
    if len(states) > 1:
        owed = ", ".join(f"{o.state_code} {o.paragraph}" for o in candidates)
        raise LookupError(f"{incident.reference} has open obligations of several States "
                          f"({owed}); name the State, e.g. #waive {incident.reference} {states[0]}")
    return candidates


def apply_control(app: App, action: str, reference: str, state: str | None, *,
                  by: timedelta | None, until: date | None, reason: str, now: datetime) -> str:
    """``mailbot obligations extend|waive|fulfil``: the same effect as the mail command."""
    from mailbot.store.db import transaction

    command: cmd.Command
    line = f"{action} {reference}" + (f" {state}" if state else "")
    if action == "extend":
        command = cmd.Extend(reference, state, by, until, reason, line=line)
    elif action == "waive":
        command = cmd.Waive(reference, state, reason, line=line)
    else:
        command = cmd.Fulfilled(reference, state, reason, line=line)
    runner = CommandRunner(app)
    with transaction(app.sessions) as session:
        return runner.apply(session, command, None, None, now)
