"""The Secretariat's commands by mail: parse command lines into typed commands.

Place in the flow: when a Secretariat officer writes to the desk (usually a
reply to one of the desk's mails: a reminder, an escalation, an
acknowledgement, a notice), the service layer passes the body text and the
subject to :func:`parse_commands`, resolves what each command applies to and
carries it out.  This module only reads text; it decides nothing and knows
no incident.

Syntax
------

A command is a line that starts with ``#`` followed by the command word, in
the body of the mail *above* the quoted text, or at the start of the
subject (after any ``Re:``/``Fwd:`` prefixes and ``[tags]``).  Command
words are not case-sensitive.

``#extend 30d``
    Move the due date of the obligation 30 days on (``4w`` for weeks;
    ``30 days``, ``4 weeks`` also work).  The State is reminded again,
    from the first reminder, once the new date passes.
``#extend 2026-12-31``
    Set the due date to the end of that day.
``#waive [reason...]``
    The State is no longer expected to report; nothing more is sent.
``#fulfilled [reason...]``
    Record the obligation as met (for example, the State answered by letter).
``#report 83``
    Compile the report to the General Assembly for its 83rd session;
    ``#report 83 addendum`` compiles the addendum (late submissions).
``#help``
    Answer with this list.

By default a command applies to what the replied-to mail was about (the
incident and State of the reminder, escalation or notice).  ``#extend``,
``#waive`` and ``#fulfilled`` may name an incident, and a State, before
their arguments::

    #extend DCM-2026-0007 30d
    #waive DCM-2026-0007 FRA the proceedings are closed
    #fulfilled FRA answered by note verbale of 3 March

The State is its three-letter code in capitals.  Several commands may
follow one another, one per line.

What is not a command: lines of quoted text (``> ...``) and everything
below a reply header ("On ... wrote:", "-----Original Message-----", a
line of underscores, a "From:" line) or a signature separator (``-- ``);
a ``#`` inside a sentence; a ``#`` followed by a space or a digit.  A line
that starts with ``#`` and a word that is not a command is reported as an
error, so a typo is never silently ignored.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

#: The command words, in the order ``#help`` lists them.
COMMAND_WORDS: tuple[str, ...] = ("extend", "waive", "fulfilled", "report", "release", "help")

#: The longest extension a command may give (a guard against typing 3000d for 30d).
MAX_EXTENSION = timedelta(days=3 * 366)

EXTEND_USAGE = "#extend needs a duration like 30d or 4w, or a date like 2026-12-31"
REPORT_USAGE = "#report needs the General Assembly session number, like #report 83"

#: The syntax summary sent in answer to ``#help``.
HELP_TEXT = """\
Commands (one per line, at the top of your reply, above the quoted text):
  #extend 30d              move the due date 30 days on (4w for weeks)
  #extend 2026-12-31       set a new due date
  #waive [reason]          the State is no longer expected to report
  #fulfilled [reason]      record the obligation as met
  #report 83               compile the report to the General Assembly, 83rd session
  #report 83 addendum      compile the addendum for late submissions
  #release 12              act on held message 12 (its sender could not be proven)
  #help                    this list
#extend, #waive and #fulfilled apply to the incident and State of the mail you reply to,
or name them first: #extend DCM-2026-0007 30d   #waive DCM-2026-0007 FRA reason"""


@dataclass(frozen=True)
class Extend:
    """Give an obligation more time: ``by`` a duration, or ``until`` a date."""

    reference: str | None
    state: str | None
    by: timedelta | None
    until: date | None
    reason: str = ""
    line: str = field(default="", compare=False)


@dataclass(frozen=True)
class Waive:
    """The State is no longer expected to report."""

    reference: str | None
    state: str | None
    reason: str = ""
    line: str = field(default="", compare=False)


@dataclass(frozen=True)
class Fulfilled:
    """Record an obligation as met without a filed report."""

    reference: str | None
    state: str | None
    reason: str = ""
    line: str = field(default="", compare=False)


@dataclass(frozen=True)
class Report:
    """Compile the report to the General Assembly (or its addendum) for a session."""

    session: int
    addendum: bool = False
    line: str = field(default="", compare=False)


@dataclass(frozen=True)
class Release:
    """Act on a message held until its sender confirms it, on the officer's word."""

    message_id: int
    line: str = field(default="", compare=False)


@dataclass(frozen=True)
class Help:
    """Answer with the command syntax."""

    line: str = field(default="", compare=False)


Command = Extend | Waive | Fulfilled | Report | Release | Help


@dataclass(frozen=True)
class CommandError:
    """A line that looks like a command but cannot be understood; ``message`` says why."""

    line: str
    message: str


_COMMAND_LINE = re.compile(r"^#([A-Za-z][\w-]*)(?:\s+(.*))?$")
_REFERENCE = re.compile(r"^[A-Za-z][A-Za-z0-9]{1,9}-\d{4}-\d{1,6}$")
_STATE = re.compile(r"^[A-Z]{3}$")
_DURATION = re.compile(
    r"^(\d{1,5})\s*(d|days?|j|jours?|w|weeks?|sem|semaines?)\b\.?\s*(.*)$", re.IGNORECASE
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\b\s*(.*)$")
_SESSION = re.compile(r"^(\d{1,3})(?:st|nd|rd|th)?$", re.IGNORECASE)
_ADDENDUM = frozenset({"addendum", "add", "add.1", "add1"})
_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|fw|fwd|tr|wg|rv)\s*(?:\[\d+\])?\s*:\s*|\[[^\]]*\]\s*)", re.IGNORECASE
)
_QUOTE_HEADER = re.compile(
    r"^(?:-{2,}\s*(?:original message|message d'origine|mensaje original|forwarded message)"
    r"|_{10,}\s*$"
    r"|on\b.*\bwrote:\s*$"
    r"|le\b.*\ba écrit\s*:\s*$"
    r"|el\b.*\bescribió:\s*$"
    r"|\*?(?:from|de|von)\s*:\*?\s.*"
    r"|-- $)",
    re.IGNORECASE,
)


def parse_commands(
    text: str, subject: str = "", *, state_codes: Collection[str] | None = None
) -> tuple[list[Command], list[CommandError]]:
    """The commands in a Secretariat mail (subject first, then body), and the lines in error.

    ``state_codes``, when given, limits what is taken as a State code after
    the command word (otherwise any three capital letters).  A command
    written both in the subject and in the body counts once.
    """
    commands: list[Command] = []
    errors: list[CommandError] = []
    for line in [*_subject_lines(subject), *command_lines(text)]:
        parsed = parse_line(line, state_codes=state_codes)
        if isinstance(parsed, CommandError):
            if parsed not in errors:
                errors.append(parsed)
        elif parsed not in commands:
            commands.append(parsed)
    return commands, errors


def command_lines(text: str) -> list[str]:
    """The lines of the body that start with ``#`` and a letter, above any quoted text."""
    found: list[str] = []
    for raw in text.splitlines():
        if _QUOTE_HEADER.match(raw):
            break
        line = raw.strip()
        if line.startswith(">"):
            continue
        if _COMMAND_LINE.match(line):
            found.append(line)
    return found


def _subject_lines(subject: str) -> list[str]:
    rest = subject.strip()
    while True:
        m = _REPLY_PREFIX.match(rest)
        if not m or not m.group(0):
            break
        rest = rest[m.end():]
    rest = rest.strip()
    return [rest] if _COMMAND_LINE.match(rest) else []


def parse_line(line: str, *, state_codes: Collection[str] | None = None) -> Command | CommandError:
    """One command line (``#word args``) as a command, or the error that explains it."""
    line = line.strip()
    m = _COMMAND_LINE.match(line)
    if m is None:
        return CommandError(line, f"{line!r} is not a command: it must start with # and a word")
    word, args = m.group(1).lower(), (m.group(2) or "").strip()
    if word == "help":
        return Help(line=line)
    if word == "report":
        return _report(line, args)
    if word == "release":
        number = args.split()[0].lstrip("#") if args.split() else ""
        if not number.isdigit():
            return CommandError(line, "#release needs the number of a held message, like #release 12")
        return Release(int(number), line=line)
    if word in ("extend", "waive", "fulfilled"):
        reference, state, rest = _target(args, state_codes)
        if word == "extend":
            return _extend(line, reference, state, rest)
        if word == "waive":
            return Waive(reference, state, rest, line=line)
        return Fulfilled(reference, state, rest, line=line)
    return CommandError(line, _unknown(word))


def _unknown(word: str) -> str:
    close = difflib.get_close_matches(word, COMMAND_WORDS, n=1, cutoff=0.6)
    hint = f"; did you mean #{close[0]}?" if close else ""
    known = ", ".join("#" + w for w in COMMAND_WORDS)
    return f"#{word} is not a command{hint} (commands: {known})"


def _target(args: str, state_codes: Collection[str] | None) -> tuple[str | None, str | None, str]:
    """Split an optional incident reference and State code off the front of the arguments."""
    tokens = args.split(None, 1)
    reference: str | None = None
    if tokens and _REFERENCE.match(tokens[0]):
        reference = tokens[0].upper()
        args = tokens[1] if len(tokens) > 1 else ""
        tokens = args.split(None, 1)
    state: str | None = None
    if tokens and _STATE.match(tokens[0]) and (state_codes is None or tokens[0] in state_codes):
        state = tokens[0]
        args = tokens[1] if len(tokens) > 1 else ""
    return reference, state, args.strip()


def _extend(
    line: str, reference: str | None, state: str | None, rest: str
) -> Command | CommandError:
    if m := _DURATION.match(rest):
        amount, unit, reason = int(m.group(1)), m.group(2).lower(), m.group(3).strip()
        weeks = unit.startswith(("w", "s"))
        by = timedelta(weeks=amount) if weeks else timedelta(days=amount)
        if by <= timedelta(0):
            return CommandError(line, "#extend needs a duration longer than zero, like 30d")
        if by > MAX_EXTENSION:
            return CommandError(line, f"#extend {rest.split()[0]} is more than three years; "
                                      "give a shorter duration or a date like 2026-12-31")
        return Extend(reference, state, by, None, reason, line=line)
    if m := _DATE.match(rest):
        try:
            until = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return CommandError(line, f"#extend: {rest.split()[0]} is not a date "
                                      "(write it as YYYY-MM-DD, like 2026-12-31)")
        return Extend(reference, state, None, until, m.group(4).strip(), line=line)
    return CommandError(line, EXTEND_USAGE)


def _report(line: str, args: str) -> Command | CommandError:
    tokens = args.split()
    if not tokens:
        return CommandError(line, REPORT_USAGE)
    m = _SESSION.match(tokens[0].removeprefix("A/").removeprefix("a/"))
    if m is None or int(m.group(1)) == 0:
        return CommandError(line, f"#report: {tokens[0]!r} is not a session number; "
                                  "write the General Assembly session, like #report 83")
    extra = [t.lower() for t in tokens[1:]]
    if extra and (len(extra) > 1 or extra[0] not in _ADDENDUM):
        return CommandError(line, "#report takes the session and, optionally, the word addendum, "
                                  "like #report 83 addendum")
    return Report(int(m.group(1)), addendum=bool(extra), line=line)
