"""Raw bytes -> :class:`InboundMail`: the parse stage of the intake pipeline.

mail-parser reads the top level: the Date header, with its tolerant RFC 5322
reader (obsolete syntax, comments, wrong weekdays), whose diagnostics become
the message's defects; the standard library's ``email`` parser reads the structure and
the body parts, fed in chunks and with the light ``compat32`` policy (the
default policy re-parses every header on every access, which dominated the
cost of intake), reporting defects such as bad base64; a single-part message's body is
taken as it stands rather than line by line, with the same result.  Headers are decoded
once, here: raw 8-bit bytes as UTF-8 or Windows-1252, RFC 2047 encoded words
with ``policy.default`` only where a header has them.  Anything unreadable raises :class:`ParseError`,
which intake turns into a quarantine, never a crash.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import BytesFeedParser
from functools import lru_cache

import html2text
from mailparser.dates import date_diagnostics, parse_mail_date

from mailbot.domain.types import Attachment, InboundMail

MAX_DEPTH = 40  # MIME nesting deeper than this is not walked (a defect is recorded)
MAX_PARTS = 500
_MSGID_RE = re.compile(r"<[^<>\s]+>")


class ParseError(Exception):
    """The message cannot be read at all; intake quarantines it with this reason."""


def clean(text: str) -> str:
    """Replace undecodable bytes (surrogate escapes) so text is always valid UTF-8."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _redecode(value: str) -> str:
    """Raw 8-bit header bytes (surrogate escapes) -> text: UTF-8 when valid, else Windows-1252."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


@lru_cache(maxsize=4096)
def _address_list(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(name, address) pairs of a header's values, as the standard library reads them.

    Cached: the same few senders and recipients recur from message to message,
    and the library's strict reader is a large part of the cost of a parse.
    """
    return tuple(email.utils.getaddresses(list(values)))


def _addresses(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for _name, addr in _address_list(tuple(values)):
        addr = clean(addr).strip().strip("<>").lower()
        if "@" in addr and addr not in out:
            out.append(addr)
    return tuple(out)


def _msgid(value: str | None) -> str | None:
    if not value:
        return None
    m = _MSGID_RE.search(clean(value))
    return m.group(0) if m else None


def _msgids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSGID_RE.findall(clean(value))) if value else ()


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, raw_value in msg.raw_items():
        value = _redecode(str(raw_value))
        if value.isascii() and "=?" not in value:
            text = value  # nothing to decode: unfolding is enough (and much cheaper)
        else:
            try:
                text = str(policy.default.header_fetch_parse(name, value))
            except Exception:  # a header the policy cannot decode: keep its raw form
                text = str(value)
        out.append((name.lower(), clean(re.sub(r"\r?\n[ \t]+", " ", text)).strip()))
    return out


def walk(msg: Message, defects: list[str]) -> Iterator[Message]:
    """Leaf parts, depth-first and iteratively, with depth and count limits."""
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            defects.append(f"more than {MAX_PARTS} MIME parts; the rest were not read")
            return
        if part.is_multipart():
            if depth >= MAX_DEPTH:
                defects.append(f"MIME nesting deeper than {MAX_DEPTH} levels; not read further")
                continue
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
            continue
        yield part


def _text_of(part: Message, defects: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    payload = payload.replace(b"\r\n", b"\n")  # mail fetched over IMAP has CRLF line ends
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        defects.append(f"unknown charset {charset!r}; read as UTF-8/Latin-1")
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload.decode("latin-1")


#: a table cell, and a block's end followed by another block inside it
_CELL = re.compile(r"(<t[dh]\b[^>]*>)(.*?)(?=</t[dh]\s*>|<t[dh]\b|</tr\s*>)", re.IGNORECASE | re.DOTALL)
_BLOCK_BREAK = re.compile(r"(</(?:p|div|li|h[1-6]|blockquote)\s*>)(\s*)"
                          r"(?=<(?:p|div|ul|ol|li|h[1-6]|blockquote)\b)", re.IGNORECASE)


def _break_blocks_in_cells(html: str) -> str:
    """Paragraphs inside one table cell end their line (the converter runs them together:
    "...(case BLUEHERON).The police arrived...")."""
    if "<t" not in html and "<T" not in html:
        return html
    return _CELL.sub(lambda m: m[1] + _BLOCK_BREAK.sub(r"\1<br>\2", m[2]), html)


def html_to_text(html: str) -> str:
    """HTML -> readable plain text; tables keep one row per line, cells separated by ' | ',
    and block elements and ``<br>`` end lines, inside table cells too."""
    html = _break_blocks_in_cells(html)
    conv = html2text.HTML2Text()
    conv.body_width = 0
    conv.ignore_images = True
    conv.ignore_links = True
    conv.ignore_emphasis = True
    conv.bypass_tables = False
    conv.pad_tables = False
    return str(conv.handle(html))


def _header_text(part: Message, name: str) -> str:
    """A part's header as text, whatever the parser made of it (compat32 hands a ``Header``
    object for raw 8-bit values); raw bytes read as UTF-8, else Windows-1252."""
    value = part.get(name)
    return _redecode(str(value)) if value is not None else ""


def _is_attachment(part: Message) -> bool:
    disposition = _header_text(part, "Content-Disposition").split(";")[0].strip().lower()
    if disposition == "attachment":
        return True
    if _filename(part):
        return True
    return part.get_content_maintype() not in ("text", "multipart")


def _top_date(msg: Message, defects: list[str]) -> datetime | None:
    """The first Date header as a naive UTC datetime, read by mail-parser; None when unreadable.

    mail-parser is given the header itself rather than the whole message: its
    full parse also walks every part and Received header, which the stdlib
    parse here does already, and cost more than all the rest of the parse.
    """
    raw_date = next((str(v) for n, v in msg.raw_items() if n.lower() == "date"), None)
    if raw_date is None:
        return None
    try:
        result = parse_mail_date(raw_date)
        defects.extend(f"Date: {d['reason']}" for d in date_diagnostics(result, raw_date, "date", 0))
    except Exception:  # a reader bug on hostile input is a defect, not a failure
        defects.append("unreadable Date")
        return None
    value = result.value  # None when no safe timestamp could be read (a diagnostic says why)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=None) if value.tzinfo else value


_NAMING = ("content-disposition", "content-type")


def _as_text_headers(part: Message) -> Message:
    """``part`` itself, or, when its naming headers hold raw 8-bit bytes (which the library
    reads as unknown characters), a stand-in holding those headers as decoded text."""
    raw = [(n, str(v)) for n, v in part.raw_items() if n.lower() in _NAMING]
    if all(v.isascii() for _n, v in raw):
        return part
    stand_in = Message()
    for name, value in raw:
        stand_in[name] = _redecode(value)
    return stand_in


def _filename(part: Message) -> str | None:
    """The attachment's name as the sender gave it: RFC 2231 and RFC 2047 decoded, raw 8-bit
    bytes read as UTF-8 (else Windows-1252); None when it has none or it cannot be read."""
    try:
        name = _as_text_headers(part).get_filename()
    except Exception:  # a parameter list the library cannot read: no name
        return None
    if not name:
        return None
    try:
        return clean(str(email.header.make_header(email.header.decode_header(name))))
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return clean(name)


#: the end of the header section: the first empty line (CRLF or LF line ends)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _parse_single_part(raw: bytes) -> Message | None:
    """A message of one part (not multipart, not message/*), parsed as the stdlib would.

    The feed parser reads a single-part body line by line only to join the
    lines again: for a letter of 10 KB that is three quarters of its parse.
    Here the parser reads the header section alone and the body is taken as
    it stands.  None when the message is anything else, or when its header
    section is not a clean run of headers ended by an empty line (a stray
    line, a bare CR): the whole parser then reads it, defects and all.
    """
    end = _HEADER_END.search(raw)
    if end is None:
        return None
    parser = BytesFeedParser(policy=policy.compat32)
    parser.feed(raw[: end.end()])
    msg = parser.close()
    if msg.get_content_maintype() in ("multipart", "message") or msg.get_payload():
        return None
    msg.set_payload(raw[end.end():].decode("ascii", "surrogateescape"))
    return msg


def _parse_bytes(raw: bytes, chunk: int = 1 << 16) -> Message:
    """The stdlib parser fed in chunks: about 2.8x the message at peak instead of 7.8x."""
    single = _parse_single_part(raw)
    if single is not None:
        return single
    parser = BytesFeedParser(policy=policy.compat32)
    view = memoryview(raw)
    for start in range(0, len(raw), chunk):
        parser.feed(bytes(view[start : start + chunk]))
    return parser.close()


def _read(raw: bytes) -> tuple[Message, list[tuple[str, str]], list[str]]:
    """The parsed message, its header fields and its defects; :class:`ParseError` if unreadable."""
    if not raw.strip():
        raise ParseError("empty message")
    try:
        msg = _parse_bytes(raw)
    except Exception as exc:  # a parser bug on hostile input must not stop intake
        raise ParseError(f"unreadable message: {type(exc).__name__}: {exc}") from None
    try:
        headers = _raw_headers(msg)
    except Exception as exc:
        raise ParseError(f"unreadable headers: {type(exc).__name__}") from None
    return msg, headers, [type(d).__name__ for d in msg.defects]


@dataclass
class _Body:
    """The parts of a message sorted out: its plain text, its HTML and its attachments."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def add(self, part: Message, defects: list[str]) -> None:
        ctype = part.get_content_type()
        if _is_attachment(part):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                self.attachments.append(Attachment(filename=_filename(part), content_type=ctype, data=data))
        elif ctype == "text/html":
            self.html.append(_text_of(part, defects))
        elif ctype.startswith("text/"):
            self.plain.append(_text_of(part, defects))
        # after decoding: get_payload(decode=True) adds defects such as bad base64
        defects.extend(type(d).__name__ for d in part.defects)

    def texts(self) -> tuple[str, str | None]:
        """The body as text (the HTML converted when there is no plain part), and the HTML."""
        html_text = "\n".join(self.html) if self.html else None
        text = "\n".join(self.plain).strip()
        if not text and html_text:
            text = html_to_text(html_text).strip()
        return clean(text), clean(html_text) if html_text else None


def _body(msg: Message, defects: list[str]) -> _Body:
    body = _Body()
    try:
        for part in walk(msg, defects):
            body.add(part, defects)
    except (RecursionError, MemoryError) as exc:
        raise ParseError(f"message structure too deep or too large: {type(exc).__name__}") from None
    return body


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def parse_message(raw: bytes) -> InboundMail:
    """Parse ``raw`` into an :class:`InboundMail`; raise :class:`ParseError` if unreadable."""
    msg, headers, defects = _read(raw)

    def values(name: str) -> list[str]:
        return [v for n, v in headers if n == name]

    from_list = _addresses(values("from"))
    named = _address_list(tuple(values("from")[:1]))
    from_name = clean(named[0][0]) if named else ""
    date = _top_date(msg, defects)
    body = _body(msg, defects)
    text, html_text = body.texts()
    return InboundMail(
        message_id=_msgid(_first(values("message-id"))),
        from_addr=from_list[0] if from_list else "",
        from_name=from_name,
        to=_addresses(values("to")),
        cc=_addresses(values("cc")),
        reply_to=_addresses(values("reply-to")),
        subject=(_first(values("subject")) or "").strip(),
        date=date,
        in_reply_to=_msgid(_first(values("in-reply-to"))),
        references=_msgids(" ".join(values("references"))),
        headers=tuple(headers),
        text=text,
        html=html_text,
        attachments=tuple(body.attachments),
        defects=tuple(dict.fromkeys(defects)),
        size=len(raw),
        content_type=msg.get_content_type(),
    )
