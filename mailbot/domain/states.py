"""The State registry: who may report, and how their names are recognised.

Reports under General Assembly resolution 61/31 come from the 193 Member
States and the two observer States (the Holy See and the State of
Palestine).  Missions name themselves in many ways -- "France", "République
française", "FRA", "FR", "Turkey", "Côte d'Ivoire" typed without accents --
so the forms parser and the intake step both resolve free text to a
:class:`StateInfo` through a :class:`StateRegistry`:

* :meth:`StateRegistry.lookup` is an exact match after :func:`normalise`
  (case, accents, apostrophes, dashes, punctuation and a leading "the" are
  ignored) over the ISO code, every alias and the English, French, Spanish
  and formal names;
* :meth:`StateRegistry.suggest` offers fuzzy "did you mean" candidates for a
  reply to the sender when the exact match fails.

The registry is loaded from ``config/states.toml`` and the focal-point
addresses from ``config/focal_points.toml``; this module only validates the
already-parsed TOML data (:meth:`StateRegistry.from_toml_data`,
:func:`parse_focal_points`).  It performs no file I/O and keeps no state
beyond the immutable registry, so it can be used anywhere in the pipeline.

Entry numbers in error messages count from 1 in file order, so
``state #3`` is the third ``[[state]]`` table of the file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from mailbot.domain.entries import check_address, check_keys, optional_text, quoted, show, tables
from mailbot.domain.languages import default_languages

__all__ = [
    "FocalPoint",
    "RegistryError",
    "SecretariatAddress",
    "StateInfo",
    "StateRegistry",
    "normalise",
    "parse_focal_points",
]

#: Fuzzy-match score (0-100, rapidfuzz WRatio) below which no suggestion is made.
SUGGESTION_CUTOFF = 70.0

# Keys shorter than this (ISO codes, "UK", "USA") are exact-match only: a
# fuzzy scorer finds spurious partial matches in very short strings.
_MIN_FUZZY_KEY_LENGTH = 4

_CODE_RE = re.compile(r"^[A-Z]{3}$")

# Apostrophes are dropped so that "Cote d'Ivoire", "Cote d’Ivoire" and
# "Cote dIvoire" meet; periods are dropped so that "U.S.A." meets "USA".
_DROPPED = frozenset("'’‘ʼ`´′\u02bb.")

_STATE_REQUIRED = ("code", "name", "name_fr", "name_es", "language")
_STATE_OPTIONAL = ("formal_name", "aliases", "observer")
_FOCAL_POINT_KEYS = frozenset({"state", "address", "name"})
_SECRETARIAT_KEYS = frozenset({"address", "name"})



class RegistryError(ValueError):
    """The registry or focal-point data is invalid.

    ``problems`` lists every problem found, each naming the offending entry.
    """

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems: tuple[str, ...] = (
            (problems,) if isinstance(problems, str) else tuple(problems)
        )
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(
                f"  - {problem}" for problem in self.problems
            )
        super().__init__(message)


def __getattr__(name: str) -> frozenset[str]:
    """``WORKING_LANGUAGES``: the languages in which the Secretariat corresponds with
    missions, every language of the table (``config/languages/languages.toml``)."""
    if name == "WORKING_LANGUAGES":
        return frozenset(default_languages().codes)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def normalise(text: str) -> str:
    """Reduce a State name or code to the form used as a lookup key.

    Case-folds, strips accents, drops apostrophes and periods, turns dashes,
    quotes, parentheses, commas and other punctuation into spaces, reads "&"
    as "and", collapses whitespace and drops a leading "the".  Thus
    "Iran (Islamic Republic of)" and "iran, islamic republic of" both become
    "iran islamic republic of", and "COTE D’IVOIRE" becomes "cote divoire".
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    chars: list[str] = []
    for char in decomposed:
        category = unicodedata.category(char)
        if unicodedata.combining(char) or char in _DROPPED or category == "Cf":
            continue
        if char == "&":
            chars.append(" and ")
        elif category[0] in "PSZC":
            chars.append(" ")
        else:
            chars.append(char)
    result = " ".join("".join(chars).split())
    if result.startswith("the "):
        result = result[4:]
    return result


@dataclass(frozen=True)
class StateInfo:
    """One Member State or observer State as the desk knows it."""

    code: str
    """ISO 3166-1 alpha-3 code, e.g. ``"FRA"``."""
    name: str
    """UN short name in English."""
    name_fr: str
    """UN short name in French."""
    name_es: str
    """UN short name in Spanish."""
    formal_name: str | None = None
    """UN formal name in English, if different from the short name."""
    aliases: tuple[str, ...] = ()
    """Other names it may be given: alpha-2 code, former and common names."""
    language: str = "en"
    """Working language of correspondence with the mission."""
    observer: bool = False
    """True for the non-member observer States."""

    def display_name(self, lang: str) -> str:
        """The short name in ``lang`` (``fr``/``es``), English otherwise."""
        base = lang.strip().lower().replace("_", "-").split("-", 1)[0]
        if base == "fr":
            return self.name_fr
        if base == "es":
            return self.name_es
        return self.name

    def names(self) -> tuple[str, ...]:
        """Every text this State is recognised by, code first."""
        names = [self.code, self.name, self.name_fr, self.name_es]
        if self.formal_name:
            names.append(self.formal_name)
        names.extend(self.aliases)
        return tuple(names)


class StateRegistry:
    """An immutable, indexed set of States.

    Lookups are dictionary look-ups on normalised keys; suggestions run a
    fuzzy match over the same keys.  Iteration follows the input order.
    """

    def __init__(self, states: Iterable[StateInfo]) -> None:
        self._states: tuple[StateInfo, ...] = tuple(states)
        by_code, by_key, problems = _index(list(enumerate(self._states, start=1)))
        if problems:
            raise RegistryError(problems)
        self._by_code = by_code
        self._by_key = by_key
        fuzzy = [(key, code) for key, code in by_key.items() if len(key) >= _MIN_FUZZY_KEY_LENGTH]
        self._fuzzy_keys: list[str] = [key for key, _ in fuzzy]
        self._fuzzy_codes: list[str] = [code for _, code in fuzzy]

    @classmethod
    def from_toml_data(cls, data: Mapping[str, Any]) -> StateRegistry:
        """Validate parsed ``states.toml`` data and build the registry.

        Raises :class:`RegistryError` listing every problem: unknown or
        missing keys, wrong types, a code that is not three capital letters,
        an unsupported language, and codes or names (after normalisation)
        claimed by more than one State.
        """
        if not isinstance(data, Mapping):
            raise RegistryError("State registry data must be a table")
        problems: list[str] = []
        unknown_top = sorted(set(data) - {"state"})
        if unknown_top:
            problems.append(f"unknown top-level key(s) {quoted(unknown_top)}; expected [[state]]")
        entries = data.get("state")
        if entries is None:
            raise RegistryError([*problems, "no [[state]] entries"])
        if not isinstance(entries, list) or not entries:
            raise RegistryError([*problems, "'state' must be a non-empty array of tables"])

        numbered: list[tuple[int, StateInfo]] = []
        for index, entry in enumerate(entries, start=1):
            info, entry_problems = _parse_state(index, entry)
            problems.extend(entry_problems)
            if info is not None:
                numbered.append((index, info))
        problems.extend(_index(numbered)[2])
        if problems:
            raise RegistryError(problems)
        return cls(info for _, info in numbered)

    def get(self, code: str) -> StateInfo:
        """The State with this ISO alpha-3 code (any case); KeyError if none."""
        try:
            return self._by_code[code.strip().upper()]
        except KeyError:
            raise KeyError(f"unknown State code {code!r}") from None

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and code.strip().upper() in self._by_code

    def __iter__(self) -> Iterator[StateInfo]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)

    def lookup(self, text: str) -> StateInfo | None:
        """The State that ``text`` names exactly (after normalisation), if any.

        Matches the alpha-3 code, the alpha-2 code and other aliases, and the
        English, French, Spanish and formal names.  Pass the content of a
        State field, not free prose: short words such as "and" or "can" are
        also ISO codes.
        """
        key = normalise(text)
        if not key:
            return None
        code = self._by_key.get(key)
        return None if code is None else self._by_code[code]

    def suggest(self, text: str, limit: int = 3) -> list[StateInfo]:
        """Up to ``limit`` distinct States that ``text`` most likely means.

        An exact match comes first; the rest are ranked by rapidfuzz WRatio
        over every normalised name and alias, ignoring scores below
        :data:`SUGGESTION_CUTOFF`.
        """
        if limit <= 0:
            return []
        query = normalise(text)
        if not query:
            return []
        result: list[StateInfo] = []
        seen: set[str] = set()
        exact = self._by_key.get(query)
        if exact is not None:
            result.append(self._by_code[exact])
            seen.add(exact)
        matches = process.extract(
            query,
            self._fuzzy_keys,
            scorer=fuzz.WRatio,
            score_cutoff=SUGGESTION_CUTOFF,
            limit=None,
        )
        for _key, _score, position in matches:
            if len(result) >= limit:
                break
            code = self._fuzzy_codes[position]
            if code not in seen:
                seen.add(code)
                result.append(self._by_code[code])
        return result[:limit]


@dataclass(frozen=True)
class FocalPoint:
    """An address a State's permanent mission registered to report from."""

    state: str
    """ISO alpha-3 code of the State."""
    address: str
    """Lower-cased addr-spec, e.g. ``fp.fra@example.test``."""
    name: str | None = None
    """Optional display name."""


@dataclass(frozen=True)
class SecretariatAddress:
    """An address of the Secretariat itself (officers, the desk mailbox)."""

    address: str
    """Lower-cased addr-spec."""
    name: str | None = None
    """Optional display name."""


def parse_focal_points(
    data: Mapping[str, Any], registry: StateRegistry
) -> tuple[list[FocalPoint], list[SecretariatAddress]]:
    """Validate parsed ``focal_points.toml`` data against ``registry``.

    Returns the ``[[focal_point]]`` and ``[[secretariat]]`` entries in file
    order, with addresses lower-cased and State codes upper-cased.  Raises
    :class:`RegistryError` listing every problem (unknown State, malformed
    or repeated address, unknown or missing keys), each naming its entry,
    e.g. "unknown State 'XYZ' in focal_point #3".  A State may register
    several addresses; an address may appear only once in the whole file.
    """
    if not isinstance(data, Mapping):
        raise RegistryError("focal-point data must be a table")
    problems: list[str] = []
    unknown_top = sorted(set(data) - {"focal_point", "secretariat"})
    if unknown_top:
        problems.append(
            f"unknown top-level key(s) {quoted(unknown_top)}; "
            "expected [[focal_point]] and [[secretariat]]"
        )
    focal_points: list[FocalPoint] = []
    secretariat: list[SecretariatAddress] = []
    first_use: dict[str, str] = {}

    for label, entry in tables(data, "focal_point", problems):
        point = _focal_point(label, entry, registry, first_use, problems)
        if point is not None:
            focal_points.append(point)

    for label, entry in tables(data, "secretariat", problems):
        if not check_keys(entry, label, _SECRETARIAT_KEYS, ("address",), problems):
            continue
        address = check_address(entry["address"], label, first_use, problems)
        name_ok, name = optional_text(entry.get("name"), "name", label, problems)
        if address is not None and name_ok:
            secretariat.append(SecretariatAddress(address, name))

    if problems:
        raise RegistryError(problems)
    return focal_points, secretariat


def _focal_point(
    label: str, entry: Mapping[str, Any], registry: StateRegistry, first_use: dict[str, str],
    problems: list[str],
) -> FocalPoint | None:
    """One [[focal_point]] table checked; None when it has a problem."""
    if not check_keys(entry, label, _FOCAL_POINT_KEYS, ("state", "address"), problems):
        return None
    raw_state = entry["state"]
    code = raw_state.strip().upper() if isinstance(raw_state, str) else None
    if code is None or code not in registry:
        problems.append(f"unknown State {show(raw_state)} in {label}")
    address = check_address(entry["address"], label, first_use, problems)
    name_ok, name = optional_text(entry.get("name"), "name", label, problems)
    if code is not None and code in registry and address is not None and name_ok:
        return FocalPoint(code, address, name)
    return None


# --------------------------------------------------------------------------
# Helpers


def _index(
    numbered: Sequence[tuple[int, StateInfo]],
) -> tuple[dict[str, StateInfo], dict[str, str], list[str]]:
    """Index States by code and normalised key, reporting collisions."""
    by_code: dict[str, StateInfo] = {}
    code_entry: dict[str, int] = {}
    by_key: dict[str, str] = {}
    key_entry: dict[str, int] = {}
    problems: list[str] = []
    for index, info in numbered:
        label = f"state #{index} ({info.code})"
        if info.code in by_code:
            problems.append(
                f"duplicate code {info.code!r} in {label}; already used by "
                f"state #{code_entry[info.code]}"
            )
            continue
        if not _CODE_RE.match(info.code):
            problems.append(f"bad code {info.code!r} in {label}: expected three capital letters")
        by_code[info.code] = info
        code_entry[info.code] = index
        for text in info.names():
            key = normalise(text)
            if not key:
                problems.append(f"name {text!r} in {label} is empty once normalised")
                continue
            owner = by_key.get(key)
            if owner is None:
                by_key[key] = info.code
                key_entry[key] = index
            elif owner != info.code:
                problems.append(
                    f"name {text!r} in {label} is already used by "
                    f"state #{key_entry[key]} ({owner}) (both normalise to {key!r})"
                )
    return by_code, by_key, problems


def _parse_state(index: int, entry: object) -> tuple[StateInfo | None, list[str]]:
    """Check one [[state]] table; return the StateInfo if it is sound."""
    if not isinstance(entry, Mapping):
        return None, [f"state #{index} is not a table"]
    raw_code = entry.get("code")
    label = f"state #{index} ({raw_code if isinstance(raw_code, str) else '?'})"
    problems: list[str] = []
    allowed = set(_STATE_REQUIRED) | set(_STATE_OPTIONAL)
    unknown = sorted(set(entry) - allowed)
    if unknown:
        problems.append(f"unknown key(s) {quoted(unknown)} in {label}")
    missing = [key for key in _STATE_REQUIRED if key not in entry]
    if missing:
        problems.append(f"missing key(s) {quoted(missing)} in {label}")

    texts = _required_texts(entry, label, problems)
    _, formal = optional_text(entry.get("formal_name"), "formal_name", label, problems)
    aliases = _aliases(entry.get("aliases", []), label, problems)
    observer = entry.get("observer", False)
    if not isinstance(observer, bool):
        problems.append(f"observer in {label} must be true or false, got {show(observer)}")

    if problems:
        return None, problems
    info = StateInfo(
        code=texts["code"],
        name=texts["name"],
        name_fr=texts["name_fr"],
        name_es=texts["name_es"],
        formal_name=formal,
        aliases=tuple(aliases),
        language=texts["language"],
        observer=bool(observer),
    )
    return info, []


def _required_texts(entry: Mapping[str, Any], label: str, problems: list[str]) -> dict[str, str]:
    """The required strings of a [[state]] table that are sound, by key; code and language checked."""
    texts: dict[str, str] = {}
    for key in _STATE_REQUIRED:
        if key not in entry:
            continue
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key} in {label} must be a non-empty string, got {show(value)}")
        elif value != value.strip():
            problems.append(f"{key} {value!r} in {label} has surrounding whitespace")
        else:
            texts[key] = value
    code = texts.get("code")
    if code is not None and not _CODE_RE.match(code):
        problems.append(
            f"bad code {code!r} in {label}: expected an ISO 3166-1 alpha-3 code "
            "(three capital letters)"
        )
    language = texts.get("language")
    working = default_languages().codes
    if language is not None and language not in working:
        problems.append(
            f"bad language {language!r} in {label}: expected one of {', '.join(sorted(working))}"
        )
    return texts


def _aliases(raw_aliases: object, label: str, problems: list[str]) -> list[str]:
    aliases: list[str] = []
    if not isinstance(raw_aliases, list):
        problems.append(f"aliases in {label} must be an array of strings")
        return aliases
    for alias in raw_aliases:
        if not isinstance(alias, str) or not alias.strip():
            problems.append(f"alias {show(alias)} in {label} must be a non-empty string")
        else:
            aliases.append(alias.strip())
    return aliases
