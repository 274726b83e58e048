"""Forms written out: blank forms to fill in, and what was filed as a person reads it.

The circular and the correction mail carry :func:`render_blank` (pre-filled
with what was understood when a form is sent back); ``mail.formfiles``
draws the same headings (:func:`field_heading`) in PDF and Word files; the
acknowledgement lists :func:`summary`.  Words such as yes, no and the
circulation answers come from the language's data.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from mailbot.domain.forms.catalog import FormCatalog
from mailbot.domain.forms.specs import PLACEHOLDER, FieldSpec, FieldType, FormKind
from mailbot.domain.forms.validation import FormData
from mailbot.domain.forms.values import format_date
from mailbot.domain.languages import Languages, default_languages
from mailbot.domain.states import StateRegistry

__all__ = ["display_value", "field_heading", "render_blank", "summary"]


def field_heading(spec: FieldSpec, lang: str, languages: Languages | None = None) -> str:
    """``Label * [hint]`` as printed in a blank form (``?`` kept for questions)."""
    label = spec.label.get(lang)
    if spec.type is FieldType.YESNO:
        table = languages if languages is not None else default_languages()
        label += str(table.text(lang, "forms", "question"))
    if spec.required:
        label += " *"
    hint = spec.help.get(lang)
    return f"{label} [{hint}]" if hint else label


def render_blank(
    catalog: FormCatalog,
    kind: FormKind,
    lang: str,
    prefill: Mapping[str, str] | None = None,
) -> str:
    """The plain-text form a State fills in the body of a mail (optionally pre-filled)."""
    spec = catalog.form(kind)
    given = dict(prefill or {})
    out = [spec.marker.get(lang), spec.title.get(lang), "", catalog.instructions.get(lang), ""]
    for fspec in spec.fields:
        value = given.get(fspec.name, "").strip()
        heading = field_heading(fspec, lang, catalog.languages)
        if fspec.multiline and value:
            out.append(f"{heading}:")
            out.extend(value.splitlines())
        else:
            out.append(f"{heading}: {' '.join(value.split()) or PLACEHOLDER}")
        out.append("")
    out.append(catalog.end_marker.get(lang))
    return "\n".join(out) + "\n"


def _yes_no(value: bool, lang: str, languages: Languages) -> str:
    return str(languages.text(lang, "forms", "yes" if value else "no"))


def display_value(
    spec: FieldSpec, value: Any, lang: str, registry: StateRegistry,
    languages: Languages | None = None,
) -> str:
    """A typed value as a person reads it, in ``lang``."""
    table = languages if languages is not None else default_languages()
    base = table.resolve(lang)
    if isinstance(value, bool):
        return _yes_no(value, base, table)
    if isinstance(value, date):
        return format_date(value, base, table)
    if spec.type is FieldType.STATE and isinstance(value, str) and value in registry:
        return registry.get(value).display_name(base)
    if isinstance(value, dict):
        if "state" in value and value["state"] in registry:
            return registry.get(value["state"]).display_name(base)
        return str(value.get("organization", ""))
    if spec.type is FieldType.CHOICE:
        for choice in spec.choices:
            if choice.key == value:
                return choice.label.get(base)
    return str(value)


def _circulation_text(data: FormData, lang: str, languages: Languages) -> str:
    if data.circulation == "pending":
        return str(languages.text(lang, "forms", "circulation_pending"))
    if data.circulation_defaulted:
        return str(languages.text(lang, "forms", "circulation_default"))
    return _yes_no(data.circulation == "circulate", lang, languages)


def summary(
    catalog: FormCatalog, data: FormData, lang: str, registry: StateRegistry
) -> list[tuple[str, str]]:
    """(label, value) pairs of what was filed, in form order, for the acknowledgement."""
    languages = catalog.languages
    base = languages.resolve(lang)
    pairs: list[tuple[str, str]] = []
    for fspec in catalog.form(data.kind).fields:
        label = fspec.label.get(base)
        if fspec.name == "circulate":
            pairs.append((label, _circulation_text(data, base, languages)))
        elif fspec.name in data.values:
            value = display_value(fspec, data.values[fspec.name], base, registry, languages)
            pairs.append((label, value))
    return pairs
