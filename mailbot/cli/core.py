"""Commands to run and administer the desk: run, demo, check, db upgrade, states.

``run``, ``check`` and ``messages replay`` connect to the mail servers and need
the mailbox password; the others never ask for it.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailbot.cli.common import UserError, app_of, plural, settings_of
from mailbot.config import ConfigError, Settings

Sub = Any  # argparse's private _SubParsersAction


def setup_logging(settings: Settings) -> None:
    """Log lines on the terminal (stderr) at the configured level: the service says what it does.

    At INFO a person reads one line per message handled and per batch sent
    (``mailbot.desk``); intake's own line per message, with its timings, shows at DEBUG.
    """
    level = getattr(logging, settings.desk.log_level.upper(), logging.INFO)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s",
                        stream=sys.stderr)
    if level > logging.DEBUG:
        logging.getLogger("mailbot.intake").setLevel(max(level, logging.WARNING))


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio

    from mailbot.service.clock import utcnow
    from mailbot.service.runner import Service

    app = app_of(args, connect=True)
    setup_logging(app.settings)
    clock = utcnow
    if args.at:
        if not args.once:
            raise UserError("--at goes with --once")
        offset = args.at - utcnow()
        clock = lambda: utcnow() + offset  # noqa: E731
    service = Service(app, clock=clock)
    if args.once:
        stats = service.run_once()
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(stats.outcomes.items())) or "none"
        print(f"received {stats.received} ({outcomes}); reminders {stats.reminders}; "
              f"sent {stats.sent}, retrying {stats.retried}, failed {stats.failed}")
        return 0
    asyncio.run(service.run_forever())
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from mailbot.service.admin import run_checks
    from mailbot.service.app import App

    try:
        settings = settings_of(args, connect=True)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"FAIL  config    {problem}")
        return 1
    results = run_checks(App(settings))
    for r in results:
        print(r.line())
    return 0 if all(r.ok for r in results) else 1


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from mailbot.service.admin import db_upgrade

    app = app_of(args, schema=False)
    rev = db_upgrade(app)
    print(f"database {app.engine.url.render_as_string(hide_password=True)} at revision {rev}")
    return 0


def cmd_states_list(args: argparse.Namespace) -> int:
    from mailbot.service.admin import ImportError_, load_registry

    try:
        registry = load_registry(settings_of(args))
    except ImportError_ as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print(json.dumps([{"code": s.code, "language": s.language, "name": s.name,
                           "observer": s.observer} for s in registry], indent=2, ensure_ascii=False))
        return 0
    for s in registry:
        flag = " (observer)" if s.observer else ""
        print(f"{s.code}  {s.language}  {s.name}{flag}")
    print(plural(len(registry), "State"), file=sys.stderr)
    return 0


def cmd_states_import(args: argparse.Namespace) -> int:
    from mailbot.service.admin import ImportError_, db_upgrade, import_states

    app = app_of(args, schema=False)
    db_upgrade(app)
    try:
        n, focal, secretariat = import_states(app, Path(args.file) if args.file else None)
    except ImportError_ as exc:
        raise UserError(str(exc)) from None
    print(f"loaded {plural(n, 'State')}, {plural(focal, 'focal-point address', 'focal-point addresses')}, "
          f"{plural(secretariat, 'Secretariat address', 'Secretariat addresses')}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mailbot.demo import run_demo

    data_dir = args.data_dir or ("scenario-data" if args.scenario else "demo-data")
    return run_demo(data_dir=Path(data_dir), reset=args.reset, scenario=args.scenario,
                    imap_port=args.imap_port, smtp_port=args.smtp_port, once=args.once)


def _datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date-time like 2027-03-01T09:00") from None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def register(sub: Sub) -> None:
    p = sub.add_parser("run", help="run the service (watch the mailbox, answer, remind)")
    p.add_argument("--once", action="store_true",
                   help="process what is in the inbox, send what is due, and exit")
    p.add_argument("--at", type=_datetime, metavar="DATETIME",
                   help="with --once: act as if it were this UTC time, e.g. 2027-03-01T09:00 "
                        "(rehearse what reminders a date would send)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("demo", help="run the desk on embedded mail servers with sample data")
    p.add_argument("--data-dir", help="where the demo keeps its mail, data and mailbot.toml "
                   "(default: demo-data, or scenario-data with --scenario)")
    p.add_argument("--reset", action="store_true", help="start from empty mailboxes and database")
    p.add_argument("--scenario", action="store_true",
                   help="play a short story with a fast clock: report, notice, reminder, follow-up")
    p.add_argument("--once", action="store_true", help="set up, print how to connect, and exit")
    p.add_argument("--imap-port", type=int, default=10143)
    p.add_argument("--smtp-port", type=int, default=10587)
    p.set_defaults(handler=cmd_demo)

    p = sub.add_parser("check", help="validate the configuration, then try mailbox, SMTP, database")
    p.set_defaults(handler=cmd_check)

    db = sub.add_parser("db", help="database schema")
    dbs = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p = dbs.add_parser("upgrade", help="apply the migrations (Alembic)")
    p.set_defaults(handler=cmd_db_upgrade)

    st = sub.add_parser("states", help="the State registry and focal points")
    sts = st.add_subparsers(dest="states_command", metavar="ACTION", required=True)
    p = sts.add_parser("list", help="list the States of config/states.toml")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_states_list)
    p = sts.add_parser("import", help="validate and load the States and a focal-points file")
    p.add_argument("file", nargs="?", help="focal points TOML (default: desk.focal_points_file)")
    p.set_defaults(handler=cmd_states_import)
