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
import tomllib
from pathlib import Path
from typing import Any

from mailbot.config import Settings, build_settings, config_path, load_settings
from mailbot.domain.forms import (
    LANGUAGES,
    FormCatalog,
    FormCatalogError,
    FormKind,
    SenderError,
    find_form,
    find_references,
    render_blank,
    summary,
    validate,
)
from mailbot.domain.states import RegistryError, StateRegistry, parse_focal_points


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


def _toml(path: Path) -> dict[str, Any]:
    from mailbot.cli import UserError

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None


def load_catalog(settings: Settings) -> FormCatalog:
    from mailbot.cli import UserError

    path = settings.path(settings.desk.forms_file)
    try:
        return FormCatalog.from_toml_data(_toml(path))
    except FormCatalogError as exc:
        raise UserError(f"{path}: {exc}") from None


def load_registry(settings: Settings) -> StateRegistry:
    from mailbot.cli import UserError

    path = settings.path(settings.desk.states_file)
    try:
        return StateRegistry.from_toml_data(_toml(path))
    except RegistryError as exc:
        raise UserError(f"{path}: {exc}") from None


def cmd_show(args: argparse.Namespace) -> int:
    from mailbot.cli import UserError

    settings = _settings(args)
    catalog = load_catalog(settings)
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
    from mailbot.mail.formfiles import form_from_attachment
    from mailbot.mail.parse import ParseError, html_to_text, parse_message

    settings = _settings(args)
    catalog = load_catalog(settings)
    registry = load_registry(settings)
    try:
        raw_bytes = Path(args.eml).read_bytes()
    except OSError as exc:
        raise UserError(f"{args.eml}: cannot read ({exc.strerror})") from None
    try:
        mail = parse_message(raw_bytes)
    except ParseError as exc:
        raise UserError(f"{args.eml}: {exc}") from None
    sender_state = _sender_state(settings, registry, mail.from_addr)
    print(f"From:          {mail.from_addr or '(none)'}")
    print(f"Sender State:  {sender_state or '(not a registered focal point)'}")
    refs = find_references(mail.subject)
    if refs:
        print(f"Subject refs:  {', '.join(refs)}")
    attachment_forms = [f for f in (form_from_attachment(a, catalog) for a in mail.attachments)
                        if f is not None]
    raw = find_form(mail, catalog, attachment_forms, html_to_text=html_to_text)
    if raw is not None:
        print(f"Form:          {raw.kind.value if raw.kind else '(unclear)'} (from {raw.source})")
    known = set(args.known_reference) if args.known_reference is not None else None

    def exists(ref: str) -> bool:
        return known is None or ref in known

    try:
        data = validate(raw, catalog, registry, sender_state=sender_state,
                        reference_exists=exists) if raw is not None else None
        if data is None:
            validate_none(catalog)
    except SenderError as err:
        if err.raw is not None and err.raw.values:
            print("\nUnderstood:")
            for name, value in err.raw.values.items():
                spec = catalog.field(name, err.kind)
                _print_pair(spec.label.get(args.lang) if spec else name, value)
        _print_unknown(err.raw.unknown_lines if err.raw else ())
        print(f"\n{len(err.errors)} problem(s):")
        for e in err.errors:
            print(f"  [{e.code}] {e.describe(catalog, args.lang, err.kind)}")
        return 1
    assert data is not None
    print("\nUnderstood:")
    for label, value in summary(catalog, data, args.lang, registry):
        _print_pair(label, value)
    print(f"\nCirculation:   {data.circulation}"
          + (" (default)" if data.circulation_defaulted else ""))
    if data.claimed_state:
        print(f"Claims State:  {data.claimed_state} (not the sender's; held for review)")
    _print_unknown(data.unknown_lines)
    print("\nNo problems.")
    return 0


def validate_none(catalog: FormCatalog) -> None:
    from mailbot.domain.forms import require_form

    require_form(None, catalog)


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


def _sender_state(settings: Settings, registry: StateRegistry, address: str) -> str | None:
    path = settings.path(settings.desk.focal_points_file)
    if not path.exists():
        return None
    try:
        focal_points, _ = parse_focal_points(_toml(path), registry)
    except RegistryError:
        return None
    for fp in focal_points:
        if fp.address == address.lower():
            return fp.state
    return None
