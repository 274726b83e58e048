"""How the report writes: dates, ordinals, plurals, letters, sentences and State names.

Small pure helpers shared by the narratives and the sections of the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from mailbot.domain.report.document import Paragraph

_UNITS = (
    "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_UNITS = {
    "one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
    "nine": "ninth", "twelve": "twelfth",
}


def format_long_date(value: date) -> str:
    """``20 November 2026`` (the style of the body of a document)."""
    return f"{value.day} {value:%B %Y}"


def format_short_date(value: date) -> str:
    """``18 Apr 1961`` (the style of the Treaty Collection's status tables)."""
    return f"{value.day} {value:%b %Y}"


def _cardinal(n: int) -> str:
    if n < 20:
        return _UNITS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _TENS[tens] + (f"-{_UNITS[unit]}" if unit else "")
    hundreds, rest = divmod(n, 100)
    return f"{_UNITS[hundreds]} hundred" + (f" and {_cardinal(rest)}" if rest else "")


def session_ordinal(n: int) -> str:
    """``Eighty-third`` for 83 (sessions are written out in words)."""
    if not 0 < n < 1000:
        return f"{n}th"
    words = _cardinal(n)
    cut = max(words.rfind("-"), words.rfind(" ")) + 1
    head, last = words[:cut], words[cut:]
    if last in _ORDINAL_UNITS:
        last = _ORDINAL_UNITS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    result = head + last
    return result[0].upper() + result[1:]


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def letters(index: int) -> str:
    """A, B, ..., Z, AA, AB, ... for the 0-based ``index``."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(ord("A") + rem) + out
    return out


def text_of(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return " ".join(str(value).split())


def paragraphs(value: Any) -> list[str]:
    """Free text split at blank lines, each paragraph on one line."""
    if value is None or isinstance(value, bool):
        return []
    chunks = str(value).replace("\r\n", "\n").split("\n\n")
    return [p for p in (" ".join(c.split()) for c in chunks) if p]


def sentence(text: str) -> str:
    """``text`` ending with a full stop unless it already ends a sentence."""
    text = text.strip()
    if text and text.rstrip(")\"'\u201d\u2019")[-1:] not in (".", "!", "?", "\u2026"):
        text += "."
    return text


def date_text(value: Any) -> str:
    if isinstance(value, date):
        return format_long_date(value)
    text = text_of(value)
    try:
        return format_long_date(date.fromisoformat(text))
    except ValueError:
        return text


class Names:
    """State names for codes and for state-or-organization values."""

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = names

    def state(self, code: Any) -> str:
        text = text_of(code)
        return self._names.get(text.upper(), text)

    def party(self, value: Any) -> str:
        if isinstance(value, Mapping):
            if value.get("state"):
                return self.state(value["state"])
            return text_of(value.get("organization"))
        return self.state(value) if text_of(value).upper() in self._names else text_of(value)


class Numbering:
    def __init__(self) -> None:
        self.n = 0

    def para(self, text: str) -> Paragraph:
        self.n += 1
        return Paragraph(text, self.n)
