"""End to end on the real mail stack: time. Overdue reports are reminded, escalated, and cycles open.

The clock is moved with ``mailbot run --once --at DATETIME`` (the service acts
as if it were that UTC time). Every ``run --once`` is a new process that reads
what is due from the database only: each one is a service restart, so the
reminder that falls due while nothing runs is still sent, exactly once, by the
first run after its date (the restart case of the reminder schedule).

France reports a violation that took place in Kenya: Kenya owes a report under
paragraph 10 (a) (its own account of the incident) and one under 10 (b) (the
measures taken), each due one reasonable period (90 days by default) after
filing, reminded every 30 days, at most 3 times, then escalated once to the
Secretariat (``secretariat@example.test``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email.message import EmailMessage

from desk import TEST_STATES, Desk
from mailstack.stack import SECRETARIAT_ADDRESS, focal_point_address
from test_e2e_filing import body, follow_up_form, parse, violation_form

FRA, KEN = focal_point_address("FRA"), focal_point_address("KEN")

#: The time the violation report is filed (via ``--at``); the due date is 90 days later.
FILED = datetime(2027, 1, 4, 9, 0)
DUE = FILED + timedelta(days=90)
INTERVAL = timedelta(days=30)
REMINDER_SUBJECT = "Reminder under paragraph 11 (d)"


def run_at(desk: Desk, when: datetime) -> str:
    """``mailbot run --once --at WHEN``: a fresh process, i.e. a service (re)start at that time."""
    return desk.cli("run", "--once", "--at", when.isoformat(timespec="minutes")).stdout


def file_violation(desk: Desk) -> str:
    """France's report on an incident in Kenya, filed at ``FILED``; returns the reference."""
    desk.send(FRA, violation_form(desk), "Violation report")
    out = run_at(desk, FILED)
    assert "received 1" in out, out
    incidents = json.loads(desk.cli("incidents", "list", "--json").stdout)
    assert len(incidents) == 1
    ref = incidents[0]["reference"]
    assert isinstance(ref, str)
    desk.stack.wait_for(KEN, 2)  # the notice under 11 (c) and the circulation
    return ref


def reminders(desk: Desk, address: str = KEN) -> list[EmailMessage]:
    return [m for m in map(parse, desk.stack.fetch_all(address)) if REMINDER_SUBJECT in m["Subject"]]


def wait_reminders(desk: Desk, total: int) -> list[EmailMessage]:
    """Kenya's reminders once ``total`` have arrived (Kenya also holds the notice and the circulation)."""
    desk.stack.wait_for(KEN, 2 + total)
    found = reminders(desk)
    assert len(found) == total, [m["Subject"] for m in found]
    return found


def outbox(desk: Desk, kind: str) -> list[dict[str, object]]:
    rows = json.loads(desk.cli("outbox", "list", "--limit", "1000", "--json").stdout)
    return [r for r in rows if r["kind"] == kind]


def obligations(desk: Desk, *args: str) -> list[dict[str, object]]:
    data = json.loads(desk.cli("obligations", "list", "--json", *args).stdout)
    assert isinstance(data, list)
    return data


def by_paragraph(msgs: list[EmailMessage]) -> dict[str, int]:
    """How many of the reminders concern 10 (a) and 10 (b), read from their subjects."""
    counts = {"10 (a)": 0, "10 (b)": 0}
    for m in msgs:
        for para in counts:
            if f"report under paragraph {para}" in m["Subject"]:
                counts[para] += 1
    return counts


def test_reminders_fall_due_once_per_interval_then_one_escalation(desk: Desk) -> None:
    ref = file_violation(desk)
    owed = obligations(desk)
    assert sorted((o["state"], o["paragraph"]) for o in owed) == [("KEN", "10a"), ("KEN", "10b")]
    assert all(o["due_at"].startswith(DUE.date().isoformat()) for o in owed)  # type: ignore[union-attr]

    # nothing is overdue the day before the due date; the day after, both would be reminded
    assert obligations(desk, "--overdue", "--at", (DUE - timedelta(days=1)).date().isoformat()) == []
    planned = obligations(desk, "--overdue", "--at", (DUE + timedelta(days=1)).date().isoformat())
    assert sorted(str(o["would_send"]) for o in planned) == sorted(
        f"reminder:{o['id']}:1@{DUE.date().isoformat()}" for o in owed)

    # (2) one reasonable period + 1 day after filing: one reminder per owed report
    first = DUE + timedelta(days=1)
    out = run_at(desk, first)
    assert "reminders 2;" in out, out
    got = wait_reminders(desk, 2)
    assert by_paragraph(got) == {"10 (a)": 1, "10 (b)": 1}
    for m in got:
        assert ref in m["Subject"]
        assert m["To"] == KEN
        assert m["Auto-Submitted"] == "auto-generated"
        text = body(m)
        assert "paragraph 11 (d)" in text and ref in text
        assert ("paragraph 10 (a)" in text) != ("paragraph 10 (b)" in text)
    # what was sent is recorded; the listing now plans nothing for that date
    assert all(o["reminders_sent"] == 1 for o in obligations(desk))
    assert all(o["would_send"] is None
               for o in obligations(desk, "--overdue", "--at", first.date().isoformat()))

    # a second sweep at the same time sends nothing
    out = run_at(desk, first)
    assert "reminders 0;" in out and "sent 0" in out, out
    assert len(outbox(desk, "reminder")) == 2

    # (3) after the next interval: the second reminder. The service did not run in
    # between; this run --once is a restart, and the reminder due meanwhile goes out once.
    second = first + INTERVAL + timedelta(hours=1)
    out = run_at(desk, second)
    assert "reminders 2;" in out, out
    got = wait_reminders(desk, 4)
    assert by_paragraph(got) == {"10 (a)": 2, "10 (b)": 2}
    assert sum("reminder number 2" in body(m) for m in got) == 2
    assert "reminders 0;" in run_at(desk, second + timedelta(hours=1))

    # (4) the third (last) reminder, then after one more interval one escalation each
    third = second + INTERVAL + timedelta(hours=1)
    assert "reminders 2;" in run_at(desk, third)
    wait_reminders(desk, 6)
    assert desk.stack.fetch_all(SECRETARIAT_ADDRESS) == []
    late = third + INTERVAL + timedelta(hours=1)
    out = run_at(desk, late)
    assert "reminders 2;" in out, out  # the two escalations (the sweep's count covers both kinds)
    escalations = [parse(r) for r in desk.stack.wait_for(SECRETARIAT_ADDRESS, 2)]
    assert len(escalations) == 2
    assert sorted("10 (a)" in m["Subject"] for m in escalations) == [False, True]
    for m in escalations:
        assert ref in m["Subject"] and "Kenya" in m["Subject"]
        assert "after 3 reminder(s)" in body(m)
    # never twice, and Kenya gets no fourth reminder, however long nothing happens
    for when in (late, late + timedelta(days=200), late + timedelta(days=2000)):
        out = run_at(desk, when)
        assert "reminders 0;" in out and "sent 0" in out, out
    assert len(outbox(desk, "escalation")) == 2
    assert len(outbox(desk, "reminder")) == 6
    assert len(reminders(desk)) == 6
    assert len(desk.stack.fetch_all(SECRETARIAT_ADDRESS)) == 2


def test_follow_up_with_final_outcome_stops_the_reminders(desk: Desk) -> None:
    ref = file_violation(desk)
    first = DUE + timedelta(days=1)
    assert "reminders 2;" in run_at(desk, first)
    got = wait_reminders(desk, 2)

    # Kenya answers the reminder with its follow-up report, final outcome included
    desk.send(KEN, follow_up_form(desk, ref), f"Re: {got[0]['Subject']}",
              in_reply_to=str(got[0]["Message-ID"]))
    out = run_at(desk, first + timedelta(days=2))
    assert "received 1" in out and "reminders 0;" in out, out
    shown = json.loads(desk.cli("incidents", "show", ref, "--json").stdout)
    assert [o["status"] for o in shown["obligations"]] == ["fulfilled", "fulfilled"]
    assert shown["status"] == "closed"
    assert obligations(desk, "--overdue", "--at", "2035-01-01") == []
    # Kenya's inbox: the notice, the circulation, the two reminders, the acknowledgement
    ack = parse(desk.stack.wait_for(KEN, 5)[-1])
    assert ack["In-Reply-To"] is not None and REMINDER_SUBJECT not in ack["Subject"]

    for days in (31, 62, 93, 400, 3000):
        out = run_at(desk, first + timedelta(days=days))
        assert "reminders 0;" in out and "sent 0" in out, out
    assert len(outbox(desk, "reminder")) == 2
    assert len(outbox(desk, "escalation")) == 0
    assert len(desk.stack.fetch_all(KEN)) == 5
    assert len(reminders(desk)) == 2
    assert desk.stack.fetch_all(SECRETARIAT_ADDRESS) == []


def test_opening_a_cycle_sends_one_circular_note_with_the_blank_forms_to_every_state(
        desk: Desk) -> None:
    out = desk.cli("cycle", "open", "--session", "83", "--deadline", "2099-05-15").stdout
    assert "session 83" in out and f"queued for {len(TEST_STATES)} States" in out, out
    cycles = json.loads(desk.cli("cycle", "list", "--json").stdout)
    assert [c["session"] for c in cycles] == [83]
    shown = json.loads(desk.cli("cycle", "show", "83", "--json").stdout)
    assert shown["circular_notes"] == len(TEST_STATES) and shown["submissions"] == {}
    out = desk.run_once()
    assert f"sent {len(TEST_STATES)}," in out, out

    for code in TEST_STATES:
        msgs = [parse(r) for r in desk.stack.wait_for(focal_point_address(code), 1)]
        assert len(msgs) == 1, code
        note = msgs[0]
        pdfs = [p for p in note.iter_attachments() if p.get_content_type() == "application/pdf"]
        assert len(pdfs) == 3, (code, [p.get_filename() for p in note.iter_attachments()])
        for part in pdfs:
            data = part.get_content()
            assert isinstance(data, bytes) and data.startswith(b"%PDF-"), code
        assert "2099" in body(note)
        assert "ircula" in note["Subject"], note["Subject"]  # Circular / circulaire / circular

    # a second opening for the same session is refused, and sends nothing
    again = desk.cli("cycle", "open", "--session", "83", "--deadline", "2099-06-15", check=False)
    assert again.returncode != 0
    assert "session 83 exists already" in again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    assert "sent 0" in desk.run_once()
    assert len(outbox(desk, "circular")) == len(TEST_STATES)
    for code in TEST_STATES:
        assert len(desk.stack.fetch_all(focal_point_address(code))) == 1, code


def test_obligations_controlled_from_the_command_line(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk, offender_state="Germany"), "Violation report")
    desk.run_once()
    ref = json.loads(desk.cli("incidents", "list", "--json").stdout)[0]["reference"]
    # Kenya owes 10 (a) and 10 (b), Germany (where the offenders are) a gentle 10 (b)
    several = desk.cli("obligations", "waive", ref, check=False)
    assert several.returncode == 2 and "several States" in several.stderr
    assert "Traceback" not in several.stderr
    out = desk.cli("obligations", "waive", ref, "--state", "DEU", "--reason", "offenders left").stdout
    assert f"{ref} DEU para 10b waived" in out
    out = desk.cli("obligations", "extend", ref, "--state", "KEN", "--until", "2099-01-31").stdout
    assert f"{ref} KEN para 10a, 10b now due 2099-01-31" in out
    due = {o["paragraph"]: o["due_at"] for o in obligations(desk) if o["state"] == "KEN"}
    assert all(str(d).startswith("2099-01-31") for d in due.values())
    out = desk.cli("obligations", "fulfil", ref, "--state", "KEN", "--reason", "note of 3 March").stdout
    assert "marked fulfilled" in out
    assert not [o for o in obligations(desk) if o["status"] == "open"]
    assert json.loads(desk.cli("incidents", "show", ref, "--json").stdout)["status"] == "closed"
    missing = desk.cli("incidents", "show", "DCM-1999-0001", check=False)
    assert missing.returncode == 2 and "no incident DCM-1999-0001" in missing.stderr
    assert "Traceback" not in missing.stderr
