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
import os
import sys
from pathlib import Path

from mailbot.config import Settings, build_settings, config_path, load_settings
from mailbot.domain.forms import (
    LANGUAGES,
    FormKind,
    render_blank,
    summary,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    forms = sub.add_parser("forms", help="blank report forms; check a saved message's form")
    forms_sub = forms.add_subparsers(dest="forms_command", metavar="ACTION")
    forms.set_defaults(handler=lambda _args: _usage(forms))

    show = forms_sub.add_parser("show", help="print or write a blank form")
    show.add_argument("kind", choices=[k.value for k in FormKind], help="which form")
    show.add_argument("--lang", default="en", choices=LANGUAGES, help="language (default en)")
    show.add_argument("--format", dest="fmt", default="txt", choices=("txt", "pdf", "docx"))
    show.add_argument("-o", "--output", help="file to write (required for pdf and docx)")
    show.set_defaults(handler=cmd_show)

    check = forms_sub.add_parser("check", help="read and validate the form in a saved message")
    check.add_argument("eml", help="the message, as a .eml file")
    check.add_argument("--lang", default="en", choices=LANGUAGES,
                       help="language of the messages printed (default en)")
    check.add_argument("--known-reference", action="append", default=None, metavar="REF",
                       help="an incident reference to treat as existing (repeatable); "
                            "without it every well-formed reference is accepted")
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
    from mailbot.cli import UserError
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
    from mailbot.cli import UserError
    from mailbot.mail.parse import ParseError
    from mailbot.service.admin import ImportError_
    from mailbot.service.formcheck import check_form

    try:
        raw_bytes = Path(args.eml).read_bytes()
    except OSError as exc:
        raise UserError(f"{args.eml}: cannot read ({exc.strerror})") from None
    try:
        result = check_form(_settings(args), raw_bytes, args.known_reference)
    except (ParseError, ImportError_) as exc:
        raise UserError(f"{args.eml}: {exc}") from None
    catalog, lang = result.catalog, args.lang
    print(f"From:          {result.sender or '(none)'}")
    print(f"Sender State:  {result.sender_state or '(not a registered focal point)'}")
    if result.subject_references:
        print(f"Subject refs:  {', '.join(result.subject_references)}")
    raw = result.raw
    if raw is not None:
        print(f"Form:          {raw.kind.value if raw.kind else '(unclear)'} (from {raw.source})")
    err = result.error
    if err is not None:
        if err.raw is not None and err.raw.values:
            print("\nUnderstood:")
            for name, value in err.raw.values.items():
                spec = catalog.field(name, err.kind)
                _print_pair(spec.label.get(lang) if spec else name, value)
        _print_unknown(err.raw.unknown_lines if err.raw else ())
        print(f"\n{len(err.errors)} problem(s):")
        for e in err.errors:
            print(f"  [{e.code}] {e.describe(catalog, lang, err.kind)}")
        return 1
    data = result.data
    assert data is not None
    print("\nUnderstood:")
    for label, value in summary(catalog, data, lang, result.registry):
        _print_pair(label, value)
    print(f"\nCirculation:   {data.circulation}"
          + (" (default)" if data.circulation_defaulted else ""))
    if data.claimed_state:
        print(f"Claims State:  {data.claimed_state} (not the sender's; held for review)")
    _print_unknown(data.unknown_lines)
    print("\nNo problems.")
    return 0


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
