"""Typed values: what the text of a field means (dates, yes/no, choices, references).

``validation`` calls these on each field of a :class:`RawForm`; the words
they read (month names, yes and no, phrases about circulation, words that
name an organization) come from every written language of the language
table, so a State may answer in any of them.  Dates are also *written*
here (:func:`format_date`), in one language, for replies and mails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from mailbot.domain.forms.folding import fold
from mailbot.domain.forms.specs import REFERENCE_RE, FieldSpec
from mailbot.domain.languages import Languages, default_languages

__all__ = [
    "AnswerWords",
    "answer_words",
    "checked_items",
    "choice_key",
    "find_references",
    "format_date",
    "looks_like_org",
    "parse_date",
    "parse_yesno",
]


def find_references(text: str) -> list[str]:
    """Incident references in ``text`` (e.g. a subject tag ``[DCM-2026-0007]``), in order."""
    return list(dict.fromkeys(REFERENCE_RE.findall(text)))


# ---------------------------------------------------------------------------
# Dates

_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_NUMERIC_DATE = re.compile(r"^(\d{1,2})\s*([/.\-])\s*(\d{1,2})\s*\2\s*(\d{4})$")
_WORD_DATE = re.compile(
    r"^(?:[^\W\d_]+,?\s+)?(?:\d{1,2}(?:st|nd|rd|th|er|º|°)?\.?\s+(?:de\s+)?[^\W\d_]+\.?,?\s+"
    r"(?:de\s+)?\d{4}|[^\W\d_]+\.?\s+\d{1,2}(?:st|nd|rd|th)?,?\s+\d{4})$",
    re.IGNORECASE,
)
_DAY = re.compile(r"^(\d{1,2})[^\W\d_]*$")
_DATEPARSER_SETTINGS: dict[str, Any] = {
    "STRICT_PARSING": True,
    "REQUIRE_PARTS": ["day", "month", "year"],
    "PARSERS": ["absolute-time"],
    "RELATIVE_BASE": datetime(2000, 1, 1),
    "PREFER_DAY_OF_MONTH": "first",
    "DATE_ORDER": "DMY",
}


@dataclass(frozen=True)
class _DateWords:
    """Month words of every written language, and who reads a date in words in each."""

    month_words: frozenset[str]  # folded names, their first three and four letters, aliases
    dateparser_languages: tuple[str, ...]  # read by the dateparser library
    own_months: dict[str, int]  # folded month word -> month, for the other languages


def _month_words(names: list[str], aliases: list[str]) -> set[str]:
    return {fold(w) for n in names for w in (n, n[:3], n[:4], *aliases)}


@lru_cache(maxsize=8)
def _date_words(languages: Languages) -> _DateWords:
    words: set[str] = set()
    own: dict[str, int] = {}
    for lang in languages:
        if not lang.written:
            continue
        names = list(lang.data["dates"]["months"])
        words |= _month_words(names, list(lang.data["dates"].get("month_aliases", [])))
        if not lang.dateparser:
            for number, name in enumerate(names, 1):
                own.update({fold(w): number for w in (name, name[:3], name[:4])})
    parsed_by_library = tuple(lang.code for lang in languages if lang.written and lang.dateparser)
    return _DateWords(frozenset(words), parsed_by_library, own)


def format_date(value: date, lang: str, languages: Languages | None = None) -> str:
    """``20 November 2026`` in English, ``20 novembre 2026``, ``20 de noviembre de 2026``."""
    table = languages if languages is not None else default_languages()
    dates = table.words(lang)["dates"]
    day = dates.get("first_day", "1") if value.day == 1 else str(value.day)
    month = dates["months"][value.month - 1]
    return str(dates["date"]).format(day=day, month=month, year=value.year)


def _numeric_date(m: re.Match[str]) -> date | tuple[str, tuple[date, ...]]:
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


def _date_by_month_names(words: list[str], own_months: dict[str, int]) -> date | None:
    """``20 <month> 2026`` read with the month names of a language dateparser does not know."""
    months = [own_months[w] for w in words if w in own_months]
    days = [int(m.group(1)) for w in words[:-1] if (m := _DAY.match(w))]
    if len(months) != 1 or len(days) != 1 or not re.fullmatch(r"\d{4}", words[-1]):
        return None
    try:
        return date(int(words[-1]), months[0], days[0])
    except ValueError:
        return None


def _date_in_words(value: str, vocabulary: _DateWords) -> date | None:
    words = fold(value).split()
    if not any(w in vocabulary.month_words for w in words):
        return None
    if any(w in vocabulary.own_months for w in words):
        return _date_by_month_names(words, vocabulary.own_months)
    # imported here: a date in words is rare, and the parse-ahead worker, which reads
    # forms but never checks them, starts a twentieth of a second sooner without it
    import dateparser

    parsed = dateparser.parse(
        value, languages=list(vocabulary.dateparser_languages), settings=_DATEPARSER_SETTINGS
    )
    return parsed.date() if isinstance(parsed, datetime) else None


def parse_date(
    text: str, languages: Languages | None = None
) -> date | tuple[str, tuple[date, ...]]:
    """A date, or (error code, candidate dates) with code ``bad_date`` or ``ambiguous_date``.

    Accepted: ``2026-11-20``, ``20/11/2026``, ``20.11.2026``, ``20-11-2026`` and
    month names in every written language of ``languages``.  Day and month in
    figures that could be either (``05/06/2026``) are ambiguous unless both
    readings are the same day.  Relative dates ("yesterday") are refused.
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
        return _numeric_date(m)
    if _WORD_DATE.match(value):
        table = languages if languages is not None else default_languages()
        found = _date_in_words(value, _date_words(table))
        if found is not None:
            return found
    return ("bad_date", ())


# ---------------------------------------------------------------------------
# Yes or no, ticked boxes, choices

_CHECK_MARK = r"(?:\[\s*[xX✓✔]\s*\]|\(\s*[xX]\s*\)|[☒☑✓✔✗✘])"
_ITEM_END = r"(?=\s*(?:[\[(☐☒☑✓✔✗✘/|,;]|\s{2,}|$))"
_CHECKED_AFTER = re.compile(_CHECK_MARK + r"\s*([^\W\d_][^\[\]()☒☑☐✓✔✗✘/|,;\n]*?)" + _ITEM_END)
_CHECKED_BEFORE = re.compile(
    r"(?:^|(?<=[\]\s)☐/|,;]))([^\W\d_][^\[\]()☒☑☐✓✔✗✘/|,;\n]*?)\s*" + _CHECK_MARK
)
#: A cross written alone is a tick, in every language.
_TICK = "x"


@dataclass(frozen=True)
class AnswerWords:
    """Yes, no and circulation phrases of every written language, folded."""

    yes: frozenset[str]
    no: frozenset[str]
    confidential: tuple[str, ...]
    circulate: tuple[str, ...]
    organization: frozenset[str]


@lru_cache(maxsize=8)
def answer_words(languages: Languages) -> AnswerWords:
    """The answers :func:`parse_yesno` and :func:`looks_like_org` read, from ``languages``."""

    def folded(name: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(fold(t) for t in languages.collect("forms", "words", name)))

    return AnswerWords(
        yes=frozenset({*folded("yes"), _TICK}),
        no=frozenset(folded("no")),
        confidential=folded("confidential"),
        circulate=folded("circulate"),
        organization=frozenset(folded("organization")),
    )


def checked_items(text: str) -> list[str]:
    """The words next to ticked boxes (``[x] yes``, ``No [X]``, ``☒ oui``)."""
    items = [m.group(1).strip() for m in _CHECKED_AFTER.finditer(text)]
    if not items:
        items = [m.group(1).strip() for m in _CHECKED_BEFORE.finditer(text)]
    return [i for i in items if i]


def _has_phrase(key: str, phrases: tuple[str, ...]) -> bool:
    padded = f" {key} "
    return any(f" {p} " in padded for p in phrases)


def _answer_in_words(key: str, words: AnswerWords, circulation: bool) -> bool | None:
    """An answer that is more than one word: its first word, or a circulation phrase."""
    if circulation and _has_phrase(key, words.confidential):
        return False
    sentence = key.split()
    # one letter ("y", "n", a cross) is an answer alone, not a word of a sentence
    says_yes = any(w in words.yes and len(w) > 1 for w in sentence)
    says_no = any(w in words.no and len(w) > 1 for w in sentence)
    if says_yes and says_no:
        return None
    first = sentence[0]
    if first in words.yes and first != _TICK:
        return True
    if first in words.no:
        return False
    if circulation and _has_phrase(key, words.circulate):
        return True
    return None


def parse_yesno(
    text: str, *, circulation: bool = False, languages: Languages | None = None
) -> bool | None:
    """Yes/no in every written language, ticked boxes, and (for circulation) phrases."""
    words = answer_words(languages if languages is not None else default_languages())
    ticked = checked_items(text)
    if ticked:
        answers = {parse_yesno(t, circulation=circulation, languages=languages) for t in ticked}
        answers.discard(None)
        return answers.pop() if len(answers) == 1 else None
    key = fold(text)
    if not key:
        return None
    if key in words.yes:
        return True
    if key in words.no:
        return False
    return _answer_in_words(key, words, circulation)


def _choice_names(spec: FieldSpec) -> list[tuple[str, set[str]]]:
    return [
        (c.key, {fold(c.key), *(fold(t) for t in c.label.all()), *(fold(a) for a in c.aliases)})
        for c in spec.choices
    ]


def choice_key(spec: FieldSpec, text: str) -> str | None:
    """The key of the choice ``text`` names (or ticks); None when none or several."""
    ticked = checked_items(text)
    names = _choice_names(spec)
    found = {key for candidate in (ticked or [text]) for key, keys in names
             if fold(candidate) in keys}
    if len(found) == 1:
        return found.pop()
    if found:
        return None
    # a label inside a longer answer: "the Embassy (a diplomatic mission)"
    padded = f" {fold(text)} "
    for choice in spec.choices:
        if any(f" {fold(t)} " in padded for t in choice.label.all()):
            found.add(choice.key)
    return found.pop() if len(found) == 1 else None


def looks_like_org(text: str, languages: Languages | None = None) -> bool:
    """Whether a name that is no State names an international organization."""
    words = answer_words(languages if languages is not None else default_languages())
    if set(fold(text).split()) & words.organization:
        return True
    stripped = text.strip()
    return bool(re.fullmatch(r"[A-Z]{2,8}", stripped)) and len(stripped) != 3
