"""End to end on the real mail stack: the Secretariat's commands by mail (#extend, #waive, ...).

An officer (``officer@example.test``, a registered Secretariat address) replies
to one of the desk's reminders with a command line; ``mailbot run --once``
carries it out inside the intake transaction and answers with a confirmation.
The effect is read back from ``mailbot obligations list --json`` and from the
reminders that later runs send (or do not send). The same line from a State's
focal point is not obeyed: a State cannot extend its own deadline.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime, timedelta
from email.message import EmailMessage

from desk import Desk
from mailstack.stack import BOT_ADDRESS, OFFICER_ADDRESS, focal_point_address
from test_e2e_filing import body, parse
from test_e2e_time import DUE, file_violation, obligations, outbox, reminders, run_at, wait_reminders

from mailbot.domain.commands import HELP_TEXT

KEN = focal_point_address("KEN")
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def reply(desk: Desk, sender: str, to: EmailMessage, text: str) -> str:
    """``sender`` answers the mail ``to`` (as a mail client does: Re: subject, In-Reply-To)."""
    quoted = "\n".join("> " + line for line in body(to).splitlines()[:5])
    return desk.send(sender, f"{text}\n\nOn 5 April 2027, the desk wrote:\n{quoted}\n",
                     f"Re: {to['Subject']}", in_reply_to=str(to["Message-ID"]))


def answers(desk: Desk, count: int) -> list[EmailMessage]:
    """The officer's inbox once it holds ``count`` mails (the desk's confirmations)."""
    got = [parse(r) for r in desk.stack.wait_for(OFFICER_ADDRESS, count)]
    assert len(got) == count, [m["Subject"] for m in got]
    return got


def reminder_for(msgs: list[EmailMessage], paragraph: str) -> EmailMessage:
    found = [m for m in msgs if f"report under paragraph {paragraph}" in m["Subject"]]
    assert len(found) == 1, [m["Subject"] for m in msgs]
    return found[0]


def owed(desk: Desk) -> dict[str, dict[str, object]]:
    """Kenya's obligations by paragraph."""
    return {str(o["paragraph"]): o for o in obligations(desk) if o["state"] == "KEN"}


def first_reminders(desk: Desk) -> tuple[str, list[EmailMessage], datetime]:
    """France's report filed and the first reminders (10 (a) and 10 (b)) in Kenya's inbox."""
    ref = file_violation(desk)
    first = DUE + timedelta(days=1)
    assert "reminders 2;" in run_at(desk, first)
    return ref, wait_reminders(desk, 2), first


def test_extend_moves_the_due_date_and_restarts_the_reminders_from_it(desk: Desk) -> None:
    ref, sent, first = first_reminders(desk)
    reply(desk, OFFICER_ADDRESS, reminder_for(sent, "10 (a)"), "#extend 30d")
    replied_at = first + timedelta(days=1)
    out = run_at(desk, replied_at)
    assert "received 1" in out, out

    # the confirmation, threaded on the officer's mail, says what was done
    conf = answers(desk, 1)[0]
    assert conf["Subject"].startswith("Command carried out")
    new_due = (replied_at + timedelta(days=30)).date()  # overdue, so 30 days from the reply
    assert f"#extend 30d: {ref} KEN para 10a now due {new_due.isoformat()}" in body(conf)

    ob = owed(desk)
    assert str(ob["10a"]["due_at"]).startswith(new_due.isoformat())
    assert ob["10a"]["reminders_sent"] == 0
    assert str(ob["10b"]["due_at"]).startswith(DUE.date().isoformat())  # the other one untouched

    # at the old schedule's second reminder, only the 10 (b) report is reminded
    old_second = first + timedelta(days=30, hours=1)
    assert "reminders 1;" in run_at(desk, old_second)
    got = wait_reminders(desk, 3)
    assert sum("paragraph 10 (a)" in m["Subject"] for m in got) == 1
    keys = {str(r["key"]) for r in outbox(desk, "reminder")}
    assert f"reminder:{ob['10a']['id']}:2@{DUE.date().isoformat()}" not in keys

    # once the new date passes, the 10 (a) report is reminded again, from reminder 1
    assert "reminders 1;" in run_at(desk, datetime.combine(new_due, DUE.time()) + timedelta(days=1))
    got = wait_reminders(desk, 4)
    assert f"reminder:{ob['10a']['id']}:1@{new_due.isoformat()}" in {
        str(r["key"]) for r in outbox(desk, "reminder")}
    latest = [m for m in got if "paragraph 10 (a)" in m["Subject"]]
    assert len(latest) == 2
    assert str(new_due.year) in latest[-1]["Subject"] and "reminder 1" in latest[-1]["Subject"]


def test_waive_and_fulfilled_close_the_obligations_and_stop_the_reminders(desk: Desk) -> None:
    ref, sent, first = first_reminders(desk)
    reply(desk, OFFICER_ADDRESS, reminder_for(sent, "10 (a)"), "#waive the facts are not disputed")
    reply(desk, OFFICER_ADDRESS, reminder_for(sent, "10 (b)"),
          "#fulfilled answered by note verbale of 3 March")
    assert "received 2" in run_at(desk, first + timedelta(days=1))

    texts = "\n".join(body(m) for m in answers(desk, 2))
    assert f"#waive the facts are not disputed: {ref} KEN para 10a waived" in texts
    assert f"{ref} KEN para 10b marked fulfilled" in texts
    ob = owed(desk)
    assert (ob["10a"]["status"], ob["10b"]["status"]) == ("waived", "fulfilled")
    shown = json.loads(desk.cli("incidents", "show", ref, "--json").stdout)
    assert shown["status"] == "closed"

    for days in (31, 62, 93, 1000):
        out = run_at(desk, first + timedelta(days=days))
        assert "reminders 0;" in out, out
    assert len(outbox(desk, "reminder")) == 2 and outbox(desk, "escalation") == []
    assert len(reminders(desk)) == 2


def test_help_bad_commands_and_commands_from_a_state(desk: Desk) -> None:
    ref, sent, first = first_reminders(desk)
    # Kenya's focal point tries to give itself more time: not obeyed
    reply(desk, KEN, reminder_for(sent, "10 (a)"), "#extend 300d")
    desk.send(OFFICER_ADDRESS, "#help", "Commands?")
    desk.send(OFFICER_ADDRESS, "#extnd 30d\n#extend soon", f"[{ref}] more time")
    assert "received 3" in run_at(desk, first + timedelta(days=1))

    got = {m["Subject"]: body(m) for m in answers(desk, 2)}
    help_mail = next(text for subject, text in got.items() if "Commands?" in subject)
    for line in HELP_TEXT.splitlines()[:4]:
        assert line.strip() in help_mail
    bad_subject, bad = next((s, t) for s, t in got.items() if "more time" in s)
    assert bad_subject.startswith("Command not carried out")
    assert "error: #extnd is not a command; did you mean #extend?" in bad
    assert "error: #extend needs a duration like 30d" in bad

    # the State's command changed nothing: it is held for the Secretariat on the incident,
    # Kenya is told so politely and the Secretariat is told what Kenya asked
    letters = [m for m in json.loads(desk.cli("messages", "list", "--json").stdout) if m["from"] == KEN]
    assert [(m["class"], m["status"], m["incident"]) for m in letters] == [("state", "held", ref)]
    assert len(outbox(desk, "held")) == 1
    notices = outbox(desk, "secretariat_notice")
    assert len(notices) == 1 and notices[0]["to"] == ["secretariat@example.test"]
    ob = owed(desk)
    assert str(ob["10a"]["due_at"]).startswith(DUE.date().isoformat())
    assert ob["10a"]["reminders_sent"] == 1
    assert not [m for m in map(parse, desk.stack.fetch_all(KEN)) if "Command" in m["Subject"]]
    assert len(outbox(desk, "command_result")) == 2
    # and the next reminder comes on the original schedule
    assert "reminders 2;" in run_at(desk, first + timedelta(days=30, hours=1))


def test_report_command_returns_the_report_as_docx(desk: Desk) -> None:
    # no cycle for session 84: the officer is told so, and the mail is filed, not quarantined
    desk.send(OFFICER_ADDRESS, "Please send the draft.", "#report 84")
    assert "received 1 (processed 1)" in desk.run_once()
    refused = answers(desk, 1)[0]
    assert refused["Subject"].startswith("Command not carried out")
    assert "#report 84: not done: no reporting cycle for session 84" in body(refused)
    assert desk.stack.folder_counts(BOT_ADDRESS)["Quarantine"] == 0

    desk.cli("cycle", "open", "--session", "83", "--deadline", "2099-05-15")
    desk.send(OFFICER_ADDRESS, "Please send the draft.", "#report 83")
    out = desk.run_once()
    assert "received 1" in out, out
    got = [m for m in answers(desk, 2) if "#report 83" in m["Subject"]]
    assert got[0]["Subject"].startswith("Command carried out")
    files = [p for p in got[0].iter_attachments() if p.get_content_type() == DOCX]
    assert len(files) == 1, [p.get_content_type() for p in got[0].iter_attachments()]
    assert str(files[0].get_filename()).endswith(".docx")
    data = files[0].get_content()
    assert isinstance(data, bytes)
    with zipfile.ZipFile(io.BytesIO(data)) as docx:
        document = docx.read("word/document.xml").decode("utf-8")
    assert "83" in document
    assert "the report is attached" in body(got[0])
