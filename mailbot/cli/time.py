"""Commands about time: reporting cycles, obligations, and the Secretariat's controls on them.

``obligations list`` reads in words ("report on measures (10 (b)), due
6 March 2027", "1 reminder sent"); ``--json`` keeps the raw values, with the
outbox key of what a sweep would send.  None of these commands sends mail
itself, so none needs the mailbox password.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, time, timedelta
from typing import Any

from mailbot.cli.common import UserError, app_of, emit, found, plural
from mailbot.service.clock import utcnow

#: What a State owes, by the paragraph of resolution 61/31 that asks for it.
OWED = {"10a": "report of the violation (10 (a))",
        "10b": "report on measures (10 (b))",
        "10b-final": "report on the final outcome (10 (b))"}


def _day(value: str | None) -> str:
    """``6 March 2027`` from an ISO date or date-time, or ``-``."""
    if not value:
        return "-"
    day = datetime.fromisoformat(value).date()
    return f"{day.day} {day:%B %Y}"


def _planned(key: str | None) -> str:
    """What a sweep would send now, from its outbox key (``reminder:3:1@2027-03-06``)."""
    if not key:
        return ""
    kind, _, rest = key.partition(":")
    if kind == "reminder":
        return f"reminder {rest.split('@')[0].split(':')[-1]} now"
    return "tell the Secretariat now" if kind == "escalation" else key


def obligation_line(o: dict[str, Any]) -> dict[str, Any]:
    """One obligation as a table row in words."""
    owes = f"{OWED.get(o['paragraph'], o['paragraph'])}, due {_day(o['due_at'])}"
    sent = o["reminders_sent"]
    if o["status"] == "open":
        status = "overdue" if o["overdue"] else "open"
        nxt = _planned(o["would_send"]) or (f"next step {_day(o['next_action_at'])}"
                                            if o["next_action_at"] else "")
    else:
        status, nxt = o["status"], ""
    return {"id": o["id"], "incident": o["incident"], "state": f"{o['state']} ({o['role']})",
            "owes": owes, "reminders": f"{plural(sent, 'reminder')} sent" if sent else "none sent",
            "status": status, "next": nxt or "-"}


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2028-05-15") from None


def cmd_cycle_open(args: argparse.Namespace) -> int:
    from mailbot.service.cycles import CycleError, open_cycle

    app = app_of(args)
    try:
        n = open_cycle(app, args.session, args.deadline, utcnow())
    except CycleError as exc:
        raise UserError(str(exc)) from None
    print(f"cycle for session {args.session} opened (deadline {args.deadline}); "
          f"circular note queued for {plural(n, 'State')}")
    return 0


def cmd_cycle_list(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import list_cycles

    emit(list_cycles(app_of(args)), args.json)
    return 0


def cmd_cycle_show(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import show_cycle

    emit(found(show_cycle, app_of(args), args.session), args.json)
    return 0


def cmd_obligations_list(args: argparse.Namespace) -> int:
    from mailbot.service.inspect import list_obligations

    at = datetime.combine(args.at, time(12)) if args.at else utcnow()
    rows = list_obligations(app_of(args), args.overdue, at)
    emit(rows if args.json else [obligation_line(o) for o in rows], args.json,
         ("id", "incident", "state", "owes", "reminders", "status", "next"))
    return 0


def cmd_obligation_control(args: argparse.Namespace) -> int:
    """``mailbot obligations extend|waive|fulfil``: the CLI twin of the mail commands."""
    from mailbot.service.commands import apply_control

    app = app_of(args)
    by = timedelta(days=args.days) if getattr(args, "days", None) else None
    until = getattr(args, "until", None)
    print(found(lambda: apply_control(app, args.action, args.reference, args.state, by=by,
                                      until=until, reason=getattr(args, "reason", "") or "",
                                      now=utcnow())))
    return 0


def register(sub: Any) -> None:
    cy = sub.add_parser("cycle", help="reporting cycles (paras 11 (a) and 12)")
    cys = cy.add_subparsers(dest="cycle_command", metavar="ACTION", required=True)
    p = cys.add_parser("open", help="open a cycle and send the circular note to every State")
    p.add_argument("--session", type=int, required=True, help="General Assembly session, e.g. 83")
    p.add_argument("--deadline", type=_date, required=True, help="deadline for contributions")
    p.set_defaults(handler=cmd_cycle_open)
    p = cys.add_parser("list", help="list cycles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_cycle_list)
    p = cys.add_parser("show", help="one cycle and its submissions")
    p.add_argument("session", type=int)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_cycle_show)

    ob = sub.add_parser("obligations", help="reports States owe (paras 10 (b), 11 (d))")
    obs = ob.add_subparsers(dest="obligations_command", metavar="ACTION", required=True)
    p = obs.add_parser("list", help="what is due, and what a sweep would send")
    p.add_argument("--overdue", action="store_true", help="only open obligations past due")
    p.add_argument("--at", type=_date, help="as of this date (default: now)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_obligations_list)
    for action, text in (("extend", "give more time"), ("waive", "no longer expected"),
                         ("fulfil", "record as met")):
        p = obs.add_parser(action, help=f"{text} (same as #{action} by mail)")
        p.add_argument("reference", help="incident reference, e.g. DCM-2026-0007")
        p.add_argument("--state", help="the State (ISO code) when several owe reports")
        if action == "extend":
            g = p.add_mutually_exclusive_group(required=True)
            g.add_argument("--days", type=int, help="days to add")
            g.add_argument("--until", type=_date, help="new due date")
        p.add_argument("--reason", default="")
        p.set_defaults(handler=cmd_obligation_control, action=action)
