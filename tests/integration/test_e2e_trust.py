"""End to end: the desk acts only on mail whose sender is proven, through real verifiers.

Every message goes through the stack's Postfix, where real OpenDKIM and
OpenDMARC write the ``Authentication-Results`` the desk trusts
(``tests/mailstack/verifier.py``).  A focal point's own server signs its
mail (the stack signs with example.test's key); an attacker's does not, or
signs with its own domain.  Each attack is replayed as an attacker would
send it, and each test asserts that nothing acted (no circulation in any
State's mailbox, no notice, the obligation still open, no mail to a third
party) and which line of defence stopped it.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from desk import TEST_STATES, Desk
from mailstack.stack import OFFICER_ADDRESS, focal_point_address
from test_e2e_filing import violation_form

FRA, KEN = focal_point_address("FRA"), focal_point_address("KEN")
OTHERS = [focal_point_address(c) for c in TEST_STATES if c != "FRA"]
CODE = re.compile(r"CNF-[A-Z2-7]{16}")


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def received(desk: Desk, address: str) -> list[EmailMessage]:
    return [parse(r) for r in desk.stack.fetch_all(address)]


def messages(desk: Desk) -> list[dict[str, object]]:
    return list(json.loads(desk.cli("messages", "list", "--json").stdout))


def outbox_to(desk: Desk, address: str) -> list[dict[str, object]]:
    rows = json.loads(desk.cli("outbox", "list", "--json").stdout)
    return [r for r in rows if address in json.dumps(r)]


def nobody_else_was_written_to(desk: Desk) -> None:
    for address in OTHERS:
        assert received(desk, address) == [], address


def confirmation_code(desk: Desk, address: str) -> str:
    asked = [m for m in received(desk, address) if CODE.search(str(m["Subject"]))]
    assert len(asked) == 1, [m["Subject"] for m in received(desk, address)]
    found = CODE.search(str(asked[0]["Subject"]))
    assert found is not None
    return found.group(0)


def test_a_proven_focal_point_is_acknowledged_and_circulated_with_no_extra_step(desk: Desk) -> None:
    desk.send(FRA, "Please find our report.\n\n" + violation_form(desk), "Violation report")
    desk.run_once()
    assert [m for m in received(desk, FRA) if CODE.search(str(m["Subject"]))] == []
    for address in OTHERS:
        assert desk.stack.wait_for(address, 1), address
    shown = json.loads(desk.cli("messages", "show", "1", "--json").stdout)
    assert any("sender proven: dmarc=pass for example.test (mx.example.test)" in n
               for n in shown["notes"]), shown["notes"]


def test_a_forged_report_reaches_no_state_until_its_focal_point_confirms_it(desk: Desk) -> None:
    # the attack: a report in France's name, From line only (no signature of example.test)
    desk.send(FRA, "Please find our report.\n\n" + violation_form(desk), "Violation report", dkim=None)
    desk.run_once()
    nobody_else_was_written_to(desk)  # no circulation, no notice to Kenya
    held = messages(desk)[0]
    assert held["status"] == "held" and "sender not proven" in str(held["reason"])
    assert "dmarc=fail for example.test" in str(held["reason"])  # the line of defence
    # France, the real owner of the address, is asked; its reply with the code confirms
    code = confirmation_code(desk, FRA)
    desk.send(FRA, "We confirm this communication.", f"Re: Confirmation [{code}]", dkim=None)
    desk.run_once()
    for address in OTHERS:
        expected = 2 if address == KEN else 1  # Kenya: the circulation and its notice
        assert len(desk.stack.wait_for(address, expected)) == expected, address
    # the same code again: single-use, nothing goes twice
    desk.send(FRA, f"Once more: {code}", "Re: Confirmation", dkim=None)
    desk.run_once()
    assert [len(received(desk, a)) for a in OTHERS] == [2 if a == KEN else 1 for a in OTHERS]


def test_an_expired_confirmation_is_never_acted_on(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk), "Violation report", dkim=None)
    desk.run_once()
    code = confirmation_code(desk, FRA)
    later = (datetime.now(UTC) + timedelta(hours=73)).strftime("%Y-%m-%dT%H:%M")
    desk.cli("run", "--once", "--at", later)
    desk.send(FRA, f"Confirmed: {code}", "Re: Confirmation", dkim=None)
    desk.cli("run", "--once", "--at", later)
    nobody_else_was_written_to(desk)
    reasons = [str(m["reason"]) for m in messages(desk)]
    assert any("already expired" in r for r in reasons), reasons


def test_a_forged_command_is_not_obeyed(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk), "Violation report")  # proven: obligations opened
    desk.run_once()
    ref = json.loads(desk.cli("incidents", "list", "--json").stdout)[0]["reference"]
    before = json.loads(desk.cli("obligations", "list", "--json").stdout)
    assert before and all(o["status"] == "open" for o in before)
    # the attack: a command in the officer's name, unsigned
    desk.send(OFFICER_ADDRESS, f"#waive {ref} proceedings closed", "Waiver", dkim=None)
    desk.run_once()
    after = json.loads(desk.cli("obligations", "list", "--json").stdout)
    assert [o["status"] for o in after] == [o["status"] for o in before]  # still open
    assert confirmation_code(desk, OFFICER_ADDRESS)  # the officer is asked, not obeyed


def test_results_written_by_the_sender_are_not_believed(desk: Desk) -> None:
    forged = ("Authentication-Results",
              "mx.example.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test")
    desk.send(FRA, violation_form(desk), "Violation report", dkim=None, headers=[forged])
    desk.run_once()
    nobody_else_was_written_to(desk)
    assert "sender not proven" in str(messages(desk)[0]["reason"])


def test_a_from_line_of_two_mailboxes_moves_nothing(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk), "Violation report",
              from_line=f"{FRA}, attacker@evil.test", dkim="evil.test")
    desk.run_once()
    nobody_else_was_written_to(desk)
    assert received(desk, FRA) == []
    shown = messages(desk)[0]
    assert shown["class"] == "spoofed"  # the line of defence: not one mailbox
    assert outbox_to(desk, "attacker@evil.test") == []


def test_the_officers_address_as_a_display_name_is_not_the_officer(desk: Desk) -> None:
    desk.send(FRA, violation_form(desk), "Violation report")
    desk.run_once()
    ref = json.loads(desk.cli("incidents", "list", "--json").stdout)[0]["reference"]
    # the attacker's own domain signs, and its server's verdict is real: for evil.test
    desk.send("attacker@evil.test", f"#waive {ref}", "Waiver",
              from_line=f"{OFFICER_ADDRESS} <attacker@evil.test>", dkim="evil.test")
    desk.run_once()
    assert all(o["status"] == "open" for o in json.loads(desk.cli("obligations", "list", "--json").stdout))
    assert messages(desk)[0]["class"] == "spoofed"


def test_no_backscatter_to_a_forged_stranger(desk: Desk) -> None:
    # the attack: spam in a third party's name, to make the desk write to that party
    desk.send(KEN, "Cheap pills at http://spam.example/", "Cheap pills at http://spam.example/",
              from_line="victim@elsewhere.example", dkim=None)
    desk.run_once()
    assert messages(desk)[0]["status"] == "held"
    assert outbox_to(desk, "victim@elsewhere.example") == []
