"""End to end on the real mail stack: reports sent through Postfix are filed and answered.

A focal point sends a form with smtplib; ``mailbot run --once`` (a subprocess,
as a user runs it) files it; the results are read from the recipients' Dovecot
inboxes and from ``mailbot incidents show --json``.
"""

from __future__ import annotations

import email
import email.policy
import json
from email.message import EmailMessage

from desk import TEST_STATES, Desk
from mailstack.stack import focal_point_address

from mailbot.config import load_settings
from mailbot.domain.forms import FormKind, render_blank
from mailbot.service.registry import catalog

FRA, KEN = focal_point_address("FRA"), focal_point_address("KEN")


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def violation_form(desk: Desk, **over: str) -> str:
    values = {
        "reporting_state": "France", "date": "2026-11-20", "place": "Nairobi, Riverside Drive",
        "host_state": "Kenya", "affected": "Embassy of France in Nairobi",
        "affected_kind": "diplomatic_mission", "sending_state": "France",
        "description": "Demonstrators forced the gate and damaged the consular section.",
        "persons_harmed": "One guard injured.", "offenders": "Unknown persons",
        "measures_taken": "Police called.", "circulate": "yes", "contact": FRA,
    }
    values.update(over)
    cat = catalog(load_settings(desk.config, desk.env))
    return render_blank(cat, FormKind.VIOLATION, "en", values)


def follow_up_form(desk: Desk, reference: str, **over: str) -> str:
    values = {"reporting_state": "Kenya", "reference": reference, "capacity": "host",
              "measures_justice": "Two suspects arrested.", "proceedings_status": "Convicted.",
              "final_outcome": "yes", "measures_prevention": "Police post at the gate.",
              "circulate": "yes", "contact": KEN}
    values.update(over)
    cat = catalog(load_settings(desk.config, desk.env))
    return render_blank(cat, FormKind.FOLLOW_UP, "en", values)


def incident(desk: Desk, reference: str) -> dict[str, object]:
    data = json.loads(desk.cli("incidents", "show", reference, "--json").stdout)
    assert isinstance(data, dict)
    return data


def test_violation_report_is_filed_acknowledged_circulated_and_notified(desk: Desk) -> None:
    msgid = desk.send(FRA, "Please find our report.\n\n" + violation_form(desk),
                      "Violation report")
    out = desk.run_once()
    assert "received 1" in out

    incidents = json.loads(desk.cli("incidents", "list", "--json").stdout)
    assert len(incidents) == 1
    ref = incidents[0]["reference"]
    assert ref.startswith("DCM-2026-")
    shown = incident(desk, ref)
    roles = {p["role"]: p["state"] for p in shown["parties"]}  # type: ignore[union-attr,index]
    assert roles["reporting"] == "FRA" and roles["host"] == "KEN"

    # the sender: one threaded acknowledgement, with the reference and in its language
    ack = [parse(r) for r in desk.stack.wait_for(FRA, 1)]
    assert len(ack) == 1
    assert ack[0]["In-Reply-To"] == msgid
    assert ref in ack[0]["Subject"]
    assert ack[0]["Auto-Submitted"] == "auto-replied"
    assert "Nairobi" in body(ack[0])

    # every other registered State: exactly one circulation (the host also its notice)
    for code in TEST_STATES:
        if code == "FRA":
            continue
        expected = 2 if code == "KEN" else 1
        msgs = [parse(r) for r in desk.stack.wait_for(focal_point_address(code), expected)]
        assert len(msgs) == expected, code
        kinds = sorted(m["Subject"] for m in msgs)
        assert all(ref in k for k in kinds)
    ken = [parse(r) for r in desk.stack.fetch_all(KEN)]
    notice = [m for m in ken if "11 (c)" in m["Subject"] or "11 c" in m["Subject"]]
    assert len(notice) == 1
    assert ref in body(notice[0])  # the pre-filled follow-up form carries the reference
    # Mexico and Spain read Spanish
    mex = parse(desk.stack.fetch_all(focal_point_address("MEX"))[0])
    assert "Resolución" in mex["Subject"] or "resolución" in body(mex)

    # the bot's inbox is empty: the report went to Processed
    counts = desk.stack.folder_counts("mailbot@example.test")
    assert counts["INBOX"] == 0 and counts["Processed"] == 1


def test_follow_up_and_cc_letter_land_on_the_same_incident(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk), "Violation report")
    desk.run_once()
    ref = json.loads(desk.cli("incidents", "list", "--json").stdout)[0]["reference"]

    desk.send(KEN, follow_up_form(desk, ref), f"[{ref}] Follow-up report")
    desk.send("officer@example.test", f"Dear colleague, regarding {ref}: thank you.",
              f"Re: [{ref}] your report", to=[KEN], cc=["mailbot@example.test"])
    desk.run_once()
    shown = incident(desk, ref)
    kinds = [s["kind"] for s in shown["submissions"]]  # type: ignore[union-attr,index]
    assert kinds == ["violation", "follow_up"]
    senders = [h["from"] for h in shown["history"]]  # type: ignore[union-attr,index]
    assert "officer@example.test" in senders
    # the cc'd letter is never answered
    assert desk.stack.fetch_all("officer@example.test") == []
    # the host State's follow-up with the final outcome meets every obligation
    assert all(o["status"] == "fulfilled" for o in shown["obligations"])  # type: ignore[union-attr,index]
    assert shown["status"] == "closed"


def test_confidential_report_is_acknowledged_and_never_circulated(desk: Desk) -> None:
    secret = "CONFIDENTIAL-MARKER-7731"
    desk.send(FRA, violation_form(desk, circulate="no", description=secret), "Report")
    desk.run_once()
    ack = desk.stack.wait_for(FRA, 1)
    assert len(ack) == 1
    for code in TEST_STATES:
        if code == "FRA":
            continue
        for raw in desk.stack.fetch_all(focal_point_address(code)):
            assert secret.encode() not in raw
            assert b"Circulation" not in parse(raw)["Subject"].encode()
    outbox = json.loads(desk.cli("outbox", "list", "--json").stdout)
    assert not [o for o in outbox if o["kind"] == "circulation"]


def test_malformed_form_gets_a_correction_with_the_prefilled_form(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk, date="31/02/2026", host_state="Kenia-land"), "Report")
    desk.run_once()
    reply = parse(desk.stack.wait_for(FRA, 1)[0])
    text = body(reply)
    assert "Nairobi" in text  # what was understood comes back, pre-filled
    assert "date" in text.lower()
    msgs = json.loads(desk.cli("messages", "list", "--json").stdout)
    assert msgs[0]["status"] == "corrected"


def test_unknown_sender_is_answered_politely_and_held(desk: Desk) -> None:
    desk.send("someone@elsewhere.example", "Hello", "Question")
    desk.run_once()
    held = json.loads(desk.cli("messages", "list", "--status", "held", "--json").stdout)
    assert len(held) == 1 and held[0]["class"] == "unknown"


def test_out_of_office_reply_gets_no_answer(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk), "Report")
    desk.run_once()
    ack = parse(desk.stack.wait_for(FRA, 1)[0])
    ooo = EmailMessage()
    ooo["From"], ooo["To"] = FRA, "mailbot@example.test"
    ooo["Subject"] = "Automatic reply: " + ack["Subject"]
    ooo["Auto-Submitted"] = "auto-replied"
    ooo["In-Reply-To"] = ack["Message-ID"]
    ooo["Message-ID"] = "<ooo-1@mission.example.test>"
    ooo.set_content("I am out of the office until Monday.")
    desk.stack.send(ooo, FRA, ["mailbot@example.test"])
    desk.run_once()
    assert len(desk.stack.fetch_all(FRA)) == 1  # still only the acknowledgement
    ignored = json.loads(desk.cli("messages", "list", "--status", "ignored", "--json").stdout)
    assert ignored and ignored[0]["class"] == "auto_reply"


def test_defaulted_circulation_waits_and_a_reply_can_withdraw_it(desk: Desk) -> None:
    from datetime import timedelta

    from mailbot.service.clock import utcnow

    desk.send(FRA, violation_form(desk, circulate=""), "Report")
    desk.run_once()
    ack = parse(desk.stack.wait_for(FRA, 1)[0])
    assert desk.stack.fetch_all(focal_point_address("DEU")) == []  # waiting for objections
    rows = json.loads(desk.cli("outbox", "list", "--json").stdout)
    assert {r["status"] for r in rows if r["kind"] == "circulation"} == {"pending"}
    desk.send(FRA, "We ask that this report not be circulated.\n\n> earlier text", "Re: " + ack["Subject"],
              in_reply_to=ack["Message-ID"])
    desk.run_once()
    later = (utcnow() + timedelta(days=3)).isoformat(timespec="minutes")
    desk.cli("run", "--once", "--at", later)
    for code in TEST_STATES:
        if code in ("FRA", "KEN"):
            continue
        assert desk.stack.fetch_all(focal_point_address(code)) == []
    rows = json.loads(desk.cli("outbox", "list", "--json").stdout)
    assert {r["status"] for r in rows if r["kind"] == "circulation"} == {"cancelled"}
