"""Reading a form out of what a State sent: text per field, before any checking.

Intake's parse step hands over an :class:`~mailbot.domain.types.InboundMail`
and the forms ``mail.formfiles`` read from its attachments;
:func:`find_form` picks the form out of the message, :func:`extract_form`
reads one out of text and :func:`form_from_fields` out of (label, value)
pairs such as PDF fields.  The result is a :class:`RawForm`, which
``validation`` checks and types.

Reading is tolerant because States fill forms in every mail client there
is: labels are recognised in any language of the catalog, whatever the
case, accents, numbering or trailing colon; values may follow the label or
sit on the next lines; ``>`` quoting, covering letters, signatures,
disclaimers and ``Label | value`` rows (HTML tables converted to text) are
handled.  This is on the hot intake path: lines are folded once, through
the caches and ASCII shortcuts of ``folding``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from mailbot.domain.forms.catalog import FormCatalog
from mailbot.domain.forms.folding import fold
from mailbot.domain.forms.specs import FormKind
from mailbot.domain.types import InboundMail

__all__ = ["RawForm", "clean_value", "extract_form", "find_form", "form_from_fields"]

_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])")
_UNDERSCORES = re.compile(r"_{2,}|\.{4,}|…{2,}")
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_SIGNATURE = re.compile(r"^(?:--|-- |—|__)\s*$")
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class RawForm:
    """What a form says, field by field, before any checking (text per field name)."""

    kind: FormKind | None
    values: dict[str, str]
    unknown_lines: tuple[str, ...]
    source: str
    lang: str | None = None  # the language of most labels recognised


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


def _is_stop(line: str, catalog: FormCatalog) -> bool:
    """A signature delimiter, closing formula, disclaimer or reply header: the form is over."""
    if _SIGNATURE.match(line):
        return True
    key = fold(line)
    if not key:
        return False
    words = catalog.words
    if key in words.closings:
        return True
    return key.startswith(words.disclaimers) or bool(words.reply_header.match(line))


def clean_value(text: str, catalog: FormCatalog) -> str:
    """A value with placeholders and hints from the blank form removed."""

    def drop(m: re.Match[str]) -> str:
        return "" if catalog.is_hint(m.group(1)) else m.group(0)

    text = _BRACKETS.sub(drop, text)
    text = _UNDERSCORES.sub("", text)
    return text.strip().rstrip("|").strip()


# ---------------------------------------------------------------------------
# Finding the form: its marker and labels


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


def _form_start(scan: _Scan) -> int:
    """The first line of the form: its marker or its first label."""
    starts = [i for i, _, _ in scan.hits]
    if scan.marker is not None:
        starts.append(scan.marker[0])
    return min(starts)


def _multiline(catalog: FormCatalog, kind: FormKind | None, name: str) -> bool:
    spec = catalog.field(name, kind)
    return spec is not None and spec.multiline


def _has_value(parts: list[str] | None) -> bool:
    return bool(parts) and any(p.strip() for p in parts or ())


# ---------------------------------------------------------------------------
# Reading the fields, line by line


@dataclass
class _FieldReader:
    """The values read so far and where reading stands: in which field, after a blank line."""

    catalog: FormCatalog
    kind: FormKind | None
    unknown: list[str]
    values: dict[str, list[str]] = field(default_factory=dict)
    same_line: dict[str, bool] = field(default_factory=dict)
    langs: dict[str, int] = field(default_factory=dict)
    current: str | None = None
    gap: bool = False  # a blank line since the current field's value began

    def read(self, lines: Sequence[str]) -> None:
        """Read the form's lines until its end marker or the first stop line."""
        catalog = self.catalog
        for line in lines:
            stripped = line.strip()
            if not stripped:
                self._blank_line()
                continue
            if catalog.is_end(stripped) or _is_stop(stripped, catalog):
                break
            if catalog.marker_kind(stripped) is not None or catalog.is_skippable(stripped):
                continue
            hit = catalog.match_label(stripped, self.kind)
            if hit is not None:
                self._label_line(stripped, hit)
            else:
                self._value_line(stripped)

    def _blank_line(self) -> None:
        self.gap = True
        current = self.current
        if current is not None and current in self.values and self._multiline(current):
            self.values[current].append("")

    def _label_line(self, stripped: str, hit: tuple[dict[FormKind, str], str, str]) -> None:
        owners, rest, lang = hit
        name = owners[self.kind] if self.kind is not None else next(iter(owners.values()))
        if lang:
            self.langs[lang] = self.langs.get(lang, 0) + 1
        rest = clean_value(rest, self.catalog)
        if _has_value(self.values.get(name)):
            self.current = None  # a second copy of the field (a quoted form): keep the first
            if rest:
                self.unknown.append(stripped)
            return
        self.current = name
        self.values[name] = [rest] if rest else []
        self.same_line[name] = bool(rest)
        self.gap = False

    def _value_line(self, stripped: str) -> None:
        current = self.current
        if current is None:
            self.unknown.append(stripped)
            return
        piece = clean_value(stripped, self.catalog)
        if not piece:
            return
        if self._multiline(current):
            self.values[current].append(piece)
        elif self.gap and (self.same_line[current] or self.values[current]):
            self.unknown.append(stripped)  # a paragraph after a one-line value
            self.current = None
        else:
            self.values[current].append(piece)
        self.gap = False

    def _multiline(self, name: str) -> bool:
        return _multiline(self.catalog, self.kind, name)

    def joined(self) -> dict[str, str]:
        """Each field's text: lines joined (multi-line fields keep their paragraphs)."""
        result: dict[str, str] = {}
        for name, parts in self.values.items():
            if self._multiline(name):
                joined = _BLANK_LINES.sub("\n\n", "\n".join(parts).strip("\n"))
            else:
                joined = " ".join(p for p in parts if p)
            if joined.strip():
                result[name] = joined.strip()
        return result

    def language(self, scan: _Scan) -> str | None:
        """The language of most labels read, else the marker's."""
        if self.langs:
            return max(self.langs, key=lambda k: self.langs[k])
        return scan.marker[2] if scan.marker is not None else None


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
    start = _form_start(scan)
    unknown = [
        line.strip() for line in lines[:start]
        if line.strip() and not _is_stop(line, catalog) and not catalog.is_skippable(line)
    ]
    reader = _FieldReader(catalog, _decide_kind(scan), unknown)
    reader.read(lines[start:])
    return RawForm(reader.kind, reader.joined(), tuple(unknown), source, reader.language(scan))


# ---------------------------------------------------------------------------
# Forms as (label, value) pairs


def _loose_lines(text: str, catalog: FormCatalog) -> list[str]:
    """A document's lines when no form was read in them, less the form's own printed lines."""
    return [line.strip() for line in text.splitlines() if line.strip()
            and catalog.marker_kind(line) is None and not catalog.is_end(line)
            and not catalog.is_skippable(line)]


def _match_pairs(
    fields: Mapping[str, str], catalog: FormCatalog, unknown: list[str]
) -> tuple[dict[str, str], list[dict[FormKind, str]]]:
    """The pairs whose key is a label (cleaned values) and the fields each may be."""
    matched: dict[str, str] = {}
    owners_seen: list[dict[FormKind, str]] = []
    for key, value in fields.items():
        hit = catalog.match_label(key)
        if hit is None:
            if value.strip():
                unknown.append(f"{key}: {value.strip()}")
            continue
        owners_seen.append(hit[0])
        matched[key] = "\n".join(clean_value(v, catalog) for v in value.splitlines()).strip()
    return matched, owners_seen


def _kind_of_pairs(owners_seen: list[dict[FormKind, str]]) -> FormKind | None:
    if len({n for o in owners_seen for n in o.values()}) < 2:
        return None
    return _decide_kind(_Scan(hits=[(0, o, "") for o in owners_seen]))


def _pair_values(
    matched: Mapping[str, str], catalog: FormCatalog, kind: FormKind | None
) -> dict[str, str]:
    values: dict[str, str] = {}
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
    return values


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
        kind = kind if kind is not None else from_text.kind
    else:  # no form in the text: keep its lines all the same
        unknown = _loose_lines(text, catalog)
    matched, owners_seen = _match_pairs(fields, catalog, unknown)
    if kind is None:
        kind = _kind_of_pairs(owners_seen)
    if kind is None and from_text is None and not owners_seen:
        return None
    values.update(_pair_values(matched, catalog, kind))
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
