"""Obligations and the reminder schedule, with a clock moved by hand (no sleeping)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from mailbot.config import PolicySettings
from mailbot.domain.obligations import (
    Action,
    Escalate,
    Fulfil,
    ObligationPolicy,
    ObligationSpec,
    ObligationView,
    OffenderMode,
    Open,
    Paragraph,
    Remind,
    Role,
    after_submission,
    due_actions,
    extend,
    extend_until,
    fulfil,
    next_action_at,
    obligations_for_violation,
    overdue,
    record,
    restart,
    waive,
    would_send,
)
from mailbot.domain.types import ObligationStatus

T0 = datetime(2026, 1, 10, 9, 0)
DAY = timedelta(days=1)
POLICY = ObligationPolicy()  # 90 days, every 30 days, 3 reminders, offender gentle


def view(id: int = 1, *, state: str = "DEU", paragraph: Paragraph = "10b", role: Role = "host",
         gentle: bool = False, due_at: datetime = T0, status: ObligationStatus = ObligationStatus.OPEN,
         reminders_sent: int = 0, last_reminded_at: datetime | None = None) -> ObligationView:
    return ObligationView(id=id, incident_reference="DCM-2026-0007", state_code=state,
                          paragraph=paragraph, role=role, gentle=gentle, due_at=due_at,
                          status=status, reminders_sent=reminders_sent,
                          last_reminded_at=last_reminded_at)


# --- policy ------------------------------------------------------------------------------------


def test_policy_from_settings() -> None:
    settings = PolicySettings(reasonable_period_days=60, reminder_interval_days=14,
                              max_reminders=2, offender_state_reminders="never")
    assert ObligationPolicy.from_settings(settings) == ObligationPolicy(
        timedelta(days=60), timedelta(days=14), 2, "never")
    assert ObligationPolicy.from_settings(PolicySettings()) == POLICY


@pytest.mark.parametrize("kw", [
    {"reminder_interval": timedelta(0)},
    {"max_reminders": -1},
    {"offender_mode": "sometimes"},
])
def test_policy_rejects_nonsense(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ObligationPolicy(**kw)  # type: ignore[arg-type]


def test_policy_from_settings_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="offender_state_reminders"):
        ObligationPolicy.from_settings(PolicySettings(offender_state_reminders="loud"))


# --- obligations per violation -----------------------------------------------------------------

DUE = T0 + timedelta(days=90)


@pytest.mark.parametrize(("reporting", "host", "offender", "expected"), [
    # the host State reports its own incident: only its 10 (b) follow-up is awaited
    ("DEU", "DEU", None, [("DEU", "10b", "host", False)]),
    # a third State reports: the host owes its own 10 (a) report as well
    ("FRA", "DEU", None, [("DEU", "10a", "host", False), ("DEU", "10b", "host", False)]),
    # the offender is in another State: that State owes a gentle 10 (b)
    ("DEU", "DEU", "POL", [("DEU", "10b", "host", False), ("POL", "10b", "offender", True)]),
    ("FRA", "DEU", "POL", [("DEU", "10a", "host", False), ("DEU", "10b", "host", False),
                           ("POL", "10b", "offender", True)]),
    # offender present in the host State: one obligation, not two
    ("FRA", "DEU", "DEU", [("DEU", "10a", "host", False), ("DEU", "10b", "host", False)]),
    # the reporting State is where the offender is: it still owes its 10 (b)
    ("FRA", "DEU", "FRA", [("DEU", "10a", "host", False), ("DEU", "10b", "host", False),
                           ("FRA", "10b", "offender", True)]),
])
def test_obligations_for_violation(reporting: str, host: str, offender: str | None,
                                   expected: list[tuple[str, str, str, bool]]) -> None:
    specs = obligations_for_violation(reporting_state=reporting, host_state=host,
                                      offender_state=offender, filed_at=T0, policy=POLICY)
    assert [(s.state_code, s.paragraph, s.role, s.gentle) for s in specs] == expected
    assert {s.due_at for s in specs} == {DUE}


def test_due_date_follows_the_policy() -> None:
    policy = ObligationPolicy(reasonable_period=timedelta(days=45))
    (spec,) = obligations_for_violation(reporting_state="DEU", host_state="DEU",
                                        offender_state=None, filed_at=T0, policy=policy)
    assert spec.due_at == T0 + timedelta(days=45)


# --- fulfilment --------------------------------------------------------------------------------

HOST_10A = view(1, paragraph="10a")
HOST_10B = view(2)
OFF_10B = view(3, state="POL", role="offender", gentle=True)
OPEN = [HOST_10A, HOST_10B, OFF_10B]
LATER = T0 + timedelta(days=20)
LATER_DUE = LATER + timedelta(days=90)


@pytest.mark.parametrize(("kind", "sender", "capacity", "final", "obligations", "expected"), [
    # the host State's own violation report fulfils its 10 (a), nothing else
    ("violation", "DEU", None, False, OPEN, [Fulfil(1)]),
    # another State's violation report on the same incident changes nothing
    ("violation", "FRA", None, False, OPEN, []),
    # measures without the final outcome: 10 (b) met, the final outcome now awaited
    # (the host's follow-up is also its own communication on the violation: 10 (a) met)
    ("follow_up", "DEU", "host", False, OPEN,
     [Fulfil(1), Fulfil(2), Open(ObligationSpec("DEU", "10b-final", "host", False, LATER_DUE))]),
    # the final outcome at once: 10 (a) and 10 (b) met, nothing more
    ("follow_up", "DEU", "host", True, OPEN, [Fulfil(1), Fulfil(2)]),
    # the final outcome later: the 10b-final is met
    ("follow_up", "DEU", "host", True, [view(4, paragraph="10b-final")], [Fulfil(4)]),
    # a second measures-only follow-up while the final outcome is awaited: nothing new
    ("follow_up", "DEU", "host", False, [view(4, paragraph="10b-final")], []),
    # the offender's State: its gentle 10 (b), and a gentle 10b-final
    ("follow_up", "POL", "offender", False, OPEN,
     [Fulfil(3), Open(ObligationSpec("POL", "10b-final", "offender", True, LATER_DUE))]),
    ("follow_up", "POL", None, True, OPEN, [Fulfil(3)]),
    # the host's follow-up discharges its 10 (a)
    ("follow_up", "DEU", "host", True, [HOST_10A], [Fulfil(1)]),
    # a State with nothing owed
    ("follow_up", "FRA", None, False, OPEN, []),
    # obligations no longer open are left alone
    ("follow_up", "DEU", "host", True, [replace(HOST_10B, status="waived")], []),
])
def test_after_submission(kind: str, sender: str, capacity: str | None, final: bool,
                          obligations: list[ObligationView], expected: list[object]) -> None:
    changes = after_submission(kind=kind, sender_state=sender, capacity=capacity,
                               final_outcome=final, open_obligations=obligations,
                               filed_at=LATER, policy=POLICY)
    assert changes == expected


# --- the reminder schedule ---------------------------------------------------------------------


def simulate(obligation: ObligationView, policy: ObligationPolicy, start: datetime, days: int,
             *, step: timedelta = DAY, sweeps_per_step: int = 1
             ) -> tuple[list[tuple[int, Action]], ObligationView]:
    """Sweep every ``step`` from ``start`` and record each action as the persistence layer does.

    Returns (day offset from the obligation's due date, action) pairs and the final state.
    """
    sent: list[tuple[int, Action]] = []
    keys: set[str] = set()
    now = start
    while now <= start + days * DAY:
        for _ in range(sweeps_per_step):
            for action in due_actions([obligation], now, policy):
                assert action.key not in keys, "an outbox key was produced twice"
                keys.add(action.key)
                sent.append(((now - obligation.due_at).days, action))
                obligation = record(obligation, action, now)
        now += step
    return sent, obligation


def describe(sent: list[tuple[int, Action]]) -> list[tuple[int, str]]:
    return [(d, f"remind {a.number}" if isinstance(a, Remind) else "escalate") for d, a in sent]


def test_full_schedule_three_reminders_then_one_escalation() -> None:
    sent, final = simulate(view(7), POLICY, T0 - 10 * DAY, 400, sweeps_per_step=2)
    assert describe(sent) == [(0, "remind 1"), (30, "remind 2"), (60, "remind 3"),
                              (90, "escalate")]
    assert [a.key for _, a in sent] == [
        "reminder:7:1@2026-01-10", "reminder:7:2@2026-01-10", "reminder:7:3@2026-01-10",
        "escalation:7@2026-01-10"]
    assert [a.final for _, a in sent if isinstance(a, Remind)] == [False, False, True]
    assert final.reminders_sent == 3 and final.escalated_at == T0 + 90 * DAY


def test_hourly_sweeps_send_the_same_schedule() -> None:
    sent, _ = simulate(view(), POLICY, T0 - DAY, 200, step=timedelta(hours=1))
    assert describe(sent) == [(0, "remind 1"), (30, "remind 2"), (60, "remind 3"),
                              (90, "escalate")]


def test_nothing_before_the_due_date() -> None:
    assert due_actions([view()], T0 - timedelta(seconds=1), POLICY) == []
    (action,) = due_actions([view()], T0, POLICY)
    assert isinstance(action, Remind) and action.number == 1


def test_second_sweep_at_the_same_time_is_silent() -> None:
    ob = view()
    (first,) = due_actions([ob], T0 + DAY, POLICY)
    ob = record(ob, first, T0 + DAY)
    assert due_actions([ob], T0 + DAY, POLICY) == []
    ob = replace(ob, reminders_sent=3, last_reminded_at=T0 + 60 * DAY)
    (esc,) = due_actions([ob], T0 + 90 * DAY, POLICY)
    assert isinstance(esc, Escalate)
    ob = record(ob, esc, T0 + 90 * DAY)
    assert due_actions([ob], T0 + 90 * DAY, POLICY) == []
    assert due_actions([ob], T0 + 900 * DAY, POLICY) == []


def test_long_downtime_sends_only_the_next_reminder() -> None:
    # the service was down from before the due date until 200 days after it
    ob = view()
    back = T0 + 200 * DAY
    actions = due_actions([ob], back, POLICY)
    assert [(type(a), getattr(a, "number", None)) for a in actions] == [(Remind, 1)]
    sent, final = simulate(ob, POLICY, back, 200)
    assert describe(sent) == [(200, "remind 1"), (230, "remind 2"), (260, "remind 3"),
                              (290, "escalate")]
    assert final.reminders_sent == 3


def test_downtime_in_the_middle_resumes_an_interval_after_the_late_reminder() -> None:
    ob = view(reminders_sent=1, last_reminded_at=T0)
    (late,) = due_actions([ob], T0 + 100 * DAY, POLICY)  # reminder 2 was due at day 30
    assert isinstance(late, Remind) and late.number == 2
    ob = record(ob, late, T0 + 100 * DAY)
    assert next_action_at(ob, POLICY) == T0 + 130 * DAY
    assert due_actions([ob], T0 + 129 * DAY, POLICY) == []


def test_one_action_per_obligation_per_sweep() -> None:
    obs = [view(1), view(2, due_at=T0 + 5 * DAY), view(3, status="fulfilled"),
           view(4, status="waived"), view(5, due_at=T0 - 400 * DAY)]
    actions = due_actions(obs, T0 + 10 * DAY, POLICY)
    assert [(a.obligation_id, type(a)) for a in actions] == [(1, Remind), (2, Remind), (5, Remind)]


@pytest.mark.parametrize(("mode", "expected", "gentle_wording"), [
    ("normal", [(0, "remind 1"), (30, "remind 2"), (60, "remind 3"), (90, "escalate")], False),
    ("gentle", [(0, "remind 1"), (30, "escalate")], True),
    ("never", [], False),
])
def test_offender_modes(mode: OffenderMode, expected: list[tuple[int, str]],
                        gentle_wording: bool) -> None:
    policy = replace(POLICY, offender_mode=mode)
    offender = view(state="POL", role="offender", gentle=True)
    sent, _ = simulate(offender, policy, T0, 365)
    assert describe(sent) == expected
    assert all(a.gentle is gentle_wording for _, a in sent if isinstance(a, Remind))
    # the host's obligation is not affected by the offender mode
    host, _ = simulate(view(), policy, T0, 365)
    assert len(host) == 4


def test_never_mode_still_lists_the_obligation_as_overdue() -> None:
    offender = view(state="POL", role="offender", gentle=True)
    policy = replace(POLICY, offender_mode="never")
    assert overdue([offender], T0 + DAY) == [offender]
    assert would_send([offender], T0 + DAY, policy) == []


def test_no_reminders_at_all_escalates_on_the_due_date() -> None:
    sent, _ = simulate(view(), replace(POLICY, max_reminders=0), T0 - DAY, 200)
    assert describe(sent) == [(0, "escalate")]


# --- extension, waiver, fulfilment by the Secretariat ------------------------------------------


def test_extend_counts_from_the_due_date_or_from_now_when_overdue() -> None:
    ob = view()
    assert extend(ob, 30 * DAY) == T0 + 30 * DAY
    assert extend(ob, 30 * DAY, now=T0 - 10 * DAY) == T0 + 30 * DAY
    assert extend(ob, 30 * DAY, now=T0 + 70 * DAY) == T0 + 100 * DAY
    with pytest.raises(ValueError):
        extend(ob, timedelta(0))


def test_extend_until_a_date_means_the_end_of_that_day() -> None:
    assert extend_until(view(), date(2026, 12, 31)) == datetime(2026, 12, 31, 23, 59, 59)


def test_extension_restarts_the_schedule_with_new_keys() -> None:
    ob = view()
    before, ob = simulate(ob, POLICY, T0, 100)  # three reminders and the escalation
    assert len(before) == 4
    now = T0 + 100 * DAY
    ob = restart(ob, extend(ob, 30 * DAY, now=now))
    assert ob.due_at == now + 30 * DAY and ob.reminders_sent == 0 and ob.escalated_at is None
    assert due_actions([ob], now, POLICY) == []
    after, _ = simulate(ob, POLICY, now, 200)
    assert describe(after) == [(0, "remind 1"), (30, "remind 2"), (60, "remind 3"),
                               (90, "escalate")]
    old_keys = {a.key for _, a in before}
    assert not old_keys & {a.key for _, a in after}
    assert after[0][1].key == "reminder:1:1@2026-05-20"


def test_waived_and_fulfilled_obligations_are_never_reminded() -> None:
    for done in (waive(view()), fulfil(view())):
        sent, _ = simulate(done, POLICY, T0, 400)
        assert sent == []
        assert overdue([done], T0 + 400 * DAY) == []
    assert waive(view()).status == "waived" and fulfil(view()).status == "fulfilled"


def test_after_submission_refuses_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="views"):
        after_submission(kind="views", sender_state="DEU", capacity=None, final_outcome=False,
                         open_obligations=OPEN, filed_at=LATER, policy=POLICY)


def test_record_refuses_an_action_for_another_obligation() -> None:
    (action,) = due_actions([view(1)], T0, POLICY)
    with pytest.raises(ValueError):
        record(view(2), action, T0)


# --- listings ----------------------------------------------------------------------------------


def test_overdue_and_would_send() -> None:
    a = view(1, due_at=T0 + 10 * DAY)
    b = view(2, due_at=T0 - 50 * DAY, reminders_sent=2, last_reminded_at=T0 - 20 * DAY)
    c = view(3, due_at=T0 + 200 * DAY)
    d = view(4, due_at=T0 - 5 * DAY, status="fulfilled")
    at = T0 + 10 * DAY
    assert overdue([a, b, c, d], at) == [b, a]
    assert [(v.id, act.key) for v, act in would_send([a, b, c, d], at, POLICY)] == [
        (1, "reminder:1:1@2026-01-20"), (2, "reminder:2:3@2025-11-21")]
    assert next_action_at(c, POLICY) == T0 + 200 * DAY
    assert next_action_at(d, POLICY) is None
