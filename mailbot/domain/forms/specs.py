"""What a form is: its kinds, field types and the specs ``config/forms.toml`` defines.

The catalog (``catalog``) builds these from the forms definition; the
reader, the checks and the blank forms only read them.  Texts shown to
States are :class:`LocalText`: one text per language of the language table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from mailbot.domain.languages import base_code

__all__ = [
    "PLACEHOLDER",
    "REFERENCE_RE",
    "Choice",
    "FieldSpec",
    "FieldType",
    "FormCatalogError",
    "FormKind",
    "FormSpec",
    "LocalText",
]

#: An incident reference such as ``DCM-2026-0007`` (the prefix is configurable).
REFERENCE_RE = re.compile(r"(?<![A-Za-z0-9-])([A-Z][A-Z0-9]{1,9}-\d{4}-\d{4,})(?![A-Za-z0-9-])")

#: What an empty field shows in a blank form.
PLACEHOLDER = "____"


class FormKind(StrEnum):
    """The three submissions paragraphs 10 and 12 ask of States."""

    VIOLATION = "violation"  # para. 10 (a)
    FOLLOW_UP = "follow_up"  # para. 10 (b)
    VIEWS = "views"  # para. 12


class FieldType(StrEnum):
    """How a field's text is read and typed."""

    TEXT = "text"
    MULTILINE = "multiline"
    DATE = "date"
    STATE = "state"
    STATE_OR_ORG = "state_or_org"
    CHOICE = "choice"
    YESNO = "yesno"
    REFERENCE = "reference"


class FormCatalogError(ValueError):
    """``forms.toml`` is invalid; ``problems`` names the form and field of each problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        text = self.problems[0] if len(self.problems) == 1 else (
            f"{len(self.problems)} problems in the forms definition:\n"
            + "\n".join(f"  - {p}" for p in self.problems)
        )
        super().__init__(text)


@dataclass(frozen=True)
class LocalText:
    """One text in several languages; English is the fallback."""

    texts: tuple[tuple[str, str], ...]

    def get(self, lang: str) -> str:
        base = base_code(lang)
        found = dict(self.texts)
        return found.get(base) or found.get("en", "")

    def all(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.texts if text)

    def langs(self) -> tuple[str, ...]:
        return tuple(lang for lang, text in self.texts if text)


@dataclass(frozen=True)
class Choice:
    """One possible answer of a choice field."""

    key: str
    label: LocalText
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldSpec:
    """One field of a form."""

    name: str
    type: FieldType
    required: bool
    label: LocalText
    help: LocalText
    choices: tuple[Choice, ...] = ()

    @property
    def multiline(self) -> bool:
        return self.type is FieldType.MULTILINE


@dataclass(frozen=True)
class FormSpec:
    """One form: its marker line, title and fields in order."""

    kind: FormKind
    paragraph: str
    marker: LocalText
    title: LocalText
    fields: tuple[FieldSpec, ...]
    require_one_of: tuple[tuple[str, ...], ...] = ()

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"form {self.kind.value!r} has no field {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)
