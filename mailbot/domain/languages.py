"""The languages of the desk: one table, and each language's words as data.

Everything that reads or writes a language asks here: the forms (labels in
any listed language, messages, yes/no words, month names), the renderer
(dates, sizes, session ordinals, "of <State>") and the service (which
language a State's mail is written in).  The data lives in
``config/languages/``: ``languages.toml`` lists the languages (code, name,
direction, fallback) and ``<code>.toml`` holds one language's words.  A
language is *written* when it has its own file; any other is written in its
fallback.  Adding a language is data and templates, no code.

:meth:`Languages.from_toml_data` validates data already parsed;
:func:`load_languages` reads a directory (the one place this module touches
files) and :func:`default_languages` reads the repository's, once.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_DIR",
    "Language",
    "LanguageError",
    "Languages",
    "base_code",
    "default_languages",
    "load_languages",
]

#: ``config/languages/`` of the repository.
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "config" / "languages"

_LANGUAGE_KEYS = frozenset({"code", "name", "direction", "fallback", "dateparser"})


class LanguageError(ValueError):
    """The language table or a language's data is invalid."""


def base_code(lang: str) -> str:
    """``fr`` for ``fr``, ``FR``, ``fr-CA`` or ``fr_CA``."""
    return lang.strip().lower().replace("_", "-").split("-", 1)[0]


@dataclass(frozen=True, eq=False)
class Language:
    """One language of the table, with its own words (empty when it has no file)."""

    code: str
    name: str
    direction: str
    fallback: str | None
    dateparser: bool
    data: Mapping[str, Any]

    @property
    def written(self) -> bool:
        return bool(self.data)


class Languages:
    """The table of languages and their words; compared and hashed by identity."""

    def __init__(self, languages: Sequence[Language], default: str) -> None:
        self._by_code = {lang.code: lang for lang in languages}
        self.default = default

    @classmethod
    def from_toml_data(
        cls, table: Mapping[str, Any], words: Mapping[str, Mapping[str, Any]]
    ) -> Languages:
        """The table from ``languages.toml`` and each language's ``<code>.toml`` data."""
        entries = table.get("language")
        if not isinstance(entries, list) or not entries:
            raise LanguageError("languages.toml: no [[language]] tables")
        languages = [_language(entry, words) for entry in entries]
        codes = {lang.code for lang in languages}
        default = table.get("default")
        if default not in codes or not words.get(str(default)):
            raise LanguageError(f"languages.toml: default {default!r} is not a written language")
        for lang in languages:
            if lang.fallback is not None and lang.fallback not in codes:
                raise LanguageError(f"language {lang.code!r}: unknown fallback {lang.fallback!r}")
        return cls(languages, str(default))

    # -- the table --------------------------------------------------------------

    def __iter__(self) -> Iterator[Language]:
        return iter(self._by_code.values())

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    @property
    def codes(self) -> tuple[str, ...]:
        """Every language of the table, in table order."""
        return tuple(self._by_code)

    @property
    def written(self) -> tuple[str, ...]:
        """The languages that have their own words, in table order."""
        return tuple(lang.code for lang in self if lang.written)

    def language(self, code: str) -> Language:
        return self._by_code[code]

    def resolve(self, lang: str | None) -> str:
        """The written language ``lang`` is written in: itself, else its fallback, else default."""
        code = base_code(lang or "")
        seen: set[str] = set()
        while code in self._by_code and code not in seen:
            entry = self._by_code[code]
            if entry.written:
                return code
            seen.add(code)
            code = entry.fallback or self.default
        return self.default

    # -- the words --------------------------------------------------------------

    def words(self, lang: str | None) -> Mapping[str, Any]:
        """All the words of the language ``lang`` is written in."""
        return self._by_code[self.resolve(lang)].data

    def text(self, lang: str | None, *path: str) -> Any:
        """The value at ``path`` (e.g. ``"forms", "yes"``) for ``lang``, from its fallback if missing."""
        code = self.resolve(lang)
        seen: set[str] = set()
        while code not in seen:
            seen.add(code)
            found = _lookup(self._by_code[code].data, path)
            if found is not None:
                return found
            code = self.resolve(self._by_code[code].fallback or self.default)
        raise KeyError(f"no language has {'.'.join(path)}")

    def collect(self, *path: str) -> tuple[Any, ...]:
        """The lists at ``path`` of every written language, joined in table order."""
        out: list[Any] = []
        for lang in self:
            found = _lookup(lang.data, path)
            if isinstance(found, list):
                out.extend(found)
        return tuple(out)


def _lookup(data: Mapping[str, Any], path: Sequence[str]) -> Any:
    found: Any = data
    for key in path:
        if not isinstance(found, Mapping) or key not in found:
            return None
        found = found[key]
    return found


def _language(entry: Any, words: Mapping[str, Mapping[str, Any]]) -> Language:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("code"), str):
        raise LanguageError(f"languages.toml: a [[language]] needs a code, got {entry!r}")
    code = entry["code"]
    unknown = sorted(set(entry) - _LANGUAGE_KEYS)
    if unknown:
        raise LanguageError(f"language {code!r}: unknown key(s) {', '.join(unknown)}")
    direction = entry.get("direction", "ltr")
    if direction not in ("ltr", "rtl"):
        raise LanguageError(f"language {code!r}: direction must be \"ltr\" or \"rtl\"")
    fallback = entry.get("fallback")
    return Language(
        code=code,
        name=str(entry.get("name", code)),
        direction=direction,
        fallback=str(fallback) if fallback is not None else None,
        dateparser=bool(entry.get("dateparser", False)),
        data=dict(words.get(code, {})),
    )


def load_languages(directory: Path | str) -> Languages:
    """The table in ``directory``: ``languages.toml`` and each language's ``<code>.toml``."""
    folder = Path(directory)
    with open(folder / "languages.toml", "rb") as fh:
        table = tomllib.load(fh)
    words: dict[str, dict[str, Any]] = {}
    for entry in table.get("language", []):
        code = entry.get("code") if isinstance(entry, Mapping) else None
        path = folder / f"{code}.toml"
        if isinstance(code, str) and path.is_file():
            with open(path, "rb") as fh:
                words[code] = tomllib.load(fh)
    return Languages.from_toml_data(table, words)


@lru_cache(maxsize=1)
def default_languages() -> Languages:
    """The repository's table (``config/languages/``), read once."""
    return load_languages(DEFAULT_DIR)
