"""Forms throughput: messages parsed, their forms found and validated, per second.

Runs the form step of intake (``parse_message`` -> ``read_form``: the body,
else the attachments -> ``validate``) over the fixture set in
``tests/fixtures/forms`` and prints the rate per stage and per fixture
kind.  Usage::

    .venv/bin/python bench/bench_forms.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from mailbot.domain.forms import (
    FormCatalog,
    FormKind,
    SenderError,
    extract_form,
    render_blank,
    require_form,
    validate,
)
from mailbot.domain.states import StateRegistry, parse_focal_points
from mailbot.mail.formfiles import blank_docx, blank_pdf
from mailbot.mail.parse import parse_message
from mailbot.service.reading import read_form

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "forms"


def load(name: str) -> dict:  # type: ignore[type-arg]
    with open(ROOT / "config" / name, "rb") as fh:
        return tomllib.load(fh)


def rate(label: str, seconds: float, work: Callable[[], int]) -> None:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += work()
    elapsed = time.perf_counter() - start
    print(f"{label:<46} {done / elapsed:>10.1f} /s  ({done} in {elapsed:.2f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args()

    t0 = time.perf_counter()
    catalog = FormCatalog.from_toml_data(load("forms.toml"))
    registry = StateRegistry.from_toml_data(load("states.toml"))
    print(f"catalog + registry load: {1000 * (time.perf_counter() - t0):.1f} ms")
    focal = {fp.address: fp.state
             for fp in parse_focal_points(load("focal_points.toml"), registry)[0]}
    raws = {p.stem: p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))}
    body_only = {k: v for k, v in raws.items() if not k.startswith("attachment_")}
    with_files = {k: v for k, v in raws.items() if k.startswith("attachment_")}

    def pipeline(messages: dict[str, bytes]) -> Callable[[], int]:
        def run() -> int:
            for raw in messages.values():
                mail = parse_message(raw)
                try:  # the form as intake reads it: the body, else the attachments
                    form = require_form(read_form(mail, catalog), catalog)
                    validate(form, catalog, registry, sender_state=focal.get(mail.from_addr),
                             reference_exists=lambda r: r.endswith("0007"))
                except SenderError:
                    pass
            return len(messages)
        return run

    pipeline(raws)()  # warm-up: first use of dateparser loads its language data
    print(f"fixtures: {len(raws)} messages ({len(with_files)} with form attachments)")
    rate("all fixtures: parse + find + validate", args.seconds, pipeline(raws))
    rate("body forms only: parse + find + validate", args.seconds, pipeline(body_only))
    rate("attachment forms only: parse + find + validate", args.seconds, pipeline(with_files))

    texts = [render_blank(catalog, k, lang) for k in FormKind for lang in ("en", "fr", "es")]
    rate("extract_form on blank text forms", args.seconds,
         lambda: sum(extract_form(t, catalog) is not None for t in texts))
    rate("blank_pdf generation", args.seconds,
         lambda: len([blank_pdf(catalog, FormKind.VIOLATION, "en")]))
    rate("blank_docx generation", args.seconds,
         lambda: len([blank_docx(catalog, FormKind.VIOLATION, "en")]))


if __name__ == "__main__":
    main()
