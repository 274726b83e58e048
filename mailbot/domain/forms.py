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
are defined in ``config/forms.toml`` and loaded with
:meth:`FormCatalog.from_toml_data`.  Reading is tolerant because States
fill forms in every mail client there is: labels are recognised in any
supported language, whatever the case, accents, numbering or trailing
colon; values may follow the label or sit on the next lines; ``>``
quoting, covering letters, signatures, disclaimers and ``Label | value``
rows (HTML tables converted to text) are handled.  Nothing here performs
I/O or reads the clock.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from mailbot.domain.states import StateRegistry
from mailbot.domain.types import InboundMail

__all__ = [
    "LANGUAGES",
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
    "extract_form",
    "find_form",
    "find_references",
    "form_from_fields",
    "no_form_error",
    "parse_date",
    "parse_yesno",
    "render_blank",
    "require_form",
    "summary",
    "validate",
]

#: The six official languages; forms may carry texts in any of them.
LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "ar", "ru", "zh")

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


# ---------------------------------------------------------------------------
# Text normalisation shared by labels, markers and values


_NOT_ALNUM = re.compile(r"[\W_]+")
#: ASCII's characters other than letters and digits, each to a space
_ASCII_NOT_ALNUM = str.maketrans({chr(i): " " for i in range(128) if not chr(i).isalnum()})


@lru_cache(maxsize=8192)
def _fold(text: str) -> str:
    """Case-fold, strip accents, keep letters and digits, one space between words."""
    if text.isascii():
        # the same as below, three times as fast on a paragraph of a covering letter
        return " ".join(text.lower().translate(_ASCII_NOT_ALNUM).split())
    text = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )
    return _NOT_ALNUM.sub(" ", text.casefold()).strip()


def _label_end(body: str, folded: str, length: int) -> int | None:
    """Where, in ``body``, the first ``length`` folded characters end.

    Only a prefix of the line is mapped (a value on the same line may be a
    whole page); the whole line is mapped only when the prefix is too short.
    """
    if body.isascii() and (length == len(folded) or folded[length:length + 1] == " "):
        # ASCII folds to its runs of letters and digits: the prefix ends with its last word
        words = folded.count(" ", 0, length) + 1
        for number, run in enumerate(_ASCII_ALNUM.finditer(body), 1):
            if number == words:
                return run.end()
        return None
    n = min(len(body), 4 * length + 16)
    mapped, idx = _fold_map(body[:n])
    if n < len(body) and not (len(mapped) > length and folded.startswith(mapped[: length + 1])):
        mapped, idx = _fold_map(body)
        n = len(body)
    if n == len(body) and mapped != folded:
        return None
    return idx[length - 1] + 1


_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]+")


def _fold_map(text: str) -> tuple[str, list[int]]:
    """:func:`_fold` plus, for each output character, the index of its source character."""
    if text.isascii():  # most lines: runs of letters and digits, no accents to strip
        parts: list[str] = []
        where: list[int] = []
        prev_end = -1
        for m in _ASCII_ALNUM.finditer(text):
            if prev_end >= 0:
                parts.append(" ")
                where.append(prev_end)
            parts.append(m.group().lower())
            where.extend(range(m.start(), m.end()))
            prev_end = m.end()
        return "".join(parts), where
    out: list[str] = []
    idx: list[int] = []
    space = True
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKD", ch):
            if unicodedata.combining(c):
                continue
            if c.isalnum():
                for cf in c.casefold():
                    out.append(cf)
                    idx.append(i)
                space = False
            elif not space:
                out.append(" ")
                idx.append(i)
                space = True
    if out and out[-1] == " ":
        out.pop()
        idx.pop()
    return "".join(out), idx


@dataclass(frozen=True)
class LocalText:
    """One text in several languages; English is the fallback."""

    texts: tuple[tuple[str, str], ...]

    def get(self, lang: str) -> str:
        base = lang.strip().lower().replace("_", "-").split("-", 1)[0]
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


# ---------------------------------------------------------------------------
# The catalog

_TOP_KEYS = {"forms"}
_TOP_TEXTS = ("instructions", "end_marker")
_FORM_TEXTS = ("marker", "title")
_FORM_KEYS = {"paragraph", "fields", "require_one_of"}
_FIELD_TEXTS = ("label", "help")
_FIELD_KEYS = {"name", "type", "required", "choices"}
_CHOICE_KEYS = {"key", "aliases"}


def _local_text(
    table: Mapping[str, Any], base: str, where: str, problems: list[str], required: bool = True
) -> LocalText:
    texts: list[tuple[str, str]] = []
    for lang in LANGUAGES:
        for key in ((base, f"{base}_en") if lang == "en" else (f"{base}_{lang}",)):
            if key not in table:
                continue
            value = table[key]
            if not isinstance(value, str) or not value.strip():
                problems.append(f"{where}: {key} must be a non-empty string")
            elif lang not in dict(texts):
                texts.append((lang, value.strip()))
    if required and "en" not in dict(texts):
        problems.append(f"{where}: missing {base} (the English text)")
    return LocalText(tuple(texts))


def _text_keys(bases: Iterable[str]) -> set[str]:
    keys: set[str] = set()
    for base in bases:
        keys.add(base)
        keys.update(f"{base}_{lang}" for lang in LANGUAGES)
    return keys


class FormCatalog:
    """Every form the desk reads, with the indexes that recognise their labels."""

    def __init__(
        self,
        forms: Mapping[FormKind, FormSpec],
        instructions: LocalText,
        end_marker: LocalText,
    ) -> None:
        self.forms: dict[FormKind, FormSpec] = dict(forms)
        self.instructions = instructions
        self.end_marker = end_marker
        # folded label -> {kind: field name}; the field name itself is a label too
        self._labels: dict[str, dict[FormKind, str]] = {}
        self._label_lang: dict[str, str] = {}
        self._markers: dict[str, FormKind] = {}
        self._marker_lang: dict[str, str] = {}
        self._skip: set[str] = set()
        self._ends: set[str] = {_fold(t) for t in end_marker.all()}
        self._hints: set[str] = set()
        for kind, spec in self.forms.items():
            for lang, text in spec.marker.texts:
                self._markers[_fold(text)] = kind
                self._marker_lang[_fold(text)] = lang
                head = re.split(r"\s+[—–-]\s+", text, maxsplit=1)[0]
                if len(_fold(head).split()) >= 2:
                    self._markers.setdefault(_fold(head), kind)
                    self._marker_lang.setdefault(_fold(head), lang)
            for lang, text in spec.title.texts:
                self._markers.setdefault(_fold(text), kind)
                self._marker_lang.setdefault(_fold(text), lang)
            for f in spec.fields:
                keys = [(lang, _fold(t)) for lang, t in f.label.texts]
                keys.append(("", _fold(f.name)))
                for lang, key in keys:
                    self._labels.setdefault(key, {})[kind] = f.name
                    if lang:
                        self._label_lang.setdefault(key, lang)
                self._hints.update(_fold(t) for t in f.help.all())
        self._skip.update(_fold(t) for t in instructions.all())
        self._by_first: dict[str, list[str]] = {}
        for key in sorted(self._labels, key=len, reverse=True):
            self._by_first.setdefault(key.split(" ", 1)[0], []).append(key)

    @classmethod
    def from_toml_data(cls, data: Mapping[str, Any]) -> FormCatalog:
        """Validate parsed ``forms.toml`` data; raise :class:`FormCatalogError` listing all."""
        problems: list[str] = []
        if not isinstance(data, Mapping):
            raise FormCatalogError(["the forms definition must be a table"])
        unknown = sorted(set(data) - _TOP_KEYS - _text_keys(_TOP_TEXTS))
        if unknown:
            problems.append(f"unknown top-level key(s) {', '.join(unknown)}")
        instructions = _local_text(data, "instructions", "top level", problems)
        end_marker = _local_text(data, "end_marker", "top level", problems)
        raw_forms = data.get("forms")
        forms: dict[FormKind, FormSpec] = {}
        if not isinstance(raw_forms, Mapping):
            raise FormCatalogError([*problems, "missing [forms.<kind>] tables"])
        for name, table in raw_forms.items():
            try:
                kind = FormKind(name)
            except ValueError:
                problems.append(
                    f"form {name!r}: unknown kind, expected one of "
                    f"{', '.join(k.value for k in FormKind)}"
                )
                continue
            spec = _parse_form(kind, table, problems)
            if spec is not None:
                forms[kind] = spec
        for kind in FormKind:
            if kind.value not in raw_forms:
                problems.append(f"form {kind.value!r}: missing [forms.{kind.value}]")
        problems.extend(_label_collisions(forms))
        if problems:
            raise FormCatalogError(problems)
        return cls(forms, instructions, end_marker)

    def form(self, kind: FormKind) -> FormSpec:
        return self.forms[kind]

    def field(self, name: str, kind: FormKind | None = None) -> FieldSpec | None:
        """The spec of field ``name`` in ``kind`` (or in the first form that has it)."""
        kinds = [kind] if kind is not None else list(self.forms)
        for k in kinds:
            for f in self.forms[k].fields:
                if f.name == name:
                    return f
        return None

    # -- recognition helpers used by the reader ---------------------------

    def marker_kind(self, line: str) -> tuple[FormKind, str] | None:
        """The form (and language) whose marker or title ``line`` is."""
        key = _fold(line)
        kind = self._markers.get(key)
        return None if kind is None else (kind, self._marker_lang.get(key, "en"))

    def is_end(self, line: str) -> bool:
        return _fold(line) in self._ends

    def is_skippable(self, line: str) -> bool:
        """Instruction lines and bare hints printed by a blank form."""
        key = _fold(line)
        if key in self._skip:
            return True
        stripped = line.strip()
        return stripped.startswith("[") and stripped.endswith("]") and self.is_hint(stripped[1:-1])

    def is_hint(self, text: str) -> bool:
        if not text.strip():
            return False  # "[ ]" is an empty tick box, not a placeholder
        key = _fold(text)
        return key in self._hints or key in _PLACEHOLDER_HINTS

    def match_label(
        self, line: str, kind: FormKind | None = None
    ) -> tuple[dict[FormKind, str], str, str] | None:
        """If ``line`` starts with a field label: ({kind: field}, rest of line, language)."""
        body = _strip_numbering(line)
        folded = _fold(body)
        if not folded:
            return None
        for key in self._by_first.get(folded.split(" ", 1)[0], ()):
            if not folded.startswith(key) or (len(folded) > len(key) and folded[len(key)] != " "):
                continue
            owners = self._labels[key]
            if kind is not None and kind not in owners:
                continue
            end = _label_end(body, folded, len(key))
            if end is None:  # cannot happen for sane text; refuse rather than guess
                return None
            rest = body[end:]
            m = _AFTER_LABEL.match(rest)
            # a label needs a colon (or "|", or a question mark) or nothing after it
            if m is None or not (m.group("q") or m.group("sep") or m.end() == len(rest)):
                continue
            value = rest[m.end():]
            return owners, value, self._label_lang.get(key, "")
        return None


def _parse_form(kind: FormKind, table: Any, problems: list[str]) -> FormSpec | None:
    where = f"form {kind.value!r}"
    if not isinstance(table, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    unknown = sorted(set(table) - _FORM_KEYS - _text_keys(_FORM_TEXTS))
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
    marker = _local_text(table, "marker", where, problems)
    title = _local_text(table, "title", where, problems)
    paragraph = table.get("paragraph", "")
    if not isinstance(paragraph, str):
        problems.append(f"{where}: paragraph must be a string")
        paragraph = ""
    raw_fields = table.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        problems.append(f"{where}: missing [[forms.{kind.value}.fields]]")
        return None
    fields: list[FieldSpec] = []
    seen: set[str] = set()
    for number, entry in enumerate(raw_fields, start=1):
        spec = _parse_field(f"{where} field #{number}", entry, problems)
        if spec is None:
            continue
        if spec.name in seen:
            problems.append(f"{where} field {spec.name!r}: defined twice")
            continue
        seen.add(spec.name)
        fields.append(spec)
    groups: list[tuple[str, ...]] = []
    raw_groups = table.get("require_one_of", [])
    if not isinstance(raw_groups, list) or not all(
        isinstance(g, list) and g and all(isinstance(n, str) for n in g) for g in raw_groups
    ):
        problems.append(f"{where}: require_one_of must be a list of lists of field names")
    else:
        for group in raw_groups:
            for name in group:
                if name not in seen:
                    problems.append(f"{where}: require_one_of names unknown field {name!r}")
            groups.append(tuple(group))
    return FormSpec(kind, paragraph, marker, title, tuple(fields), tuple(groups))


def _parse_field(where: str, entry: Any, problems: list[str]) -> FieldSpec | None:
    if not isinstance(entry, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    name = entry.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        problems.append(f"{where}: name must be lower-case letters, digits and '_', got {name!r}")
        return None
    where = f"{where.rsplit(' field ', 1)[0]} field {name!r}"
    unknown = sorted(set(entry) - _FIELD_KEYS - _text_keys(_FIELD_TEXTS))
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
    try:
        ftype = FieldType(str(entry.get("type")))
    except ValueError:
        problems.append(
            f"{where}: type {entry.get('type')!r} is not one of "
            f"{', '.join(t.value for t in FieldType)}"
        )
        return None
    required = entry.get("required", False)
    if not isinstance(required, bool):
        problems.append(f"{where}: required must be true or false")
        required = False
    label = _local_text(entry, "label", where, problems)
    help_text = _local_text(entry, "help", where, problems, required=False)
    choices: list[Choice] = []
    raw_choices = entry.get("choices")
    if ftype is FieldType.CHOICE:
        if not isinstance(raw_choices, list) or not raw_choices:
            problems.append(f"{where}: a choice field needs a non-empty list of choices")
        else:
            for number, raw in enumerate(raw_choices, start=1):
                choice = _parse_choice(f"{where} choice #{number}", raw, problems)
                if choice is not None:
                    choices.append(choice)
            keys = [c.key for c in choices]
            if len(set(keys)) != len(keys):
                problems.append(f"{where}: choice keys must be unique")
    elif raw_choices is not None:
        problems.append(f"{where}: choices are allowed only for type = \"choice\"")
    return FieldSpec(name, ftype, required, label, help_text, tuple(choices))


def _parse_choice(where: str, raw: Any, problems: list[str]) -> Choice | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        problems.append(f"{where}: missing key")
        return None
    unknown = sorted(set(raw) - _CHOICE_KEYS - _text_keys(["label"]))
    if unknown:
        problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        problems.append(f"{where}: aliases must be a list of strings")
        aliases = []
    return Choice(key, _local_text(raw, "label", where, problems), tuple(aliases))


def _label_collisions(forms: Mapping[FormKind, FormSpec]) -> list[str]:
    owner: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    for kind, spec in forms.items():
        for f in spec.fields:
            for text in (*f.label.all(), f.name):
                key = _fold(text)
                if not key:
                    problems.append(f"form {kind.value!r} field {f.name!r}: empty label {text!r}")
                    continue
                prev = owner.setdefault(key, (kind.value, f.name))
                if prev[1] != f.name:
                    problems.append(
                        f"form {kind.value!r} field {f.name!r}: label {text!r} is also the label "
                        f"of field {prev[1]!r} in form {prev[0]!r}"
                    )
    return problems


# ---------------------------------------------------------------------------
# Reading a form out of text

_NUMBERING = re.compile(
    r"^\s*(?:[|>*•·\-–]+\s*|\*\*|#+\s*|\(?\d{1,2}\s*[.)]\s*|\d{1,2}\s+(?=\D)|\([a-zA-Z]\)\s*"
    r"|[a-zA-Z][.)]\s+|\(?[ivxIVX]{1,4}[.)]\s+)"
)
_AFTER_LABEL = re.compile(
    r"^\s*\**\s*(?P<q>[?？])?\s*\**\s*(?:\[[^\]]*\]|\([^)]*\))?\s*\**\s*(?P<sep>[:：|])?"
    r"[\s:|*]*"
)
_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])")
_UNDERSCORES = re.compile(r"_{2,}|\.{4,}|…{2,}")
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_SIGNATURE = re.compile(r"^(?:--|-- |—|__)\s*$")
_PLACEHOLDER_HINTS = {
    _fold(t) for t in (
        "yes/no", "oui/non", "sí/no", "si/no", "yes / no", "date", "...", "text", "texte", "texto",
    )
}
_DISCLAIMERS = tuple(_fold(t) for t in (
    "This e-mail and any attachments", "This email and any attachments", "This message and any",
    "This e-mail is confidential", "This email is confidential", "This message is confidential",
    "The information contained in this", "CONFIDENTIALITY NOTICE", "DISCLAIMER",
    "Ce message et toutes les pièces jointes", "Ce courriel et", "Ce message est confidentiel",
    "Le présent message", "AVERTISSEMENT", "Este mensaje y sus anexos",
    "Este mensaje es confidencial",
    "Este correo electrónico", "La información contenida en este", "AVISO DE CONFIDENCIALIDAD",
    "Sent from my iPhone", "Sent from my iPad", "Envoyé de mon iPhone", "Enviado desde mi iPhone",
    "Get Outlook for",
))
_CLOSINGS = {_fold(t) for t in (
    "Best regards", "Kind regards", "Regards", "Sincerely", "Yours sincerely", "Yours faithfully",
    "With best regards", "Best wishes", "Thank you", "Thanks", "Many thanks",
    "Cordialement", "Bien cordialement", "Sincères salutations", "Meilleures salutations",
    "Salutations distinguées", "Merci", "Atentamente", "Saludos", "Saludos cordiales",
    "Un saludo", "Muchas gracias", "Gracias",
)}
_REPLY_HEADER = re.compile(
    r"^\s*(?:On .{4,200} wrote:|Le .{4,200} a écrit ?:|El .{4,200} escribió:"
    r"|-{2,} ?(?:Original Message|Message d'origine|Mensaje original) ?-{2,})\s*$",
    re.IGNORECASE,
)


def _strip_numbering(line: str) -> str:
    prev = None
    while prev != line:
        prev = line
        line = _NUMBERING.sub("", line, count=1)
    return line


def _prepare(text: str) -> list[str]:
    """Lines with quoting, markdown escapes and table rules removed."""
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = _QUOTE.sub("", raw) if ">" in raw else raw
        line = (_MD_ESCAPE.sub(r"\1", line) if "\\" in line else line).rstrip()
        line = line.replace("\u00a0", " ")
        if "-" in line and _TABLE_RULE.match(line):
            continue
        if line.startswith("|") and line.endswith("|") and len(line) > 1:
            line = line[1:-1].strip()
        out.append(line)
    return out


def _is_stop(line: str) -> bool:
    if _SIGNATURE.match(line):
        return True
    key = _fold(line)
    if not key:
        return False
    if key in _CLOSINGS:
        return True
    return key.startswith(_DISCLAIMERS) or bool(_REPLY_HEADER.match(line))


def clean_value(text: str, catalog: FormCatalog) -> str:
    """A value with placeholders and hints from the blank form removed."""

    def drop(m: re.Match[str]) -> str:
        return "" if catalog.is_hint(m.group(1)) else m.group(0)

    text = _BRACKETS.sub(drop, text)
    text = _UNDERSCORES.sub("", text)
    return text.strip().rstrip("|").strip()


@dataclass(frozen=True)
class RawForm:
    """What a form says, field by field, before any checking (text per field name)."""

    kind: FormKind | None
    values: dict[str, str]
    unknown_lines: tuple[str, ...]
    source: str
    lang: str | None = None  # the language of most labels recognised


@dataclass
class _Scan:
    marker: tuple[int, FormKind, str] | None = None
    hits: list[tuple[int, dict[FormKind, str], str]] = field(default_factory=list)


def _scan(lines: Sequence[str], catalog: FormCatalog) -> _Scan:
    scan = _Scan()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        mk = catalog.marker_kind(line)
        if mk is not None:
            if scan.marker is None:
                scan.marker = (i, mk[0], mk[1])
            continue
        hit = catalog.match_label(line)
        if hit is not None:
            scan.hits.append((i, hit[0], hit[2]))
    return scan


def _decide_kind(scan: _Scan) -> FormKind | None:
    if scan.marker is not None:
        return scan.marker[1]
    counts: dict[FormKind, set[str]] = {}
    for _, owners, _ in scan.hits:
        for kind, name in owners.items():
            counts.setdefault(kind, set()).add(name)
    if not counts:
        return None
    best = max(len(v) for v in counts.values())
    winners = [k for k, v in counts.items() if len(v) == best]
    return winners[0] if len(winners) == 1 else None


def extract_form(text: str, catalog: FormCatalog, source: str = "body") -> RawForm | None:
    """Read a form out of ``text``; None when there is no form in it.

    A form is recognised by its marker or title line, or by at least two
    field labels.  Lines before the form (a covering letter) and lines that
    belong to no field are kept in ``unknown_lines``; reading stops at the
    end marker, a signature delimiter, a closing formula or a disclaimer.
    """
    lines = _prepare(text)
    scan = _scan(lines, catalog)
    distinct = {name for _, owners, _ in scan.hits for name in owners.values()}
    if scan.marker is None and len(distinct) < 2:
        return None
    kind = _decide_kind(scan)
    starts = [i for i, _, _ in scan.hits]
    if scan.marker is not None:
        starts.append(scan.marker[0])
    start = min(starts)
    unknown: list[str] = []
    for line in lines[:start]:
        if line.strip() and not _is_stop(line) and not catalog.is_skippable(line):
            unknown.append(line.strip())
    values: dict[str, list[str]] = {}
    same_line: dict[str, bool] = {}
    langs: dict[str, int] = {}
    current: str | None = None
    gap = False  # a blank line since the current field's value began
    for line in lines[start:]:
        stripped = line.strip()
        if not stripped:
            gap = True
            if current is not None and current in values and _multiline(catalog, kind, current):
                values[current].append("")
            continue
        if catalog.is_end(stripped) or _is_stop(stripped):
            break
        if catalog.marker_kind(stripped) is not None or catalog.is_skippable(stripped):
            continue
        hit = catalog.match_label(stripped, kind)
        if hit is not None:
            owners, rest, lang = hit
            name = owners[kind] if kind is not None else next(iter(owners.values()))
            if lang:
                langs[lang] = langs.get(lang, 0) + 1
            rest = clean_value(rest, catalog)
            if _has_value(values.get(name)):
                current = None  # a second copy of the field (a quoted form): keep the first
                if rest:
                    unknown.append(stripped)
                continue
            current = name
            values[name] = [rest] if rest else []
            same_line[name] = bool(rest)
            gap = False
            continue
        if current is None:
            unknown.append(stripped)
            continue
        piece = clean_value(stripped, catalog)
        if not piece:
            continue
        if _multiline(catalog, kind, current):
            values[current].append(piece)
        elif (same_line[current] and gap) or (values[current] and gap):
            unknown.append(stripped)
            current = None
        else:
            values[current].append(piece)
        gap = False
    result: dict[str, str] = {}
    for name, parts in values.items():
        if _multiline(catalog, kind, name):
            joined = "\n".join(parts).strip("\n")
            joined = re.sub(r"\n{3,}", "\n\n", joined)
        else:
            joined = " ".join(p for p in parts if p)
        if joined.strip():
            result[name] = joined.strip()
    form_lang = max(langs, key=lambda k: langs[k]) if langs else (
        scan.marker[2] if scan.marker is not None else None
    )
    return RawForm(kind, result, tuple(unknown), source, form_lang)


def _has_value(parts: list[str] | None) -> bool:
    return bool(parts) and any(p.strip() for p in parts or ())


def _multiline(catalog: FormCatalog, kind: FormKind | None, name: str) -> bool:
    spec = catalog.field(name, kind)
    return spec is not None and spec.multiline


def form_from_fields(
    fields: Mapping[str, str],
    catalog: FormCatalog,
    *,
    kind: FormKind | None = None,
    text: str = "",
    source: str = "attachment",
) -> RawForm | None:
    """A form from (label or field name, value) pairs, such as PDF fields or table rows.

    ``text`` (the document's other text) is read as well: it may carry the
    marker that tells the kind, and fields outside the pairs.
    """
    from_text = extract_form(text, catalog, source) if text.strip() else None
    values: dict[str, str] = dict(from_text.values) if from_text else {}
    if from_text is not None:
        unknown = list(from_text.unknown_lines)
    else:  # no form in the text: keep its lines all the same
        unknown = [line.strip() for line in text.splitlines() if line.strip()
                   and catalog.marker_kind(line) is None and not catalog.is_end(line)
                   and not catalog.is_skippable(line)]
    if kind is None and from_text is not None:
        kind = from_text.kind
    matched: dict[str, str] = {}
    owners_seen: list[dict[FormKind, str]] = []
    for key, value in fields.items():
        hit = catalog.match_label(key)
        if hit is None:
            if value.strip():
                unknown.append(f"{key}: {value.strip()}")
            continue
        owners_seen.append(hit[0])
        cleaned = "\n".join(clean_value(v, catalog) for v in value.splitlines()).strip()
        matched[key] = cleaned
    if kind is None:
        scan = _Scan(hits=[(0, o, "") for o in owners_seen])
        if len({n for o in owners_seen for n in o.values()}) >= 2:
            kind = _decide_kind(scan)
    if kind is None and from_text is None and not owners_seen:
        return None
    for key, text in matched.items():
        hit = catalog.match_label(key, kind)
        if hit is None:
            continue
        name = hit[0][kind] if kind is not None else next(iter(hit[0].values()))
        spec = catalog.field(name, kind)
        if spec is not None and not spec.multiline:
            text = " ".join(text.split())
        if text:
            values[name] = text
    return RawForm(kind, values, tuple(unknown), source, from_text.lang if from_text else None)


def find_form(
    mail: InboundMail,
    catalog: FormCatalog,
    attachment_forms: Sequence[RawForm],
    *,
    html_to_text: Callable[[str], str],
) -> RawForm | None:
    """The form of a message: in the body text, else its HTML, else the attachments.

    A form whose kind is recognised wins over one where only some labels
    were found.  ``html_to_text`` converts the HTML body (the parse stage's
    converter, so tables read as ``Label | value``; passed in to keep this module pure).
    """
    candidates: list[RawForm] = []
    body = extract_form(mail.text, catalog, "body") if mail.text else None
    if body is not None:
        candidates.append(body)
    if (body is None or body.kind is None) and mail.html:
        html_form = extract_form(html_to_text(mail.html), catalog, "html")
        if html_form is not None:
            candidates.append(html_form)
    candidates.extend(attachment_forms)
    for candidate in candidates:
        if candidate.kind is not None:
            return candidate
    return candidates[0] if candidates else None


# ---------------------------------------------------------------------------
# Typed values


def find_references(text: str) -> list[str]:
    """Incident references in ``text`` (e.g. a subject tag ``[DCM-2026-0007]``), in order."""
    return list(dict.fromkeys(REFERENCE_RE.findall(text)))


_MONTHS: dict[str, tuple[str, ...]] = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
           "septiembre", "octubre", "noviembre", "diciembre"),
}
_MONTH_WORDS = {
    _fold(w) for names in _MONTHS.values() for n in names
    for w in (n, n[:3], n[:4], "sept", "setiembre")
}
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_NUMERIC_DATE = re.compile(r"^(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{4})$")
_WORD_DATE = re.compile(
    r"^(?:[^\W\d_]+,?\s+)?(?:\d{1,2}(?:st|nd|rd|th|er|º|°)?\.?\s+(?:de\s+)?[^\W\d_]+\.?,?\s+"
    r"(?:de\s+)?\d{4}|[^\W\d_]+\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})$",
    re.IGNORECASE,
)
_DATEPARSER_SETTINGS: dict[str, Any] = {
    "STRICT_PARSING": True,
    "REQUIRE_PARTS": ["day", "month", "year"],
    "PARSERS": ["absolute-time"],
    "RELATIVE_BASE": datetime(2000, 1, 1),
    "PREFER_DAY_OF_MONTH": "first",
    "DATE_ORDER": "DMY",
}


def format_date(value: date, lang: str) -> str:
    """``20 November 2026`` in English, ``20 novembre 2026``, ``20 de noviembre de 2026``."""
    base = lang[:2]
    if base == "fr":
        day = "1er" if value.day == 1 else str(value.day)
        return f"{day} {_MONTHS['fr'][value.month - 1]} {value.year}"
    if base == "es":
        return f"{value.day} de {_MONTHS['es'][value.month - 1]} de {value.year}"
    return f"{value.day} {_MONTHS['en'][value.month - 1]} {value.year}"


def parse_date(text: str) -> date | tuple[str, tuple[date, ...]]:
    """A date, or (error code, candidate dates) with code ``bad_date`` or ``ambiguous_date``.

    Accepted: ``2026-11-20``, ``20/11/2026``, ``20.11.2026``, ``20-11-2026`` and
    month names in English, French or Spanish.  Day and month in figures
    that could be either (``05/06/2026``) are ambiguous unless both readings
    are the same day.  Relative dates ("yesterday") are refused.
    """
    value = " ".join(text.strip().rstrip(".").split())
    m = _ISO_DATE.match(value)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return ("bad_date", ())
    m = _NUMERIC_DATE.match(value)
    if m:
        a, b, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
        readings: list[date] = []
        for day, month in ((a, b), (b, a)):
            try:
                d = date(year, month, day)
            except ValueError:
                continue
            if d not in readings:
                readings.append(d)
        if not readings:
            return ("bad_date", ())
        if len(readings) == 1:
            return readings[0]
        return ("ambiguous_date", tuple(readings))
    if _WORD_DATE.match(value) and any(w in _MONTH_WORDS for w in _fold(value).split()):
        # imported here: a date in words is rare, and the parse-ahead worker, which reads
        # forms but never checks them, starts a twentieth of a second sooner without it
        import dateparser

        parsed = dateparser.parse(
            value, languages=["en", "fr", "es"], settings=_DATEPARSER_SETTINGS
        )
        if isinstance(parsed, datetime):
            return parsed.date()
    return ("bad_date", ())


_CHECK_MARK = r"(?:\[\s*[xX✓✔]\s*\]|\(\s*[xX]\s*\)|[☒☑✓✔✗✘])"
_ITEM_END = r"(?=\s*(?:[\[(☐☒☑✓✔✗✘/|,;]|\s{2,}|$))"
_CHECKED_AFTER = re.compile(_CHECK_MARK + r"\s*([^\W\d_][^\[\]()☒☑☐✓✔✗✘/|,;\n]*?)" + _ITEM_END)
_CHECKED_BEFORE = re.compile(
    r"(?:^|(?<=[\]\s)☐/|,;]))([^\W\d_][^\[\]()☒☑☐✓✔✗✘/|,;\n]*?)\s*" + _CHECK_MARK
)
_YES = {"yes", "y", "oui", "si", "true", "x", "ok", "yes please", "affirmative"}
_NO = {"no", "n", "non", "false"}
_CONFIDENTIAL = tuple(_fold(t) for t in (
    "do not circulate", "don't circulate", "dont circulate", "not to be circulated",
    "not for circulation", "no circulation", "should not be circulated", "may not be circulated",
    "must not be circulated", "not be circulated", "confidential", "restricted",
    "ne pas diffuser", "ne pas communiquer", "ne pas distribuer", "pas de diffusion",
    "ne doit pas etre", "confidentiel", "no distribuir", "no circular", "no difundir",
    "no debe distribuirse", "no debe ser distribuido", "confidencial", "reservado",
))
_CIRCULATE = tuple(_fold(t) for t in (
    "circulate", "may be circulated", "can be circulated", "circulation", "diffuser",
    "communiquer", "peut etre communique", "distribuer", "distribuir", "circular", "difundir",
    "puede distribuirse",
))


def checked_items(text: str) -> list[str]:
    """The words next to ticked boxes (``[x] yes``, ``No [X]``, ``☒ oui``)."""
    items = [m.group(1).strip() for m in _CHECKED_AFTER.finditer(text)]
    if not items:
        items = [m.group(1).strip() for m in _CHECKED_BEFORE.finditer(text)]
    return [i for i in items if i]


def parse_yesno(text: str, *, circulation: bool = False) -> bool | None:
    """Yes/no in English, French or Spanish, ticked boxes, and (for circulation) phrases."""
    ticked = checked_items(text)
    if ticked:
        answers = {parse_yesno(t, circulation=circulation) for t in ticked}
        answers.discard(None)
        return answers.pop() if len(answers) == 1 else None
    key = _fold(text)
    if not key:
        return None
    if key in _YES:
        return True
    if key in _NO:
        return False
    if circulation and any(f" {c} " in f" {key} " for c in _CONFIDENTIAL):
        return False
    words = key.split()
    first = words[0]
    yes_words = {w for w in words if w in _YES - {"x", "y"}}
    no_words = {w for w in words if w in _NO - {"n"}}
    if yes_words and no_words:
        return None
    if first in _YES - {"x"}:
        return True
    if first in _NO:
        return False
    if circulation and any(f" {c} " in f" {key} " for c in _CIRCULATE):
        return True
    return None


def _choice_key(spec: FieldSpec, text: str) -> str | None:
    ticked = checked_items(text)
    candidates = ticked if ticked else [text]
    found: set[str] = set()
    for candidate in candidates:
        key = _fold(candidate)
        for choice in spec.choices:
            names = {_fold(choice.key), *(_fold(t) for t in choice.label.all()),
                     *(_fold(a) for a in choice.aliases)}
            if key in names:
                found.add(choice.key)
    if len(found) == 1:
        return found.pop()
    if found:
        return None
    # a label inside a longer answer: "the Embassy (a diplomatic mission)"
    key = f" {_fold(text)} "
    for choice in spec.choices:
        names = {_fold(t) for t in choice.label.all()}
        if any(f" {n} " in key for n in names):
            found.add(choice.key)
    return found.pop() if len(found) == 1 else None


_ORG_WORDS = {
    "organization", "organisation", "organizacion", "nations", "union", "agency", "office",
    "fund", "programme", "program", "bank", "league", "council", "commission", "court",
    "institute", "secretariat", "committee", "tribunal", "unies", "unidas",
    "banque", "banco", "fonds", "fondo", "bureau", "oficina", "agence", "agencia", "cour",
    "corte", "conseil", "consejo", "ligue", "liga", "communaute", "comunidad", "community",
}


def _looks_like_org(text: str) -> bool:
    words = set(_fold(text).split())
    if words & _ORG_WORDS:
        return True
    stripped = text.strip()
    return bool(re.fullmatch(r"[A-Z]{2,8}", stripped)) and len(stripped) != 3


# ---------------------------------------------------------------------------
# Errors


_MESSAGES: dict[str, dict[str, str]] = {
    "missing": {
        "en": "{label}: this field is required and was left empty. Please fill it in.",
        "fr": "{label} : ce champ est obligatoire et n'a pas été rempli. Veuillez le remplir.",
        "es": "{label}: este campo es obligatorio y quedó vacío. Rellénelo, por favor.",
    },
    "missing_one_of": {
        "en": "{labels}: please fill in at least one of these fields.",
        "fr": "{labels} : veuillez remplir au moins l'un de ces champs.",
        "es": "{labels}: rellene al menos uno de estos campos, por favor.",
    },
    "bad_date": {
        "en": "{label}: \u201c{value}\u201d is not a date we can read. Write it with the month "
              "in letters, for example 20 November 2026, or as 2026-11-20.",
        "fr": "{label} : \u00ab {value} \u00bb n'est pas une date lisible. Écrivez le mois en "
              "lettres, par exemple 20 novembre 2026, ou sous la forme 2026-11-20.",
        "es": "{label}: \u00ab{value}\u00bb no es una fecha legible. Escriba el mes en letras, "
              "por ejemplo 20 de noviembre de 2026, o en la forma 2026-11-20.",
    },
    "ambiguous_date": {
        "en": "{label}: \u201c{value}\u201d could mean {a} or {b}. Please write the month in "
              "letters (for example {a}) or use the form YYYY-MM-DD.",
        "fr": "{label} : \u00ab {value} \u00bb peut signifier {a} ou {b}. Veuillez écrire le "
              "mois en lettres (par exemple {a}) ou utiliser la forme AAAA-MM-JJ.",
        "es": "{label}: \u00ab{value}\u00bb puede significar {a} o {b}. Escriba el mes en "
              "letras (por ejemplo {a}) o use la forma AAAA-MM-DD.",
    },
    "unknown_state": {
        "en": "{label}: \u201c{value}\u201d is not a State we recognise.{did_you_mean} Please "
              "write the State's name as in the list of Member States of the United Nations.",
        "fr": "{label} : \u00ab {value} \u00bb n'est pas un État que nous reconnaissons."
              "{did_you_mean} Veuillez écrire le nom de l'État tel qu'il figure dans la liste "
              "des États Membres de l'Organisation des Nations Unies.",
        "es": "{label}: \u00ab{value}\u00bb no es un Estado que reconozcamos.{did_you_mean} "
              "Escriba el nombre del Estado tal como figura en la lista de Estados Miembros de "
              "las Naciones Unidas.",
    },
    "unknown_state_or_org": {
        "en": "{label}: \u201c{value}\u201d is not a State we recognise.{did_you_mean} Please "
              "write the State's name as in the list of Member States of the United Nations; "
              "if it is an international organization, write its full name.",
        "fr": "{label} : \u00ab {value} \u00bb n'est pas un État que nous reconnaissons."
              "{did_you_mean} Veuillez écrire le nom de l'État tel qu'il figure dans la liste "
              "des États Membres ; s'il s'agit d'une organisation internationale, écrivez son "
              "nom complet.",
        "es": "{label}: \u00ab{value}\u00bb no es un Estado que reconozcamos.{did_you_mean} "
              "Escriba el nombre del Estado tal como figura en la lista de Estados Miembros; si "
              "se trata de una organización internacional, escriba su nombre completo.",
    },
    "unknown_reference": {
        "en": "{label}: \u201c{value}\u201d is not the reference of an incident on our "
              "records. Please copy the reference from our acknowledgement or notice, for "
              "example DCM-2026-0007.",
        "fr": "{label} : \u00ab {value} \u00bb n'est la référence d'aucun incident enregistré. "
              "Veuillez recopier la référence de notre accusé de réception ou de notre "
              "notification, par exemple DCM-2026-0007.",
        "es": "{label}: \u00ab{value}\u00bb no es la referencia de ningún incidente registrado. "
              "Copie la referencia de nuestro acuse de recibo o notificación, por ejemplo "
              "DCM-2026-0007.",
    },
    "bad_choice": {
        "en": "{label}: \u201c{value}\u201d is not one of the possible answers. Please write "
              "one of: {choices}.",
        "fr": "{label} : \u00ab {value} \u00bb ne fait pas partie des réponses possibles. "
              "Veuillez écrire l'une des réponses suivantes : {choices}.",
        "es": "{label}: \u00ab{value}\u00bb no es una de las respuestas posibles. Escriba "
              "una de las siguientes: {choices}.",
    },
    "not_entitled": {
        "en": "This address is not registered as a focal point of any State, so a report "
              "sent from it cannot be accepted. Please send the report from your mission's "
              "registered address, or ask the Secretariat to register this address.",
        "fr": "Cette adresse n'est enregistrée comme point de contact d'aucun État ; un "
              "rapport envoyé depuis celle-ci ne peut être accepté. Veuillez l'envoyer depuis "
              "l'adresse enregistrée de votre mission ou demander au Secrétariat "
              "d'enregistrer cette adresse.",
        "es": "Esta dirección no está registrada como punto de contacto de ningún Estado, por "
              "lo que no se puede aceptar un informe enviado desde ella. Envíelo desde la "
              "dirección registrada de su misión o pida a la Secretaría que registre esta "
              "dirección.",
    },
    "no_form": {
        "en": "We could not find a report form in your message. Please fill in one of the "
              "blank forms (violation report, follow-up report or views), keeping its first "
              "line, and send it in the body of a message or as a .txt, .pdf or .docx "
              "attachment.",
        "fr": "Nous n'avons trouvé aucun formulaire dans votre message. Veuillez remplir l'un "
              "des formulaires vierges (rapport de violation, rapport de suivi ou vues), en "
              "conservant sa première ligne, et l'envoyer dans le corps d'un message ou en "
              "pièce jointe .txt, .pdf ou .docx.",
        "es": "No encontramos ningún formulario en su mensaje. Rellene uno de los formularios "
              "en blanco (informe de violación, informe de seguimiento u opiniones), "
              "conservando su primera línea, y envíelo en el cuerpo de un mensaje o como "
              "archivo adjunto .txt, .pdf o .docx.",
    },
    "unclear_form": {
        "en": "We found some fields of a form in your message but could not tell which form "
              "it is. Please keep the first line of the blank form (for example "
              "\u201cVIOLATION REPORT \u2014 ...\u201d) and send it again.",
        "fr": "Nous avons trouvé certains champs d'un formulaire dans votre message, sans "
              "pouvoir déterminer de quel formulaire il s'agit. Veuillez conserver la première "
              "ligne du formulaire vierge (par exemple \u00ab RAPPORT DE VIOLATION \u2014 ... "
              "\u00bb) et le renvoyer.",
        "es": "Encontramos algunos campos de un formulario en su mensaje, pero no pudimos "
              "determinar de qué formulario se trata. Conserve la primera línea del formulario "
              "en blanco (por ejemplo \u00abINFORME DE VIOLACIÓN \u2014 ...\u00bb) y vuelva a "
              "enviarlo.",
    },
    "bad_yesno": {
        "en": "{label}: \u201c{value}\u201d is not an answer we can read. Please write yes "
              "or no.",
        "fr": "{label} : \u00ab {value} \u00bb n'est pas une réponse lisible. Veuillez écrire "
              "oui ou non.",
        "es": "{label}: \u00ab{value}\u00bb no es una respuesta legible. Escriba sí o no.",
    },
}
_DID_YOU_MEAN = {"en": " Did you mean {names}?", "fr": " Vouliez-vous dire {names} ?",
                 "es": " ¿Quiso decir {names}?"}
_OR = {"en": " or ", "fr": " ou ", "es": " o "}


@dataclass(frozen=True)
class FieldError:
    """One thing the sender must fix, naming the field and saying how.

    ``code`` is one of: missing, bad_date, ambiguous_date, unknown_state,
    unknown_reference, bad_choice, not_entitled, no_form.  ``message`` is in
    English; :meth:`describe` gives it in French or Spanish.
    """

    field: str
    code: str
    message: str
    suggestions: tuple[str, ...] = ()
    value: str = ""
    variant: str = ""  # which wording of the code (e.g. "missing_one_of")
    params: tuple[tuple[str, str], ...] = ()  # extra values for the wording

    def describe(self, catalog: FormCatalog, lang: str, kind: FormKind | None = None) -> str:
        """The message in ``lang`` (en, fr or es; English otherwise)."""
        return _render_message(catalog, kind, self, lang)


def _render_message(
    catalog: FormCatalog | None, kind: FormKind | None, err: FieldError, lang: str
) -> str:
    base = lang[:2] if lang[:2] in ("en", "fr", "es") else "en"
    template = _MESSAGES[err.variant or err.code][base]
    params = dict(err.params)
    label = err.field
    if catalog is not None and err.field:
        spec = catalog.field(err.field, kind)
        if spec is not None:
            label = spec.label.get(base)
    if "fields" in params and catalog is not None:
        labels = []
        for name in params["fields"].split(","):
            spec = catalog.field(name, kind)
            labels.append(spec.label.get(base) if spec is not None else name)
        params["labels"] = "; ".join(labels)
    if "dates" in params:
        iso = params["dates"].split(",")
        shown = [format_date(date.fromisoformat(d), base) for d in iso]
        params["a"], params["b"] = shown[0], shown[-1]
    if err.code == "bad_choice" and err.variant != "bad_yesno" and catalog is not None:
        spec = catalog.field(err.field, kind)
        if spec is not None:
            params["choices"] = "; ".join(c.label.get(base) for c in spec.choices)
    names = _OR[base].join(err.suggestions)
    did = _DID_YOU_MEAN[base].format(names=names) if err.suggestions else ""
    return template.format(label=label, value=err.value, did_you_mean=did,
                           choices=params.get("choices", ""), labels=params.get("labels", ""),
                           a=params.get("a", ""), b=params.get("b", ""))


def _error(
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
    return _error(catalog, None, "", "no_form", variant="unclear_form" if unclear else "")


def require_form(raw: RawForm | None, catalog: FormCatalog) -> RawForm:
    """``raw`` if it is a form of known kind; otherwise raise :class:`SenderError` (no_form)."""
    if raw is None:
        raise SenderError([no_form_error(catalog)])
    if raw.kind is None:
        raise SenderError([no_form_error(catalog, unclear=True)], None, raw)
    return raw


# ---------------------------------------------------------------------------
# Validation


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


def _typed(
    spec: FieldSpec,
    text: str,
    catalog: FormCatalog,
    kind: FormKind,
    registry: StateRegistry,
    reference_exists: Callable[[str], bool],
) -> tuple[Any, FieldError | None]:
    ftype = spec.type
    if ftype in (FieldType.TEXT, FieldType.MULTILINE):
        return (text if ftype is FieldType.MULTILINE else " ".join(text.split())), None
    if ftype is FieldType.DATE:
        parsed = parse_date(text)
        if isinstance(parsed, date):
            return parsed, None
        code, readings = parsed
        params = {"dates": ",".join(d.isoformat() for d in readings)} if readings else None
        return None, _error(catalog, kind, spec.name, code, value=text, params=params,
                            suggestions=[d.isoformat() for d in readings])
    if ftype in (FieldType.STATE, FieldType.STATE_OR_ORG):
        info = registry.lookup(text)
        if info is not None:
            return (info.code if ftype is FieldType.STATE else {"state": info.code}), None
        suggestions = registry.suggest(text)
        if ftype is FieldType.STATE_OR_ORG and (_looks_like_org(text) or not suggestions):
            return {"organization": " ".join(text.split())}, None
        variant = "unknown_state_or_org" if ftype is FieldType.STATE_OR_ORG else ""
        return None, _error(catalog, kind, spec.name, "unknown_state", value=text,
                            suggestions=[s.name for s in suggestions], variant=variant)
    if ftype is FieldType.CHOICE:
        key = _choice_key(spec, text)
        if key is not None:
            return key, None
        return None, _error(catalog, kind, spec.name, "bad_choice", value=text,
                            suggestions=[c.label.get("en") for c in spec.choices])
    if ftype is FieldType.YESNO:
        answer = parse_yesno(text, circulation=spec.name == "circulate")
        if answer is not None:
            return answer, None
        return None, _error(catalog, kind, spec.name, "bad_choice", value=text,
                            variant="bad_yesno", suggestions=["yes", "no"])
    # reference
    refs = find_references(text.upper())
    if refs and reference_exists(refs[0]):
        return refs[0], None
    return None, _error(catalog, kind, spec.name, "unknown_reference", value=text)


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
    errors: list[FieldError] = []
    if sender_state is None:
        errors.append(_error(catalog, kind, "", "not_entitled"))
    values: dict[str, Any] = {}
    circulation, defaulted = "circulate", True
    for fspec in spec.fields:
        text = form.values.get(fspec.name, "").strip()
        if not text:
            if fspec.required:
                errors.append(_error(catalog, kind, fspec.name, "missing"))
            continue
        if fspec.name == "circulate" and fspec.type is FieldType.YESNO:
            answer = parse_yesno(text, circulation=True)
            defaulted = False
            if answer is None:
                circulation = "pending"
            else:
                circulation = "circulate" if answer else "confidential"
                values[fspec.name] = answer
            continue
        typed, err = _typed(fspec, text, catalog, kind, registry, reference_exists)
        if err is not None:
            errors.append(err)
        else:
            values[fspec.name] = typed
    for group in spec.require_one_of:
        if not any(form.values.get(name, "").strip() for name in group):
            errors.append(_error(catalog, kind, group[0], "missing", variant="missing_one_of",
                                 params={"fields": ",".join(group)}))
    if errors:
        raise SenderError(errors, kind, form)
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


# ---------------------------------------------------------------------------
# Blank forms and summaries


def field_heading(spec: FieldSpec, lang: str) -> str:
    """``Label * [hint]`` as printed in a blank form (``?`` kept for questions)."""
    label = spec.label.get(lang)
    if spec.type is FieldType.YESNO:
        label += " ?" if lang[:2] == "fr" else "?"
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
        heading = field_heading(fspec, lang)
        if fspec.multiline and value:
            out.append(f"{heading}:")
            out.extend(value.splitlines())
        else:
            out.append(f"{heading}: {' '.join(value.split()) or PLACEHOLDER}")
        out.append("")
    out.append(catalog.end_marker.get(lang))
    return "\n".join(out) + "\n"


_YES_NO_TEXT = {"en": ("Yes", "No"), "fr": ("Oui", "Non"), "es": ("Sí", "No")}
_CIRCULATION_TEXT = {
    "en": {"default": "Yes (no answer was given, so the report is circulated as the resolution "
                      "provides)",
           "pending": "Not understood: the report is held and not circulated until you confirm"},
    "fr": {"default": "Oui (aucune réponse n'a été donnée ; le rapport est donc communiqué "
                      "comme le prévoit la résolution)",
           "pending": "Réponse non comprise : le rapport est conservé et n'est pas communiqué "
                      "tant que vous ne l'avez pas confirmé"},
    "es": {"default": "Sí (no se dio respuesta, por lo que el informe se distribuye como prevé "
                      "la resolución)",
           "pending": "Respuesta no comprendida: el informe se retiene y no se distribuye hasta "
                      "que usted lo confirme"},
}


def display_value(
    spec: FieldSpec, value: Any, lang: str, registry: StateRegistry
) -> str:
    """A typed value as a person reads it, in ``lang``."""
    base = lang[:2] if lang[:2] in ("en", "fr", "es") else "en"
    if isinstance(value, bool):
        return _YES_NO_TEXT[base][0 if value else 1]
    if isinstance(value, date):
        return format_date(value, base)
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


def summary(
    catalog: FormCatalog, data: FormData, lang: str, registry: StateRegistry
) -> list[tuple[str, str]]:
    """(label, value) pairs of what was filed, in form order, for the acknowledgement."""
    base = lang[:2] if lang[:2] in ("en", "fr", "es") else "en"
    pairs: list[tuple[str, str]] = []
    for fspec in catalog.form(data.kind).fields:
        label = fspec.label.get(base)
        if fspec.name == "circulate":
            if data.circulation == "pending":
                pairs.append((label, _CIRCULATION_TEXT[base]["pending"]))
            elif data.circulation_defaulted:
                pairs.append((label, _CIRCULATION_TEXT[base]["default"]))
            else:
                pairs.append((label, _YES_NO_TEXT[base][0 if data.circulation == "circulate"
                                                         else 1]))
            continue
        if fspec.name not in data.values:
            continue
        pairs.append((label, display_value(fspec, data.values[fspec.name], base, registry)))
    return pairs
