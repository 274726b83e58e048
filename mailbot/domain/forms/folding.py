"""Text folding: how labels, markers, answers and lines are compared.

Every comparison the form reader makes (``reading``), every index the
catalog builds (``catalog``) and every answer read (``values``) goes through
:func:`fold`: case-folded, accents stripped, letters and digits kept, one
space between words.  ASCII text, most of what is read, takes table-driven
shortcuts that give the same result several times faster; forms are read on
the hot intake path.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["fold", "fold_map", "label_end"]

_NOT_ALNUM = re.compile(r"[\W_]+")
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]+")
#: ASCII's characters other than letters and digits, each to a space
_ASCII_NOT_ALNUM = str.maketrans({chr(i): " " for i in range(128) if not chr(i).isalnum()})


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Case-fold, strip accents, keep letters and digits, one space between words."""
    if text.isascii():
        # the same as below, three times as fast on a paragraph of a covering letter
        return " ".join(text.lower().translate(_ASCII_NOT_ALNUM).split())
    text = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    )
    return _NOT_ALNUM.sub(" ", text.casefold()).strip()


def label_end(body: str, folded: str, length: int) -> int | None:
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
    mapped, idx = fold_map(body[:n])
    if n < len(body) and not (len(mapped) > length and folded.startswith(mapped[: length + 1])):
        mapped, idx = fold_map(body)
        n = len(body)
    if n == len(body) and mapped != folded:
        return None
    return idx[length - 1] + 1



def fold_map(text: str) -> tuple[str, list[int]]:
    """:func:`fold` plus, for each output character, the index of its source character."""
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
