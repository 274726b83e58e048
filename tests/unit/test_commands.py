"""The Secretariat's commands by mail: every syntax, the errors, and what is not a command."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from mailbot.domain.commands import (
    EXTEND_USAGE,
    HELP_TEXT,
    REPORT_USAGE,
    Command,
    CommandError,
    Extend,
    Fulfilled,
    Help,
    Report,
    Waive,
    command_lines,
    parse_commands,
    parse_line,
)

D = timedelta(days=1)


@pytest.mark.parametrize(("line", "expected"), [
    ("#extend 30d", Extend(None, None, 30 * D, None)),
    ("#extend 4w", Extend(None, None, 28 * D, None)),
    ("#extend 30 days", Extend(None, None, 30 * D, None)),
    ("#extend 1 day", Extend(None, None, D, None)),
    ("#extend 2 weeks", Extend(None, None, 14 * D, None)),
    ("#extend 30j", Extend(None, None, 30 * D, None)),
    ("#extend 3 semaines", Extend(None, None, 21 * D, None)),
    ("#Extend 30D", Extend(None, None, 30 * D, None)),
    ("#EXTEND 30d", Extend(None, None, 30 * D, None)),
    ("#extend 2026-12-31", Extend(None, None, None, date(2026, 12, 31))),
    ("#extend 30d the mission asked for time", Extend(None, None, 30 * D, None,
                                                      "the mission asked for time")),
    ("#extend DCM-2026-0007 30d", Extend("DCM-2026-0007", None, 30 * D, None)),
    ("#extend dcm-2026-0007 30d", Extend("DCM-2026-0007", None, 30 * D, None)),
    ("#extend DCM-2026-0007 FRA 2027-01-15", Extend("DCM-2026-0007", "FRA", None,
                                                     date(2027, 1, 15))),
    ("#extend FRA 4w", Extend(None, "FRA", 28 * D, None)),
    ("#waive", Waive(None, None)),
    ("#waive the proceedings are closed", Waive(None, None, "the proceedings are closed")),
    ("#waive DCM-2026-0007 FRA", Waive("DCM-2026-0007", "FRA")),
    ("#waive DCM-2026-0007 FRA no offender identified",
     Waive("DCM-2026-0007", "FRA", "no offender identified")),
    ("#waive DCM-2026-0007", Waive("DCM-2026-0007", None)),
    ("#waive POL", Waive(None, "POL")),
    ("#fulfilled", Fulfilled(None, None)),
    ("#fulfilled answered by note verbale of 3 March",
     Fulfilled(None, None, "answered by note verbale of 3 March")),
    ("#fulfilled UNX-2025-12 DEU by letter", Fulfilled("UNX-2025-12", "DEU", "by letter")),
    ("#report 83", Report(83)),
    ("#report 83 addendum", Report(83, addendum=True)),
    ("#report 83 Add.1", Report(83, addendum=True)),
    ("#report 83rd", Report(83)),
    ("#report A/83", Report(83)),
    ("#help", Help()),
    ("#HELP please", Help()),
    ("   #waive indented", Waive(None, None, "indented")),
])
def test_every_syntax(line: str, expected: Command) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(("line", "message"), [
    ("#extend", EXTEND_USAGE),
    ("#extend soon", EXTEND_USAGE),
    ("#extend 30", EXTEND_USAGE),
    ("#extend 30x", EXTEND_USAGE),
    ("#extend DCM-2026-0007", EXTEND_USAGE),
    ("#extend 31/12/2026", EXTEND_USAGE),
    ("#extend 0d", "#extend needs a duration longer than zero, like 30d"),
    ("#extend 3000d", "#extend 3000d is more than three years; give a shorter duration or a "
                      "date like 2026-12-31"),
    ("#extend 2026-02-30", "#extend: 2026-02-30 is not a date (write it as YYYY-MM-DD, "
                           "like 2026-12-31)"),
    ("#report", REPORT_USAGE),
    ("#report next", "#report: 'next' is not a session number; write the General Assembly "
                     "session, like #report 83"),
    ("#report 0", "#report: '0' is not a session number; write the General Assembly "
                  "session, like #report 83"),
    ("#report 83 draft", "#report takes the session and, optionally, the word addendum, "
                         "like #report 83 addendum"),
    ("#extnd 30d", "#extnd is not a command; did you mean #extend? (commands: #extend, #waive, "
                   "#fulfilled, #report, #release, #help)"),
    ("#fulfiled", "#fulfiled is not a command; did you mean #fulfilled? (commands: #extend, "
                  "#waive, #fulfilled, #report, #release, #help)"),
    ("#escalate", "#escalate is not a command (commands: #extend, #waive, #fulfilled, "
                  "#report, #release, #help)"),
])
def test_errors_say_what_to_write(line: str, message: str) -> None:
    parsed = parse_line(line)
    assert parsed == CommandError(line, message)


def test_a_reply_with_commands_above_the_quote() -> None:
    body = (
        "Dear colleagues,\n"
        "\n"
        "#extend 30d\r\n"
        "#report 83\n"
        "\n"
        "The mission told us on the phone that a report is on its way; see #extend above.\n"
        "Best regards,\n"
        "\n"
        "On Mon, 2 Mar 2026 at 09:00, Reporting desk <mailbot@example.test> wrote:\n"
        "> Reminder: DCM-2026-0007\n"
        "> #waive\n"
        "#fulfilled written after the reply header\n"
    )
    commands, errors = parse_commands(body, "Re: [DCM-2026-0007] Reminder")
    assert commands == [Extend(None, None, 30 * D, None), Report(83)]
    assert errors == []
    assert commands[0].line == "#extend 30d"


@pytest.mark.parametrize("body", [
    "> #waive\n>> #extend 30d\n",
    "Please see #extend 30d in the manual.\n",
    "# A heading, not a command\n#1 priority\n##\n",
    "Thanks.\n-----Original Message-----\n#extend 30d\n",
    "Thanks.\n________________________________\nFrom: desk\n#extend 30d\n",
    "Thanks.\nFrom: Reporting desk <mailbot@example.test>\n#waive\n",
    "Le lun. 2 mars 2026 à 09:00, Reporting desk a écrit :\n#waive\n",
    "Regards\n-- \nOfficer\n#waive\n",
    "",
])
def test_what_is_not_a_command(body: str) -> None:
    assert parse_commands(body, "Re: Reminder") == ([], [])


def test_unknown_word_in_the_body_is_an_error_not_silence() -> None:
    commands, errors = parse_commands("#wiave DCM-2026-0007\n#help\n", "")
    assert commands == [Help()]
    assert [e.line for e in errors] == ["#wiave DCM-2026-0007"]
    assert "did you mean #waive?" in errors[0].message


@pytest.mark.parametrize(("subject", "expected"), [
    ("#report 83", [Report(83)]),
    ("  #report 83 addendum", [Report(83, addendum=True)]),
    ("Re: #extend 30d", [Extend(None, None, 30 * D, None)]),
    ("RE: Fwd: [DCM-2026-0007] #waive", [Waive(None, None)]),
    ("AW: [DCM-2026-0007] #waive DCM-2026-0007 FRA", [Waive("DCM-2026-0007", "FRA")]),
    ("Re: [DCM-2026-0007] Reminder", []),
    ("Question about #report 83", []),
])
def test_subject_commands(subject: str, expected: list[Command]) -> None:
    assert parse_commands("", subject) == (expected, [])


def test_subject_error_and_body_commands_together() -> None:
    commands, errors = parse_commands("#help\n", "#reprot 83")
    assert commands == [Help()]
    assert errors[0].line == "#reprot 83" and "did you mean #report?" in errors[0].message


def test_same_command_in_subject_and_body_counts_once() -> None:
    commands, errors = parse_commands("#report 83\n\nthanks\n", "Re: #report 83")
    assert commands == [Report(83)] and errors == []


def test_known_state_codes_limit_what_is_taken_as_a_state() -> None:
    codes = {"FRA", "DEU"}
    assert parse_line("#waive OLA decided", state_codes=codes) == Waive(None, None, "OLA decided")
    assert parse_line("#waive FRA", state_codes=codes) == Waive(None, "FRA")
    assert parse_line("#waive OLA decided") == Waive(None, "OLA", "decided")  # no list given


def test_command_lines_keep_order_and_strip() -> None:
    assert command_lines("x\n  #a\n#b c\n> #d\n") == ["#a", "#b c"]


def test_help_text_lists_every_command() -> None:
    for word in ("#extend", "#waive", "#fulfilled", "#report", "#help"):
        assert word in HELP_TEXT
    # the help text, quoted back in a reply, yields no commands
    quoted = "\n".join("> " + line for line in HELP_TEXT.splitlines())
    assert parse_commands("thanks\n" + quoted, "") == ([], [])


def test_release_names_a_held_message() -> None:
    from mailbot.domain.commands import Release

    assert parse_line("#release 12") == Release(12)
    assert parse_line("#release #12") == Release(12)
    assert isinstance(parse_line("#release twelve"), CommandError)
