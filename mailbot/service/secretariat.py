"""The handler of a Secretariat officer's mail: commands carried out, or a letter filed.

Place in the flow: ``service.handlers`` hands it mail classified as the
Secretariat's.  Command lines (``domain.commands``) are carried out by
``service.commands`` and answered with one ``command_result`` mail; a mail
without commands is filed on the incident it concerns, or held for review.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mailbot.domain import commands as cmd
from mailbot.domain.mails import CommandResult
from mailbot.service.commands import CommandRunner
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
    lines, attachments = runner.run(msg.session, commands, mail, incident, msg.now)
    lines += [f"error: {e.message}" for e in errors]
    answer = desk.mailer.reply(
        CommandResult(lines=lines, ok=not errors and not runner.failed,
                      command_subject=mail.subject),
        msg.row, mail, lang="en", attachments=attachments, cap=False)
    return HandlerResult.processed("Secretariat commands: " + "; ".join(lines)[:900],
                                   incident_id=incident.id if incident else None, mails=[answer])
