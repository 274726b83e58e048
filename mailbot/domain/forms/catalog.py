"""The forms catalog: ``config/forms.toml`` checked, and the indexes that recognise a form.

Loading (at start-up, by the service's registry) validates the parsed TOML
with :meth:`FormCatalog.from_toml_data` and lists every problem at once.
Reading (``reading``) then asks the catalog, line by line, whether a line
is a form's marker, a field's label, an instruction or hint to skip, or
the end of the form.  Texts may be given in every language of the language
table (``label``, ``label_fr``, ``label_es``, ...); the words the reader
needs in every language (closing formulas, disclaimers, reply headers,
placeholder hints) come from the table too, as :class:`ReadingWords`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mailbot.domain.forms.folding import fold, label_end
from mailbot.domain.forms.specs import (
    Choice,
    FieldSpec,
    FieldType,
    FormCatalogError,
    FormKind,
    FormSpec,
    LocalText,
)
from mailbot.domain.languages import Languages, default_languages

__all__ = ["FormCatalog", "ReadingWords", "reading_words", "strip_numbering"]

_TOP_KEYS = {"forms"}
_TOP_TEXTS = ("instructions", "end_marker")
_FORM_TEXTS = ("marker", "title")
_FORM_KEYS = {"paragraph", "fields", "require_one_of"}
_FIELD_TEXTS = ("label", "help")
_FIELD_KEYS = {"name", "type", "required", "choices"}
_CHOICE_KEYS = {"key", "aliases"}

_NUMBERING = re.compile(
    r"^\s*(?:[|>*•·\-–]+\s*|\*\*|#+\s*|\(?\d{1,2}\s*[.)]\s*|\d{1,2}\s+(?=\D)|\([a-zA-Z]\)\s*"
    r"|[a-zA-Z][.)]\s+|\(?[ivxIVX]{1,4}[.)]\s+)"
)
_AFTER_LABEL = re.compile(
    r"^\s*\**\s*(?P<q>[?？])?\s*\**\s*(?:\[[^\]]*\]|\([^)]*\))?\s*\**\s*(?P<sep>[:：|])?"
    r"[\s:|*]*"
)


def strip_numbering(line: str) -> str:
    """``line`` without list bullets, numbering, quoting bars and heading marks before a label."""
    prev = None
    while prev != line:
        prev = line
        line = _NUMBERING.sub("", line, count=1)
    return line


@dataclass(frozen=True)
class ReadingWords:
    """Words of every written language that tell the reader where a form's text ends."""

    placeholder_hints: frozenset[str]
    closings: frozenset[str]
    disclaimers: tuple[str, ...]
    reply_header: re.Pattern[str]


def reading_words(languages: Languages) -> ReadingWords:
    """The reader's words, folded, from every written language of ``languages``."""
    headers = "|".join(languages.collect("forms", "words", "reply_headers"))
    originals = "|".join(languages.collect("forms", "words", "original_message"))
    return ReadingWords(
        placeholder_hints=frozenset(
            fold(t) for t in languages.collect("forms", "words", "placeholder_hints")
        ),
        closings=frozenset(fold(t) for t in languages.collect("forms", "words", "closings")),
        disclaimers=tuple(fold(t) for t in languages.collect("forms", "words", "disclaimers")),
        reply_header=re.compile(
            rf"^\s*(?:{headers}|-{{2,}} ?(?:{originals}) ?-{{2,}})\s*$", re.IGNORECASE
        ),
    )


class FormCatalog:
    """Every form the desk reads, with the indexes that recognise their labels."""

    def __init__(
        self,
        forms: Mapping[FormKind, FormSpec],
        instructions: LocalText,
        end_marker: LocalText,
        languages: Languages | None = None,
    ) -> None:
        self.forms: dict[FormKind, FormSpec] = dict(forms)
        self.instructions = instructions
        self.end_marker = end_marker
        self.languages = languages if languages is not None else default_languages()
        self.words = reading_words(self.languages)
        # folded label -> {kind: field name}; the field name itself is a label too
        self._labels: dict[str, dict[FormKind, str]] = {}
        self._label_lang: dict[str, str] = {}
        self._markers: dict[str, FormKind] = {}
        self._marker_lang: dict[str, str] = {}
        self._ends: set[str] = {fold(t) for t in end_marker.all()}
        self._hints: set[str] = set()
        self._skip: set[str] = {fold(t) for t in instructions.all()}
        for kind, spec in self.forms.items():
            self._index_markers(kind, spec)
            self._index_fields(kind, spec)
        self._by_first: dict[str, list[str]] = {}
        for key in sorted(self._labels, key=len, reverse=True):
            self._by_first.setdefault(key.split(" ", 1)[0], []).append(key)

    def _index_markers(self, kind: FormKind, spec: FormSpec) -> None:
        for lang, text in spec.marker.texts:
            self._markers[fold(text)] = kind
            self._marker_lang[fold(text)] = lang
            head = re.split(r"\s+[—–-]\s+", text, maxsplit=1)[0]
            if len(fold(head).split()) >= 2:
                self._markers.setdefault(fold(head), kind)
                self._marker_lang.setdefault(fold(head), lang)
        for lang, text in spec.title.texts:
            self._markers.setdefault(fold(text), kind)
            self._marker_lang.setdefault(fold(text), lang)

    def _index_fields(self, kind: FormKind, spec: FormSpec) -> None:
        for f in spec.fields:
            keys = [(lang, fold(t)) for lang, t in f.label.texts]
            keys.append(("", fold(f.name)))
            for lang, key in keys:
                self._labels.setdefault(key, {})[kind] = f.name
                if lang:
                    self._label_lang.setdefault(key, lang)
            self._hints.update(fold(t) for t in f.help.all())

    @classmethod
    def from_toml_data(
        cls, data: Mapping[str, Any], languages: Languages | None = None
    ) -> FormCatalog:
        """Validate parsed ``forms.toml`` data; raise :class:`FormCatalogError` listing all.

        Texts are read in every language of ``languages`` (the repository's
        language table when None).
        """
        if not isinstance(data, Mapping):
            raise FormCatalogError(["the forms definition must be a table"])
        table = languages if languages is not None else default_languages()
        parse = _Parse(table.codes)
        unknown = sorted(set(data) - _TOP_KEYS - parse.text_keys(_TOP_TEXTS))
        if unknown:
            parse.problems.append(f"unknown top-level key(s) {', '.join(unknown)}")
        instructions = parse.local_text(data, "instructions", "top level")
        end_marker = parse.local_text(data, "end_marker", "top level")
        raw_forms = data.get("forms")
        if not isinstance(raw_forms, Mapping):
            raise FormCatalogError([*parse.problems, "missing [forms.<kind>] tables"])
        forms = parse.forms(raw_forms)
        parse.problems.extend(_label_collisions(forms))
        if parse.problems:
            raise FormCatalogError(parse.problems)
        return cls(forms, instructions, end_marker, table)

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
        key = fold(line)
        kind = self._markers.get(key)
        return None if kind is None else (kind, self._marker_lang.get(key, "en"))

    def is_end(self, line: str) -> bool:
        return fold(line) in self._ends

    def is_skippable(self, line: str) -> bool:
        """Instruction lines and bare hints printed by a blank form."""
        key = fold(line)
        if key in self._skip:
            return True
        stripped = line.strip()
        return stripped.startswith("[") and stripped.endswith("]") and self.is_hint(stripped[1:-1])

    def is_hint(self, text: str) -> bool:
        if not text.strip():
            return False  # "[ ]" is an empty tick box, not a placeholder
        key = fold(text)
        return key in self._hints or key in self.words.placeholder_hints

    def match_label(
        self, line: str, kind: FormKind | None = None
    ) -> tuple[dict[FormKind, str], str, str] | None:
        """If ``line`` starts with a field label: ({kind: field}, rest of line, language)."""
        body = strip_numbering(line)
        folded = fold(body)
        if not folded:
            return None
        for key in self._by_first.get(folded.split(" ", 1)[0], ()):
            if not folded.startswith(key) or (len(folded) > len(key) and folded[len(key)] != " "):
                continue
            owners = self._labels[key]
            if kind is not None and kind not in owners:
                continue
            end = label_end(body, folded, len(key))
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


class _Parse:
    """One validation of ``forms.toml``: the languages its texts may have and the problems found."""

    def __init__(self, codes: tuple[str, ...]) -> None:
        self.codes = codes
        self.problems: list[str] = []

    def text_keys(self, bases: Iterable[str]) -> set[str]:
        keys: set[str] = set()
        for base in bases:
            keys.add(base)
            keys.update(f"{base}_{lang}" for lang in self.codes)
        return keys

    def local_text(
        self, table: Mapping[str, Any], base: str, where: str, required: bool = True
    ) -> LocalText:
        texts: list[tuple[str, str]] = []
        for lang in self.codes:
            for key in ((base, f"{base}_en") if lang == "en" else (f"{base}_{lang}",)):
                if key not in table:
                    continue
                value = table[key]
                if not isinstance(value, str) or not value.strip():
                    self.problems.append(f"{where}: {key} must be a non-empty string")
                elif lang not in dict(texts):
                    texts.append((lang, value.strip()))
        if required and "en" not in dict(texts):
            self.problems.append(f"{where}: missing {base} (the English text)")
        return LocalText(tuple(texts))

    def forms(self, raw_forms: Mapping[str, Any]) -> dict[FormKind, FormSpec]:
        forms: dict[FormKind, FormSpec] = {}
        for name, table in raw_forms.items():
            try:
                kind = FormKind(name)
            except ValueError:
                self.problems.append(
                    f"form {name!r}: unknown kind, expected one of "
                    f"{', '.join(k.value for k in FormKind)}"
                )
                continue
            spec = self.form(kind, table)
            if spec is not None:
                forms[kind] = spec
        for kind in FormKind:
            if kind.value not in raw_forms:
                self.problems.append(f"form {kind.value!r}: missing [forms.{kind.value}]")
        return forms

    def form(self, kind: FormKind, table: Any) -> FormSpec | None:
        where = f"form {kind.value!r}"
        if not isinstance(table, Mapping):
            self.problems.append(f"{where}: must be a table")
            return None
        unknown = sorted(set(table) - _FORM_KEYS - self.text_keys(_FORM_TEXTS))
        if unknown:
            self.problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        marker = self.local_text(table, "marker", where)
        title = self.local_text(table, "title", where)
        paragraph = table.get("paragraph", "")
        if not isinstance(paragraph, str):
            self.problems.append(f"{where}: paragraph must be a string")
            paragraph = ""
        raw_fields = table.get("fields")
        if not isinstance(raw_fields, list) or not raw_fields:
            self.problems.append(f"{where}: missing [[forms.{kind.value}.fields]]")
            return None
        fields = self.fields(where, raw_fields)
        groups = self.groups(where, table.get("require_one_of", []), {f.name for f in fields})
        return FormSpec(kind, paragraph, marker, title, fields, groups)

    def fields(self, where: str, raw_fields: list[Any]) -> tuple[FieldSpec, ...]:
        fields: list[FieldSpec] = []
        seen: set[str] = set()
        for number, entry in enumerate(raw_fields, start=1):
            spec = self.field(f"{where} field #{number}", entry)
            if spec is None:
                continue
            if spec.name in seen:
                self.problems.append(f"{where} field {spec.name!r}: defined twice")
                continue
            seen.add(spec.name)
            fields.append(spec)
        return tuple(fields)

    def groups(self, where: str, raw_groups: Any, seen: set[str]) -> tuple[tuple[str, ...], ...]:
        if not isinstance(raw_groups, list) or not all(
            isinstance(g, list) and g and all(isinstance(n, str) for n in g) for g in raw_groups
        ):
            self.problems.append(f"{where}: require_one_of must be a list of lists of field names")
            return ()
        for group in raw_groups:
            for name in group:
                if name not in seen:
                    self.problems.append(f"{where}: require_one_of names unknown field {name!r}")
        return tuple(tuple(group) for group in raw_groups)

    def field(self, where: str, entry: Any) -> FieldSpec | None:
        if not isinstance(entry, Mapping):
            self.problems.append(f"{where}: must be a table")
            return None
        name = entry.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            self.problems.append(
                f"{where}: name must be lower-case letters, digits and '_', got {name!r}"
            )
            return None
        where = f"{where.rsplit(' field ', 1)[0]} field {name!r}"
        unknown = sorted(set(entry) - _FIELD_KEYS - self.text_keys(_FIELD_TEXTS))
        if unknown:
            self.problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        try:
            ftype = FieldType(str(entry.get("type")))
        except ValueError:
            self.problems.append(
                f"{where}: type {entry.get('type')!r} is not one of "
                f"{', '.join(t.value for t in FieldType)}"
            )
            return None
        required = entry.get("required", False)
        if not isinstance(required, bool):
            self.problems.append(f"{where}: required must be true or false")
            required = False
        label = self.local_text(entry, "label", where)
        help_text = self.local_text(entry, "help", where, required=False)
        choices = self.choices(where, ftype, entry.get("choices"))
        return FieldSpec(name, ftype, required, label, help_text, choices)

    def choices(self, where: str, ftype: FieldType, raw_choices: Any) -> tuple[Choice, ...]:
        if ftype is not FieldType.CHOICE:
            if raw_choices is not None:
                self.problems.append(f"{where}: choices are allowed only for type = \"choice\"")
            return ()
        if not isinstance(raw_choices, list) or not raw_choices:
            self.problems.append(f"{where}: a choice field needs a non-empty list of choices")
            return ()
        choices: list[Choice] = []
        for number, raw in enumerate(raw_choices, start=1):
            choice = self.choice(f"{where} choice #{number}", raw)
            if choice is not None:
                choices.append(choice)
        keys = [c.key for c in choices]
        if len(set(keys)) != len(keys):
            self.problems.append(f"{where}: choice keys must be unique")
        return tuple(choices)

    def choice(self, where: str, raw: Any) -> Choice | None:
        if not isinstance(raw, Mapping):
            self.problems.append(f"{where}: must be a table")
            return None
        key = raw.get("key")
        if not isinstance(key, str) or not key:
            self.problems.append(f"{where}: missing key")
            return None
        unknown = sorted(set(raw) - _CHOICE_KEYS - self.text_keys(["label"]))
        if unknown:
            self.problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        aliases = raw.get("aliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            self.problems.append(f"{where}: aliases must be a list of strings")
            aliases = []
        return Choice(key, self.local_text(raw, "label", where), tuple(aliases))


def _label_collisions(forms: Mapping[FormKind, FormSpec]) -> list[str]:
    owner: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    for kind, spec in forms.items():
        for f in spec.fields:
            for text in (*f.label.all(), f.name):
                key = fold(text)
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
