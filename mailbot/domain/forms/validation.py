"""Checking a form: a :class:`RawForm` becomes typed :class:`FormData`, or a SenderError.

Intake reads the form (``reading``) and the filing layer calls
:func:`validate` with the sender's registered State; every field is typed
by its spec (``values`` reads dates, States, choices, yes/no and
references) and every problem is collected, so the sender learns all they
must fix in one reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from mailbot.domain.forms.catalog import FormCatalog
from mailbot.domain.forms.errors import FieldError, SenderError, field_error, require_form
from mailbot.domain.forms.reading import RawForm
from mailbot.domain.forms.specs import FieldSpec, FieldType, FormKind, FormSpec
from mailbot.domain.forms.values import (
    choice_key,
    find_references,
    looks_like_org,
    parse_date,
    parse_yesno,
)
from mailbot.domain.states import StateRegistry

__all__ = ["FormData", "validate"]


@dataclass(frozen=True)
class FormData:
    """A checked form with typed values.

    ``values`` maps field names to: ``datetime.date`` (date), an ISO alpha-3
    code (state), ``{"state": code}`` or ``{"organization": text}``
    (state_or_org), ``bool`` (yesno), a choice key (choice) and ``str``
    (text, multiline, reference).  Empty optional fields are absent.

    ``circulation`` is "circulate", "confidential" or "pending" (the
    answer could not be read: hold the report until the State says);
    ``circulation_defaulted`` is True when the State gave no answer and
    the resolution's default (circulate) applies.  ``claimed_state`` is
    the State named in the form when it is not the sender's registered
    State (the filing layer holds such a form for review), else None.
    """

    kind: FormKind
    values: dict[str, Any]
    circulation: str
    circulation_defaulted: bool
    reference: str | None
    unknown_lines: tuple[str, ...]
    claimed_state: str | None = None
    sender_state: str | None = None
    lang: str | None = None
    source: str = "body"


@dataclass(frozen=True)
class _Check:
    """What typing one form's fields needs besides the field itself."""

    catalog: FormCatalog
    kind: FormKind
    registry: StateRegistry
    reference_exists: Callable[[str], bool]

    def error(self, spec: FieldSpec, code: str, text: str, **extra: Any) -> FieldError:
        return field_error(self.catalog, self.kind, spec.name, code, value=text, **extra)


_Typed = tuple[Any, FieldError | None]


def _text(spec: FieldSpec, text: str, check: _Check) -> _Typed:
    return (text if spec.type is FieldType.MULTILINE else " ".join(text.split())), None


def _date(spec: FieldSpec, text: str, check: _Check) -> _Typed:
    parsed = parse_date(text, check.catalog.languages)
    if isinstance(parsed, date):
        return parsed, None
    code, readings = parsed
    params = {"dates": ",".join(d.isoformat() for d in readings)} if readings else None
    return None, check.error(spec, code, text, params=params,
                             suggestions=[d.isoformat() for d in readings])


def _state(spec: FieldSpec, text: str, check: _Check) -> _Typed:
    info = check.registry.lookup(text)
    either = spec.type is FieldType.STATE_OR_ORG
    if info is not None:
        return ({"state": info.code} if either else info.code), None
    suggestions = check.registry.suggest(text)
    if either and (looks_like_org(text, check.catalog.languages) or not suggestions):
        return {"organization": " ".join(text.split())}, None
    return None, check.error(spec, "unknown_state", text,
                             suggestions=[s.name for s in suggestions],
                             variant="unknown_state_or_org" if either else "")


def _choice(spec: FieldSpec, text: str, check: _Check) -> _Typed:
    key = choice_key(spec, text)
    if key is not None:
        return key, None
    return None, check.error(spec, "bad_choice", text,
                             suggestions=[c.label.get("en") for c in spec.choices])


def _yesno(spec: FieldSpec, text: str, check: _Check) -> _Typed:
    answer = parse_yesno(text, circulation=spec.name == "circulate",
                         languages=check.catalog.languages)
    if answer is not None:
        return answer, None
    return None, check.error(spec, "bad_choice", text, variant="bad_yesno",
                             suggestions=["yes", "no"])


def _reference(spec: FieldSpec, text: str, check: _Check) -> _Typed:
    refs = find_references(text.upper())
    if refs and check.reference_exists(refs[0]):
        return refs[0], None
    return None, check.error(spec, "unknown_reference", text)


_TYPERS: dict[FieldType, Callable[[FieldSpec, str, _Check], _Typed]] = {
    FieldType.TEXT: _text,
    FieldType.MULTILINE: _text,
    FieldType.DATE: _date,
    FieldType.STATE: _state,
    FieldType.STATE_OR_ORG: _state,
    FieldType.CHOICE: _choice,
    FieldType.YESNO: _yesno,
    FieldType.REFERENCE: _reference,
}


def _circulation(text: str, check: _Check) -> tuple[str, bool | None]:
    """The circulation answer: circulate / confidential, or pending when it cannot be read."""
    answer = parse_yesno(text, circulation=True, languages=check.catalog.languages)
    if answer is None:
        return "pending", None
    return ("circulate" if answer else "confidential"), answer


def _missing_groups(form: RawForm, spec: FormSpec, check: _Check) -> list[FieldError]:
    """One error for each group of fields of which at least one must be filled and none is."""
    return [
        field_error(check.catalog, check.kind, group[0], "missing", variant="missing_one_of",
                    params={"fields": ",".join(group)})
        for group in spec.require_one_of
        if not any(form.values.get(name, "").strip() for name in group)
    ]


def validate(
    raw: RawForm,
    catalog: FormCatalog,
    registry: StateRegistry,
    *,
    sender_state: str | None,
    reference_exists: Callable[[str], bool],
) -> FormData:
    """Check and type ``raw``; raise :class:`SenderError` listing every problem.

    ``sender_state`` is the State the sender's address is registered for
    (None: not a focal point, so not entitled to submit).  A form naming
    another State as the reporting State is not refused: it comes back
    with ``claimed_state`` set so that the filing layer can hold it.
    """
    form = require_form(raw, catalog)
    kind = form.kind
    assert kind is not None
    spec = catalog.form(kind)
    check = _Check(catalog, kind, registry, reference_exists)
    errors: list[FieldError] = []
    if sender_state is None:
        errors.append(field_error(catalog, kind, "", "not_entitled"))
    values: dict[str, Any] = {}
    circulation, defaulted = "circulate", True
    for fspec in spec.fields:
        text = form.values.get(fspec.name, "").strip()
        if not text:
            if fspec.required:
                errors.append(field_error(catalog, kind, fspec.name, "missing"))
        elif fspec.name == "circulate" and fspec.type is FieldType.YESNO:
            circulation, answer = _circulation(text, check)
            defaulted = False
            if answer is not None:
                values[fspec.name] = answer
        else:
            typed, err = _TYPERS[fspec.type](fspec, text, check)
            if err is not None:
                errors.append(err)
            else:
                values[fspec.name] = typed
    errors.extend(_missing_groups(form, spec, check))
    if errors:
        raise SenderError(errors, kind, form)
    return _form_data(form, kind, values, circulation, defaulted, sender_state)


def _form_data(
    form: RawForm, kind: FormKind, values: dict[str, Any], circulation: str, defaulted: bool,
    sender_state: str | None,
) -> FormData:
    reporting = values.get("reporting_state")
    claimed = reporting if isinstance(reporting, str) and reporting != sender_state else None
    reference = values.get("reference") if isinstance(values.get("reference"), str) else None
    return FormData(
        kind=kind,
        values=values,
        circulation=circulation,
        circulation_defaulted=defaulted,
        reference=reference,
        unknown_lines=form.unknown_lines,
        claimed_state=claimed,
        sender_state=sender_state,
        lang=form.lang,
        source=form.source,
    )
