"""The handler of a Secretariat officer's mail: commands carried out, or a letter filed.

Place in the flow: ``service.handlers`` hands it mail classified as the
Secretariat's.  Command lines (``domain.commands``) are carried out by
``service.commands`` and answered with one ``command_result`` mail; a mail
without commands is filed on the incident it concerns, or held for review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot.domain import commands as cmd
from mailbot.domain.mails import CommandResult, OutgoingMail
from mailbot.service.commands import CommandRunner
from mailbot.service.confirming import ReleaseError, release
from mailbot.service.results import HandlerResult, Handling

if TYPE_CHECKING:
    from mailbot.service.handlers import Handlers


def secretariat(desk: Handlers, msg: Handling) -> HandlerResult:
    """Carry out the commands of an officer's mail and answer with what was done."""
    filing, mail = desk.filing, msg.mail
    commands, errors = cmd.parse_commands(mail.text, mail.subject,
                                           state_codes={s.code for s in filing.registry})
    incident = filing.correlate(msg.session, mail, msg.row)
    if not commands and not errors:
        if incident is not None:
            return HandlerResult.processed(f"Secretariat letter filed on {incident.reference}",
                                           incident_id=incident.id)
        return HandlerResult.held("Secretariat mail with no command and no incident; for review")
    runner = CommandRunner(desk.app)
    released = [c for c in commands if isinstance(c, cmd.Release)]
    lines, attachments = runner.run(msg.session, [c for c in commands if c not in released], mail,
                                    incident, msg.now)
    lines, mails = _release(desk, msg, released, lines, runner)
    lines += [f"error: {e.message}" for e in errors]
    answer = desk.mailer.reply(
        CommandResult(lines=lines, ok=not errors and not runner.failed,
                      command_subject=mail.subject),
        msg.row, mail, lang="en", attachments=attachments, cap=False)
    return HandlerResult.processed("Secretariat commands: " + "; ".join(lines)[:900],
                                   incident_id=incident.id if incident else None,
                                   mails=[*mails, answer])


def _release(desk: Handlers, msg: Handling, released: list[cmd.Release], lines: list[str],
             runner: CommandRunner) -> tuple[list[str], list[OutgoingMail]]:
    """``#release N``: the held messages acted on, and the mails that follow from them."""
    mails: list[OutgoingMail] = []
    officer = msg.mail.from_addr.lower()
    for c in released:
        try:
            result = release(desk, msg.session, c.message_id, officer, msg.now)
        except ReleaseError as exc:
            runner.failed += 1
            lines.append(f"{c.line}: not done: {exc}")
            continue
        mails.extend(result.mails)
        lines.append(f"{c.line}: message {c.message_id} released: {result.reason or result.status}")
    return lines, mails
