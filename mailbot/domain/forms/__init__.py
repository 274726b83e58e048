"""Report forms: their definitions as data, tolerant reading, and validation.

This is the parse-and-check step of intake for what a State sends: after
``mail.parse`` has produced an :class:`~mailbot.domain.types.InboundMail`
(and ``mail.formfiles`` has read any form attachments into
:class:`RawForm` values), :func:`find_form` picks the form out of the
message and :func:`validate` turns it into typed :class:`FormData` or
raises :class:`SenderError` listing every field the sender must fix.  The
filing layer stores the result; the reply renders the errors, and a
pre-filled form with what was understood (:func:`render_blank`).

The three forms (paragraphs 10 (a), 10 (b) and 12 of resolution 61/31)
are defined in ``config/forms.toml``; their words in each language (error
messages, yes and no, month names, closing formulas) in
``config/languages/``.  The package, in the order of the flow:

* ``specs``: form kinds, field types and specs;
* ``folding``: how text is compared (case, accents, punctuation);
* ``catalog``: ``forms.toml`` checked, and the indexes that recognise labels;
* ``reading``: a form read out of text or (label, value) pairs;
* ``values``: dates, yes/no, choices and references typed;
* ``errors``: what the sender must fix, worded per language;
* ``validation``: a read form checked into :class:`FormData`;
* ``blank``: blank forms and summaries written out.

Nothing here performs I/O or reads the clock (the language table is read
once, through :mod:`mailbot.domain.languages`).
"""

from __future__ import annotations

from mailbot.domain.forms.blank import display_value, field_heading, render_blank, summary
from mailbot.domain.forms.catalog import FormCatalog
from mailbot.domain.forms.errors import FieldError, SenderError, no_form_error, require_form
from mailbot.domain.forms.reading import (
    RawForm,
    clean_value,
    extract_form,
    find_form,
    form_from_fields,
)
from mailbot.domain.forms.specs import (
    PLACEHOLDER,
    REFERENCE_RE,
    Choice,
    FieldSpec,
    FieldType,
    FormCatalogError,
    FormKind,
    FormSpec,
    LocalText,
)
from mailbot.domain.forms.validation import FormData, validate
from mailbot.domain.forms.values import (
    checked_items,
    find_references,
    format_date,
    parse_date,
    parse_yesno,
)
from mailbot.domain.languages import default_languages

__all__ = [
    "LANGUAGES",
    "PLACEHOLDER",
    "REFERENCE_RE",
    "Choice",
    "FieldError",
    "FieldSpec",
    "FieldType",
    "FormCatalog",
    "FormCatalogError",
    "FormData",
    "FormKind",
    "FormSpec",
    "LocalText",
    "RawForm",
    "SenderError",
    "checked_items",
    "clean_value",
    "display_value",
    "extract_form",
    "field_heading",
    "find_form",
    "find_references",
    "form_from_fields",
    "format_date",
    "no_form_error",
    "parse_date",
    "parse_yesno",
    "render_blank",
    "require_form",
    "summary",
    "validate",
]


def __getattr__(name: str) -> tuple[str, ...]:
    """``LANGUAGES``: every language of the table (forms may carry texts in any of them)."""
    if name == "LANGUAGES":
        return default_languages().codes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
