"""Inspection commands: messages (list, show, replay), incidents (list, show), outbox (list)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mailbot.cli.core import settings_of
from mailbot.service.app import App

T = TypeVar("T")


def emit(data: Any, as_json: bool, columns: Sequence[str] = ()) -> None:
    """Print ``data`` as JSON, as a table (lists of dicts) or as key: value lines."""
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
        return
    if isinstance(data, list):
        if not data:
            print("(none)")
            return
        cols = list(columns) or list(data[0])
        rows = [[_cell(d.get(c)) for c in cols] for d in data]
        widths = [min(max(len(c), *(len(r[i]) for r in rows)), 48) for i, c in enumerate(cols)]
        print("  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)))
        for r in rows:
            print("  ".join(v[:w].ljust(w) for v, w in zip(r, widths, strict=True)))
        return
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            print(f"{key}:")
            for item in value:
                print("  - " + ", ".join(f"{k}={_cell(v)}" for k, v in item.items()))
        else:
            print(f"{key}: {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def found(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, with a lookup that finds nothing reported as one line (exit 2)."""
    from mailbot.cli import UserError

    try:
        return fn(*args)
    except LookupError as exc:
        raise UserError(str(exc)) from None


def _app(args: argparse.Namespace) -> App:
    return App(settings_of(args, check=False))


def cmd_messages_list(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import list_messages

    emit(list_messages(_app(args), args.status, args.limit), args.json,
         ("id", "received_at", "from", "class", "status", "incident", "reason"))
    return 0


def cmd_messages_show(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import show_message

    emit(found(show_message, _app(args), args.id), args.json)
    return 0


def cmd_messages_replay(args: argparse.Namespace) -> int:
    from mailbot.service.runner import Service

    outcome, moved = found(Service(App(settings_of(args))).replay, args.id)
    print(f"message {outcome.row_id}: {outcome.status} ({outcome.classification}); "
          f"{outcome.reason or ''}" + (f"; moved to {outcome.folder} on the server" if moved else ""))
    return 0


def cmd_incidents_list(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import list_incidents

    emit(list_incidents(_app(args), args.limit), args.json,
         ("reference", "status", "occurred_on", "place", "parties"))
    return 0


def cmd_incidents_show(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import show_incident

    emit(found(show_incident, _app(args), args.reference), args.json)
    return 0


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import list_outbox

    emit(list_outbox(_app(args), args.status, args.limit), args.json,
         ("id", "kind", "status", "to", "attempts", "sent_at", "error"))
    return 0


def register(sub: Any) -> None:
    msgs = sub.add_parser("messages", help="received messages: list, show, replay")
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
