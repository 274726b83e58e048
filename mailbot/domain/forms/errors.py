"""What the sender must fix: field errors, their wording in each language, and SenderError.

``validation`` raises :class:`SenderError` with one :class:`FieldError` per
problem; the filing layer files the form as refused and the correction mail
prints :meth:`FieldError.describe` in the mission's language.  The wordings
are data: ``[forms.messages]`` in each ``config/languages/<code>.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from mailbot.domain.forms.catalog import FormCatalog
from mailbot.domain.forms.reading import RawForm
from mailbot.domain.forms.specs import FormKind
from mailbot.domain.forms.values import format_date
from mailbot.domain.languages import Languages, default_languages

__all__ = ["FieldError", "SenderError", "field_error", "no_form_error", "require_form"]


@dataclass(frozen=True)
class FieldError:
    """One thing the sender must fix, naming the field and saying how.

    ``code`` is one of: missing, bad_date, ambiguous_date, unknown_state,
    unknown_reference, bad_choice, not_entitled, no_form.  ``message`` is in
    English; :meth:`describe` gives it in any written language.
    """

    field: str
    code: str
    message: str
    suggestions: tuple[str, ...] = ()
    value: str = ""
    variant: str = ""  # which wording of the code (e.g. "missing_one_of")
    params: tuple[tuple[str, str], ...] = ()  # extra values for the wording

    def describe(self, catalog: FormCatalog, lang: str, kind: FormKind | None = None) -> str:
        """The message in ``lang`` (in its fallback when ``lang`` is not written)."""
        return _render_message(catalog, kind, self, lang)


def _label(catalog: FormCatalog | None, kind: FormKind | None, name: str, lang: str) -> str:
    spec = catalog.field(name, kind) if catalog is not None else None
    return spec.label.get(lang) if spec is not None else name


def _message_params(
    catalog: FormCatalog | None, kind: FormKind | None, err: FieldError, lang: str,
    languages: Languages,
) -> dict[str, str]:
    """The values a wording may name besides label and value: labels, dates, choices."""
    params = dict(err.params)
    if "fields" in params and catalog is not None:
        names = params["fields"].split(",")
        params["labels"] = "; ".join(_label(catalog, kind, name, lang) for name in names)
    if "dates" in params:
        iso = params["dates"].split(",")
        shown = [format_date(date.fromisoformat(d), lang, languages) for d in iso]
        params["a"], params["b"] = shown[0], shown[-1]
    if err.code == "bad_choice" and err.variant != "bad_yesno" and catalog is not None:
        spec = catalog.field(err.field, kind)
        if spec is not None:
            params["choices"] = "; ".join(c.label.get(lang) for c in spec.choices)
    return params


def _render_message(
    catalog: FormCatalog | None, kind: FormKind | None, err: FieldError, lang: str
) -> str:
    languages = catalog.languages if catalog is not None else default_languages()
    base = languages.resolve(lang)
    template = str(languages.text(base, "forms", "messages", err.variant or err.code))
    label = _label(catalog, kind, err.field, base) if err.field else err.field
    params = _message_params(catalog, kind, err, base, languages)
    did = ""
    if err.suggestions:
        names = str(languages.text(base, "forms", "or")).join(err.suggestions)
        did = str(languages.text(base, "forms", "did_you_mean")).format(names=names)
    return template.format(label=label, value=err.value, did_you_mean=did,
                           choices=params.get("choices", ""), labels=params.get("labels", ""),
                           a=params.get("a", ""), b=params.get("b", ""))


def field_error(
    catalog: FormCatalog,
    kind: FormKind | None,
    field_name: str,
    code: str,
    *,
    value: str = "",
    suggestions: Sequence[str] = (),
    variant: str = "",
    params: Mapping[str, str] | None = None,
) -> FieldError:
    """A :class:`FieldError` with its English message."""
    err = FieldError(field_name, code, "", tuple(suggestions), value, variant,
                     tuple((params or {}).items()))
    return FieldError(field_name, code, _render_message(catalog, kind, err, "en"),
                      err.suggestions, value, variant, err.params)


class SenderError(Exception):
    """What the sender got wrong: every problem, the form kind, and what was understood."""

    def __init__(
        self,
        errors: Sequence[FieldError],
        kind: FormKind | None = None,
        raw: RawForm | None = None,
    ) -> None:
        self.errors: list[FieldError] = list(errors)
        self.kind = kind
        self.raw = raw
        super().__init__("; ".join(e.message for e in self.errors))


def no_form_error(catalog: FormCatalog, *, unclear: bool = False) -> FieldError:
    """The error for a message with no recognisable form."""
    return field_error(catalog, None, "", "no_form", variant="unclear_form" if unclear else "")


def require_form(raw: RawForm | None, catalog: FormCatalog) -> RawForm:
    """``raw`` if it is a form of known kind; otherwise raise :class:`SenderError` (no_form)."""
    if raw is None:
        raise SenderError([no_form_error(catalog)])
    if raw.kind is None:
        raise SenderError([no_form_error(catalog, unclear=True)], None, raw)
    return raw
