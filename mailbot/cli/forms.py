"""``mailbot forms``: print blank forms, and check a saved message as intake would read it.

``mailbot forms show KIND [--lang fr] [--format txt|pdf|docx] [-o FILE]``
prints the plain-text form (or writes the PDF/Word file that goes out with
circular notes); ``mailbot forms check FILE.eml`` parses a message, finds
its form, validates it against the shipped State registry and prints what
was understood and every error, as the desk's reply would list them.
Neither needs the mailbox password.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailbot.cli.common import LazyChoices, UserError
from mailbot.config import Settings, build_settings, config_path, load_settings

if TYPE_CHECKING:
    from mailbot.service.formcheck import FormCheck


def _kinds() -> list[str]:
    from mailbot.domain.forms import FormKind

    return [k.value for k in FormKind]


def _languages() -> tuple[str, ...]:
    from mailbot.domain.forms import LANGUAGES

    return LANGUAGES


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forms = sub.add_parser("forms", help="blank report forms; check a saved message's form")
    forms_sub = forms.add_subparsers(dest="forms_command", metavar="ACTION")
    forms.set_defaults(handler=lambda _args: _usage(forms))
    languages = LazyChoices(_languages)

    show = forms_sub.add_parser("show", help="print or write a blank form")
    show.add_argument("kind", choices=LazyChoices(_kinds), metavar="KIND",
                      help="which form: %(choices)s")
    show.add_argument("--lang", default="en", choices=languages, metavar="LANG",
                      help="language: %(choices)s (default en)")
    show.add_argument("--format", dest="fmt", default="txt", choices=("txt", "pdf", "docx"))
    show.add_argument("-o", "--output", help="file to write (required for pdf and docx)")
    show.set_defaults(handler=cmd_show)

    check = forms_sub.add_parser("check", help="read and validate the form in a saved message")
    check.add_argument("eml", help="the message, as a .eml file")
    check.add_argument("--lang", default="en", choices=languages, metavar="LANG",
                       help="language of the messages printed: %(choices)s (default en)")
    check.add_argument("--known-reference", action="append", default=None, metavar="REF",
                       help="an incident reference to treat as existing (repeatable); "
                            "without it every well-formed reference is accepted")
    check.add_argument("--json", action="store_true",
                       help="print what was read as JSON (values as read, problems with codes)")
    check.set_defaults(handler=cmd_check)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _settings(args: argparse.Namespace) -> Settings:
    explicit = getattr(args, "config", None)
    path = config_path(explicit=explicit)
    if not explicit and not path.exists():
        # No deployment file yet: the shipped config/ directory is enough for forms.
        return build_settings({}, os.environ, path, check=False)
    return load_settings(path, check=False)


def cmd_show(args: argparse.Namespace) -> int:
    from mailbot.domain.forms import FormKind, render_blank
    from mailbot.service.admin import ImportError_, load_catalog

    try:
        catalog = load_catalog(_settings(args))
    except ImportError_ as exc:
        raise UserError(str(exc)) from None
    kind = FormKind(args.kind)
    if args.fmt == "txt":
        text = render_blank(catalog, kind, args.lang)
        if args.output:
            Path(args.output).write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    if not args.output:
        raise UserError(f"--format {args.fmt} writes a file: give it with -o FILE")
    from mailbot.mail.formfiles import blank_docx, blank_pdf

    maker = blank_pdf if args.fmt == "pdf" else blank_docx
    Path(args.output).write_bytes(maker(catalog, kind, args.lang))
    print(f"wrote {args.output}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Read the form of a saved message as intake would; exit 1 when it has problems."""
    result = _checked(args)
    if args.json:
        print(json.dumps(check_record(result, args.lang), indent=2, ensure_ascii=False,
                         default=str))
    else:
        _print_check(result, args.lang)
    return 1 if result.error is not None else 0


def _checked(args: argparse.Namespace) -> FormCheck:
    from mailbot.mail.parse import ParseError
    from mailbot.service.admin import ImportError_
    from mailbot.service.formcheck import check_form

    try:
        raw_bytes = Path(args.eml).read_bytes()
    except OSError as exc:
        raise UserError(f"{args.eml}: cannot read ({exc.strerror})") from None
    try:
        return check_form(_settings(args), raw_bytes, args.known_reference)
    except (ParseError, ImportError_) as exc:
        raise UserError(f"{args.eml}: {exc}") from None


def check_record(result: FormCheck, lang: str) -> dict[str, Any]:
    """What ``forms check --json`` prints: the raw values read and every problem, with codes."""
    raw, err, data = result.raw, result.error, result.data
    record: dict[str, Any] = {
        "from": result.sender, "sender_state": result.sender_state,
        "subject_references": list(result.subject_references),
        "form": raw.kind.value if raw and raw.kind else None, "source": raw.source if raw else None,
        "values": dict(raw.values) if raw else {},
        "unknown_lines": list(raw.unknown_lines) if raw else [], "ok": err is None,
    }
    if err is not None:
        record["problems"] = [{"code": e.code, "message": e.describe(result.catalog, lang, err.kind)}
                              for e in err.errors]
    if data is not None:
        record.update(circulation=data.circulation,
                      circulation_defaulted=data.circulation_defaulted,
                      claimed_state=data.claimed_state)
    return record


def _print_check(result: FormCheck, lang: str) -> None:
    print(f"From:          {result.sender or '(none)'}")
    print(f"Sender State:  {result.sender_state or '(not a registered focal point)'}")
    if result.subject_references:
        print(f"Subject refs:  {', '.join(result.subject_references)}")
    raw = result.raw
    if raw is not None:
        print(f"Form:          {raw.kind.value if raw.kind else '(unclear)'} (from {raw.source})")
    if result.error is not None:
        _print_problems(result, lang)
    else:
        _print_understood(result, lang)


def _print_problems(result: FormCheck, lang: str) -> None:
    err, catalog = result.error, result.catalog
    assert err is not None
    if err.raw is not None and err.raw.values:
        print("\nUnderstood:")
        for name, value in err.raw.values.items():
            spec = catalog.field(name, err.kind)
            _print_pair(spec.label.get(lang) if spec else name, value)
    _print_unknown(err.raw.unknown_lines if err.raw else ())
    print(f"\n{len(err.errors)} problem{'' if len(err.errors) == 1 else 's'}:")
    for e in err.errors:
        print(f"  [{e.code}] {e.describe(catalog, lang, err.kind)}")


def _print_understood(result: FormCheck, lang: str) -> None:
    from mailbot.domain.forms import summary

    data = result.data
    assert data is not None
    print("\nUnderstood:")
    for label, value in summary(result.catalog, data, lang, result.registry):
        _print_pair(label, value)
    print(f"\nCirculation:   {data.circulation}"
          + (" (default)" if data.circulation_defaulted else ""))
    if data.claimed_state:
        print(f"Claims State:  {data.claimed_state} (not the sender's; held for review)")
    _print_unknown(data.unknown_lines)
    print("\nNo problems.")


def _print_pair(label: str, value: str) -> None:
    lines = value.splitlines() or [""]
    print(f"  {label}: {lines[0]}")
    for line in lines[1:]:
        print(f"      {line}")


def _print_unknown(lines: tuple[str, ...]) -> None:
    if lines:
        print("\nLines not part of any field:")
        for line in lines:
            print(f"  | {line}")
