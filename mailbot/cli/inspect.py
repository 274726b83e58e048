"""Inspection commands: messages (list, show, replay, release), incidents (list, show), outbox (list).

Tables show words a person reads (the parties of an incident as State codes
and roles); ``--json`` prints the raw values the service returns.  None of
these commands creates a database: without one they say how to make it.
"""

from __future__ import annotations

import argparse
from typing import Any

from mailbot.cli.common import app_of, emit, found

#: How an incident's parties read in a table: the State's role in the incident.
PARTY_ROLES = {"reporting": "reporting", "host": "host", "sending": "sending",
               "offender": "offender's State"}


def parties_text(parties: list[dict[str, Any]]) -> str:
    """``FRA (reporting), KEN (host)``: who takes part in an incident, and how."""
    return ", ".join(f"{p.get('state') or p.get('organization') or '?'} "
                     f"({PARTY_ROLES.get(p['role'], p['role'])})" for p in parties)


def cmd_messages_list(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import list_messages

    emit(list_messages(app_of(args), args.status, args.limit), args.json,
         ("id", "received_at", "from", "class", "status", "incident", "reason"))
    return 0


def cmd_messages_show(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import show_message

    emit(found(show_message, app_of(args), args.id), args.json)
    return 0


def cmd_messages_replay(args: argparse.Namespace) -> int:
    from mailbot.service.runner import Service

    outcome, moved = found(Service(app_of(args, connect=True)).replay, args.id)
    print(f"message {outcome.row_id}: {outcome.status} ({outcome.classification}); "
          f"{outcome.reason or ''}" + (f"; moved to {outcome.folder} on the server" if moved else ""))
    return 0


def cmd_messages_release(args: argparse.Namespace) -> int:
    import getpass

    from mailbot.cli.common import UserError
    from mailbot.service.clock import utcnow
    from mailbot.service.confirming import ReleaseError
    from mailbot.service.releasing import release_message

    try:
        print(release_message(app_of(args), args.id, args.by or getpass.getuser(), utcnow()))
    except ReleaseError as exc:
        raise UserError(str(exc)) from None
    return 0


def cmd_incidents_list(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import list_incidents

    rows = list_incidents(app_of(args), args.limit)
    if not args.json:
        rows = [{**r, "parties": parties_text(r["parties"])} for r in rows]
    emit(rows, args.json, ("reference", "status", "occurred_on", "place", "parties"))
    return 0


def cmd_incidents_show(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import show_incident

    incident = found(show_incident, app_of(args), args.reference)
    if not args.json:
        incident = {**incident, "parties": parties_text(incident["parties"])}
    emit(incident, args.json)
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import list_outbox

    emit(list_outbox(app_of(args), args.status, args.limit), args.json,
         ("id", "kind", "status", "to", "attempts", "sent_at", "error"))
    return 0


def register(sub: Any) -> None:
    msgs = sub.add_parser("messages", help="received messages: list, show, replay, release")
    ms = msgs.add_subparsers(dest="messages_command", metavar="ACTION", required=True)
    p = ms.add_parser("list", help="list received messages, newest first")
    p.add_argument("--status", help="processed, held, corrected, quarantined, ignored, duplicate")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_messages_list)
    p = ms.add_parser("show", help="one message: class, rules matched, outcome, attachments")
    p.add_argument("id", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_messages_show)
    p = ms.add_parser("replay", help="run a stored message through the pipeline again")
    p.add_argument("id", type=int)
    p.set_defaults(handler=cmd_messages_replay)
    p = ms.add_parser("release", help="act on a message held until its sender confirms it, on "
                      "an officer's word (its sender could not be proven)")
    p.add_argument("id", type=int)
    p.add_argument("--by", help="the officer who vouches for it (default: the login name)")
    p.set_defaults(handler=cmd_messages_release)

    inc = sub.add_parser("incidents", help="incidents: list, show")
    ins = inc.add_subparsers(dest="incidents_command", metavar="ACTION", required=True)
    p = ins.add_parser("list", help="list incidents, newest first")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_incidents_list)
    p = ins.add_parser("show", help="an incident: parties, submissions, history, attachments")
    p.add_argument("reference")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_incidents_show)

    out = sub.add_parser("outbox", help="mails the desk decided to send")
    outs = out.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    p = outs.add_parser("list", help="list outbox rows, newest first")
    p.add_argument("--status", help="pending, sending, sent, failed, held, cancelled")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_outbox_list)
