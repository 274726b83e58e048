"""Obligations: which reports a State owes for an incident, when, and how it is reminded.

Place in the flow: pure rules called by the service layer.  When a violation
report is filed, :func:`obligations_for_violation` says which reports the
incident now awaits (paragraph 10 (a) and 10 (b) of resolution 61/31); when
a report is filed against an incident, :func:`after_submission` says which of
them it discharges and which new one it opens; the periodic sweep passes the
open obligations and ``now`` to :func:`due_actions`, which returns the
reminders (paragraph 11 (d)) and escalations to the Secretariat that are due.
The service layer persists the obligations, records what it decided, and
writes one outbox row per action under the action's ``key``.

Nothing here reads the clock or touches storage: ``now`` is always passed in,
and obligations come in as :class:`ObligationView` values.

The reminder schedule, precisely
--------------------------------

For an open obligation with ``reminders_sent = k``, the next reminder is
number ``n = k + 1``.  It is allowed while ``n`` is within the limit for the
obligation (:func:`reminder_limit`), and it is due at::

    n == 1:  due_at
    n > 1:   max(due_at + (n - 1) * interval, last_reminded_at + interval)

So on a service that runs, reminders fall one interval apart starting on the
due date; after a long stop, the first sweep sends only the *next* reminder
(never a burst), and the one after it comes a full interval after that
reminder was decided.  Once the limit is reached, one escalation to the
Secretariat is due at ``max(due_at + limit * interval, last_reminded_at +
interval)``; with a limit of 0 that is the due date itself.  The escalation
is decided once: ``escalated_at`` stops it.

The persistence layer records each decision as :func:`record` does:
``reminders_sent = n`` and ``last_reminded_at = now`` of the sweep that
decided it, or ``escalated_at = now``.  A second sweep at the
same ``now`` then returns nothing, and the outbox keys (below) stop a
duplicate even if a decision were made twice.

Extensions and outbox keys
--------------------------

``#extend`` gives an obligation a new due date and restarts its schedule from
it (:func:`restart`): the persistence layer sets ``due_at`` and clears
``reminders_sent``, ``last_reminded_at`` and ``escalated_at``, so the State
is reminded again, from reminder 1, once the new date passes.  Because the
numbering restarts, an outbox key names the due date it belongs to as well
as the obligation and the number::

    reminder:<obligation_id>:<n>@<due date, YYYY-MM-DD>
    escalation:<obligation_id>@<due date, YYYY-MM-DD>

Within one schedule the key is fixed, so the outbox refuses a second row for
the same reminder; after an extension the keys are new, so the restarted
reminders are not mistaken for the ones already sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal, Protocol

from mailbot.domain.types import ObligationStatus

Paragraph = Literal["10a", "10b", "10b-final"]
Role = Literal["host", "offender"]
OffenderMode = Literal["normal", "gentle", "never"]
SubmissionKind = Literal["violation", "follow_up"]

OFFENDER_MODES: tuple[OffenderMode, ...] = ("normal", "gentle", "never")

#: How many reminders a gentle obligation gets at most when the offender mode is "gentle".
GENTLE_MAX_REMINDERS = 1


class _PolicySource(Protocol):
    """The policy fields of :class:`mailbot.config.PolicySettings` this module reads."""

    @property
    def reasonable_period_days(self) -> int: ...
    @property
    def reminder_interval_days(self) -> int: ...
    @property
    def max_reminders(self) -> int: ...
    @property
    def offender_state_reminders(self) -> str: ...


@dataclass(frozen=True)
class ObligationPolicy:
    """How long States have to report, and how they are reminded.

    ``reasonable_period``: paragraph 11 (d) asks for reminders when reports are
    not made "within a reasonable period", and neither the resolution nor the
    Secretary-General's reports fix a number.  The period is the
    Secretariat's decision; 90 days is only the shipped default
    (``policy.reasonable_period_days``).

    ``reminder_interval`` and ``max_reminders``: the gap between reminders and
    how many a State receives before the Secretariat is told instead.

    ``offender_mode``: how the State where the alleged offender is present is
    reminded.  Paragraph 10 (b) asks its report only "to the extent
    possible", so its obligations are *gentle*.  ``"normal"`` treats them like
    any other; ``"gentle"`` sends at most one reminder, in the gentle wording;
    ``"never"`` keeps them on record (they show in listings) but never
    reminds the State nor escalates.
    """

    reasonable_period: timedelta = timedelta(days=90)
    reminder_interval: timedelta = timedelta(days=30)
    max_reminders: int = 3
    offender_mode: OffenderMode = "gentle"

    def __post_init__(self) -> None:
        if self.reasonable_period < timedelta(0):
            raise ValueError("reasonable_period must not be negative")
        if self.reminder_interval <= timedelta(0):
            raise ValueError("reminder_interval must be positive")
        if self.max_reminders < 0:
            raise ValueError("max_reminders must not be negative")
        if self.offender_mode not in OFFENDER_MODES:
            raise ValueError(f"offender_mode must be one of {', '.join(OFFENDER_MODES)}")

    @classmethod
    def from_settings(cls, policy: _PolicySource) -> ObligationPolicy:
        """Build the policy from ``mailbot.config.PolicySettings``."""
        mode = policy.offender_state_reminders
        if mode not in OFFENDER_MODES:
            raise ValueError(
                f"policy.offender_state_reminders: got {mode!r}, expected one of "
                + ", ".join(OFFENDER_MODES)
            )
        return cls(
            reasonable_period=timedelta(days=policy.reasonable_period_days),
            reminder_interval=timedelta(days=policy.reminder_interval_days),
            max_reminders=policy.max_reminders,
            offender_mode=mode,
        )


@dataclass(frozen=True)
class ObligationSpec:
    """An obligation to create: the State, what it owes, in what capacity, by when."""

    state_code: str
    paragraph: Paragraph
    role: Role
    gentle: bool
    due_at: datetime


@dataclass(frozen=True)
class ObligationView:
    """An obligation as stored, filled by the persistence layer from its row.

    ``paragraph``, ``role`` and ``status`` take the values of
    :data:`Paragraph`, :data:`Role` and :class:`~mailbot.domain.types.ObligationStatus`; they are typed as
    plain strings because they come straight from database columns.
    """

    id: int
    incident_reference: str
    state_code: str
    paragraph: str
    role: str
    gentle: bool
    due_at: datetime
    status: str = ObligationStatus.OPEN
    reminders_sent: int = 0
    last_reminded_at: datetime | None = None
    escalated_at: datetime | None = None


@dataclass(frozen=True)
class Fulfil:
    """The obligation is discharged by the submission just filed."""

    obligation_id: int


@dataclass(frozen=True)
class Open:
    """A new obligation the submission just filed gives rise to."""

    spec: ObligationSpec


ObligationChange = Fulfil | Open


@dataclass(frozen=True)
class Remind:
    """Send reminder number ``number`` for an obligation (paragraph 11 (d))."""

    obligation_id: int
    number: int
    key: str
    state_code: str
    incident_reference: str
    paragraph: str
    gentle: bool  # use the gentle wording ("to the extent possible")
    final: bool  # the last reminder before the Secretariat is told


@dataclass(frozen=True)
class Escalate:
    """Tell the Secretariat that an obligation stays unmet after the reminders."""

    obligation_id: int
    key: str
    state_code: str
    incident_reference: str
    paragraph: str
    reminders_sent: int


Action = Remind | Escalate


# --- creating obligations ------------------------------------------------------------------


def obligations_for_violation(
    *,
    reporting_state: str,
    host_state: str,
    offender_state: str | None,
    filed_at: datetime,
    policy: ObligationPolicy,
) -> list[ObligationSpec]:
    """The reports a new incident awaits, each due one reasonable period after filing.

    - the host State (where the violation took place) owes its own 10 (a)
      report when another State reported it;
    - the host State owes a 10 (b) report on the measures taken;
    - the State where the alleged offender is present, when named and not the
      host State, owes a 10 (b) report "to the extent possible" (gentle).
    """
    due = filed_at + policy.reasonable_period
    specs: list[ObligationSpec] = []
    if reporting_state != host_state:
        specs.append(ObligationSpec(host_state, "10a", "host", False, due))
    specs.append(ObligationSpec(host_state, "10b", "host", False, due))
    if offender_state and offender_state != host_state:
        specs.append(ObligationSpec(offender_state, "10b", "offender", True, due))
    return specs


def after_submission(
    *,
    kind: SubmissionKind | str,
    sender_state: str,
    capacity: Role | str | None,
    final_outcome: bool,
    open_obligations: Sequence[ObligationView],
    filed_at: datetime,
    policy: ObligationPolicy,
) -> list[ObligationChange]:
    """What a report filed against an incident does to that incident's open obligations.

    - a violation report from a State fulfils that State's open 10 (a)
      obligation (the host State reporting the incident itself);
    - a follow-up report with measures but no final outcome fulfils the
      sender's open 10 (b) and opens a ``10b-final`` obligation for the final
      outcome of the proceedings, due one reasonable period later;
    - a follow-up report with the final outcome fulfils the sender's open
      10 (b) and ``10b-final``.

    A follow-up report from the host State also discharges its 10 (a)
    obligation: filed against the incident's reference, it is that State's own
    communication on the violation, and the Secretariat's reports list it as
    such (a State reports the facts and the measures taken in one note).  ``capacity``
    (host or offender, as the follow-up form says) narrows the match when the
    sender holds obligations in that role; otherwise all of the sender's
    obligations on the incident are considered.  Obligations not open are
    ignored, so the result is empty for a repeated submission.
    """
    if kind not in ("violation", "follow_up"):
        raise ValueError(f"after_submission: unknown submission kind {kind!r}")
    mine = [o for o in open_obligations if o.status == ObligationStatus.OPEN and o.state_code == sender_state]
    if kind == "violation":
        return [Fulfil(o.id) for o in mine if o.paragraph == "10a"]
    if capacity is not None and any(o.role == capacity for o in mine):
        mine = [o for o in mine if o.role == capacity]
    return _after_follow_up(mine, final_outcome, filed_at + policy.reasonable_period)


def _after_follow_up(mine: Sequence[ObligationView], final_outcome: bool,
                     final_due: datetime) -> list[ObligationChange]:
    """A follow-up report against the sender's open obligations ``mine`` (see
    :func:`after_submission`); ``final_due``: when a final outcome opened here is due."""
    own = [o for o in mine if o.paragraph == "10a" and o.role == "host"]
    first = [o for o in mine if o.paragraph == "10b"]
    final = [o for o in mine if o.paragraph == "10b-final"]
    if final_outcome:
        return [Fulfil(o.id) for o in (*own, *first, *final)]
    changes: list[ObligationChange] = [Fulfil(o.id) for o in (*own, *first)]
    for o in first:
        if not any(f.role == o.role for f in final):
            role: Role = "offender" if o.role == "offender" else "host"
            changes.append(Open(ObligationSpec(o.state_code, "10b-final", role, o.gentle, final_due)))
    return changes


# --- the reminder schedule -----------------------------------------------------------------


def reminder_limit(view: ObligationView, policy: ObligationPolicy) -> int:
    """How many reminders this obligation's State receives before the escalation."""
    if not view.gentle or policy.offender_mode == "normal":
        return policy.max_reminders
    if policy.offender_mode == "gentle":
        return min(GENTLE_MAX_REMINDERS, policy.max_reminders)
    return 0


def escalates(view: ObligationView, policy: ObligationPolicy) -> bool:
    """Whether the Secretariat is told when the reminders are exhausted."""
    return not (view.gentle and policy.offender_mode == "never")


def _suffix(view: ObligationView) -> str:
    return f"@{view.due_at.date().isoformat()}"


def reminder_key(view: ObligationView, number: int) -> str:
    """The outbox key of reminder ``number``: ``reminder:<id>:<n>@<due date>``."""
    return f"reminder:{view.id}:{number}{_suffix(view)}"


def escalation_key(view: ObligationView) -> str:
    """The outbox key of the escalation: ``escalation:<id>@<due date>``."""
    return f"escalation:{view.id}{_suffix(view)}"


def next_action(view: ObligationView, policy: ObligationPolicy) -> tuple[datetime, Action] | None:
    """The next reminder or escalation for an obligation and when it falls due, if any."""
    if view.status != ObligationStatus.OPEN:
        return None
    interval = policy.reminder_interval
    limit = reminder_limit(view, policy)
    n = view.reminders_sent + 1
    if n <= limit:
        at = view.due_at + (n - 1) * interval
        if n > 1 and view.last_reminded_at is not None:
            at = max(at, view.last_reminded_at + interval)
        gentle = view.gentle and policy.offender_mode == "gentle"
        remind = Remind(view.id, n, reminder_key(view, n), view.state_code,
                        view.incident_reference, view.paragraph, gentle, final=n == limit)
        return at, remind
    if view.escalated_at is not None or not escalates(view, policy):
        return None
    at = view.due_at + limit * interval
    if view.reminders_sent and view.last_reminded_at is not None:
        at = max(at, view.last_reminded_at + interval)
    return at, Escalate(view.id, escalation_key(view), view.state_code, view.incident_reference,
                        view.paragraph, view.reminders_sent)


def next_action_at(view: ObligationView, policy: ObligationPolicy) -> datetime | None:
    """When the next reminder or escalation falls due (for listings and the scheduler)."""
    found = next_action(view, policy)
    return found[0] if found else None


def due_actions(
    obligations: Sequence[ObligationView], now: datetime, policy: ObligationPolicy
) -> list[Action]:
    """The reminders and escalations a sweep at ``now`` must decide: at most one per obligation."""
    actions: list[Action] = []
    for view in obligations:
        found = next_action(view, policy)
        if found is not None and now >= found[0]:
            actions.append(found[1])
    return actions


def record(view: ObligationView, action: Action, now: datetime) -> ObligationView:
    """The obligation after the persistence layer recorded ``action`` decided at ``now``."""
    if action.obligation_id != view.id:
        raise ValueError(f"action for obligation {action.obligation_id} applied to {view.id}")
    if isinstance(action, Remind):
        return replace(view, reminders_sent=action.number, last_reminded_at=now)
    return replace(view, escalated_at=now)


# --- the Secretariat's decisions -----------------------------------------------------------


def extend(view: ObligationView, by: timedelta, *, now: datetime | None = None) -> datetime:
    """The new due date for ``#extend <duration>``.

    The duration counts from the current due date, or from ``now`` when the
    obligation is already overdue at ``now`` (so "30 more days" in reply to a
    reminder means 30 days from the reply).  The caller then restarts the
    schedule from the new date (:func:`restart`).
    """
    if by <= timedelta(0):
        raise ValueError("an extension must be a positive duration")
    base = view.due_at if now is None else max(view.due_at, now)
    return base + by


def extend_until(view: ObligationView, until: date) -> datetime:
    """The new due date for ``#extend <date>``: the end of that day."""
    return datetime.combine(until, time(23, 59, 59), tzinfo=view.due_at.tzinfo)


def restart(view: ObligationView, due_at: datetime) -> ObligationView:
    """The obligation with a new due date and its reminder schedule restarted from it."""
    return replace(view, due_at=due_at, reminders_sent=0, last_reminded_at=None,
                   escalated_at=None)


def waive(view: ObligationView) -> ObligationView:
    """The obligation waived by the Secretariat: nothing more is due."""
    return replace(view, status=ObligationStatus.WAIVED)


def fulfil(view: ObligationView) -> ObligationView:
    """The obligation marked fulfilled (by a report, or by the Secretariat's ``#fulfilled``)."""
    return replace(view, status=ObligationStatus.FULFILLED)


# --- listings ------------------------------------------------------------------------------


def overdue(obligations: Sequence[ObligationView], at: datetime) -> list[ObligationView]:
    """Open obligations whose due date has come by ``at``, the longest overdue first."""
    late = [o for o in obligations if o.status == ObligationStatus.OPEN and o.due_at <= at]
    return sorted(late, key=lambda o: (o.due_at, o.id))


def would_send(
    obligations: Sequence[ObligationView], at: datetime, policy: ObligationPolicy
) -> list[tuple[ObligationView, Action]]:
    """What a sweep at ``at`` would decide for each obligation, given what is recorded now."""
    by_id = {o.id: o for o in obligations}
    return [(by_id[a.obligation_id], a) for a in due_actions(obligations, at, policy)]
