"""Commands for the report to the General Assembly and the ratification table.

``mailbot report --cycle 83 [--addendum] --format docx|md|html -o FILE``
compiles the report (or its addendum) of a cycle; ``mailbot ratifications
import FILE`` replaces the ratification table from the Secretariat's CSV
file; ``mailbot ratifications list`` prints it.  This module only parses
arguments, calls ``service.report`` and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from mailbot.cli.common import LazyChoices, UserError, app_of, plural

if TYPE_CHECKING:
    from mailbot.service.app import App


def _formats() -> tuple[str, ...]:
    from mailbot.service.report import FORMATS

    return tuple(FORMATS)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date written YYYY-MM-DD") from None


def _app(args: argparse.Namespace) -> App:
    return app_of(args)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.output:
        suffix = Path(args.output).suffix.lower().lstrip(".")
        if suffix in _formats():
            return suffix
        if suffix in ("htm", "markdown"):
            return "html" if suffix == "htm" else "md"
    return "docx"


def _report(args: argparse.Namespace) -> int:
    from mailbot.service import report as service

    fmt = _format(args)
    app = _app(args)
    try:
        report = service.compile_report(
            app.sessions, app.settings, args.cycle, addendum=args.addendum,
            issued_on=args.date, since=args.since, symbol=args.symbol, agenda_item=args.item,
        )
        data = service.render(report, fmt)
    except service.ReportError as exc:
        raise UserError(str(exc)) from None
    finally:
        app.close()
    if args.output == "-" or (args.output is None and fmt != "docx"):
        sys.stdout.buffer.write(data)
        return 0
    path = Path(args.output or service.report_filename(report, fmt))
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    c = report.counts
    print(f"{path}: {report.title.symbol}, {plural(c.reports, 'report')} from "
          f"{plural(c.reporting_states, 'State')}, views from {plural(c.views_states, 'State')}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from mailbot.service import report as service

    app = _app(args)
    try:
        result = service.import_ratifications(app.sessions, app.settings, Path(args.file))
    except service.ReportError as exc:
        raise UserError(str(exc)) from None
    finally:
        app.close()
    print(f"imported {plural(result.rows, 'row')} for {plural(result.instruments, 'instrument')}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from mailbot.domain.report import format_short_date
    from mailbot.service import report as service

    app = _app(args)
    try:
        rows = service.list_ratifications(app.sessions, args.instrument, args.state)
    finally:
        app.close()
    if args.json:
        print(json.dumps([{"instrument": r.instrument_code, "state": r.state_code,
                           "signature": r.signed_on, "consent": r.consent_on,
                           "kind": r.consent_kind} for r in rows], indent=2, default=str))
        return 0
    print(f"{'instrument':<14} {'state':<5} {'signature':<12} {'consent':<12} kind")
    for r in rows:
        signed = format_short_date(r.signed_on) if r.signed_on else ""
        consent = format_short_date(r.consent_on) if r.consent_on else ""
        print(f"{r.instrument_code:<14} {r.state_code:<5} {signed:<12} {consent:<12} "
              f"{r.consent_kind or ''}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` and ``ratifications`` to the command line."""
    p = sub.add_parser("report", help="compile the report to the General Assembly for a cycle")
    p.add_argument("--cycle", type=int, required=True, metavar="SESSION",
                   help="the General Assembly session the cycle reports to, e.g. 83")
    p.add_argument("--addendum", action="store_true",
                   help="the addendum (Add.1): only the submissions received after the deadline")
    p.add_argument("--format", choices=LazyChoices(_formats), metavar="FORMAT",
                   help="output format: %(choices)s (default: from the file name, else docx)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="output file ('-' for standard output; default: a name from the symbol)")
    p.add_argument("--since", type=_iso_date, metavar="YYYY-MM-DD",
                   help="list States that became participants after this date "
                        "(default: the previous cycle's opening)")
    p.add_argument("--symbol", help="the document symbol, e.g. A/83/150 (default: A/<session>/...)")
    p.add_argument("--item", help="the agenda item number")
    p.add_argument("--date", type=_iso_date, metavar="YYYY-MM-DD",
                   help="the date of the document (default: today)")
    p.set_defaults(handler=_report)

    r = sub.add_parser("ratifications", help="the ratification table of the instruments")
    rsub = r.add_subparsers(dest="ratifications_command", metavar="ACTION", required=True)
    imp = rsub.add_parser("import", help="replace the table from a CSV file (all or nothing)")
    imp.add_argument("file", metavar="FILE", help="CSV: state,instrument,signature,consent,kind")
    imp.set_defaults(handler=_import)
    lst = rsub.add_parser("list", help="print the table")
    lst.add_argument("--instrument", metavar="CODE", help="only this instrument, e.g. VCDR")
    lst.add_argument("--state", metavar="CODE", help="only this State, e.g. FRA")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=_list)
