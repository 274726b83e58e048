"""Outgoing mail: a mail name, a language and a context become an RFC 5322 message.

Place in the flow: the handlers decide what to send as typed values
(``domain.mails``), the outbox writes them as rows (``service.queueing``),
and at sending time the dispatcher (``service.dispatch`` through
``service.rendering``) calls :meth:`Renderer.render` with the row's kind as
the mail name and then :func:`build_message`, and keeps the bytes with the
row, so a resend is byte-for-byte the same mail with the same Message-ID
(:func:`make_message_id` derives it from the outbox key).

Templates live by convention in ``<templates_dir>/mail/<lang>/``:
``<name>.subject.j2`` and ``<name>.txt.j2``, optionally ``<name>.html.j2``.
A language without its own template falls back to English (ar, ru and zh
today).  Values that come from senders are only ever *data* in the context:
nothing a sender wrote is compiled as a template.  What each mail's context
holds is its content class in ``domain.mails`` (checked against the
templates' variables by ``tests/unit/test_mails.py``), plus the fields every
note verbale shares (``NOTE_FIELDS``) and those of an answer (``REPLY_FIELDS``).

Dates, sizes and session numbers are formatted in the mail's language by the
pure helpers below (:func:`format_date` and friends), never by the process
locale: the words (month names, units, session ordinals, the articles before
State names) are the language's data in ``config/languages/<lang>.toml``,
read through :mod:`mailbot.domain.languages`.  In templates they are the
filters ``longdate``, ``longdatetime``, ``filesize``, ``session`` and
``of_state`` (which gives "of France", "de la France", "de Francia"), all
using the language being rendered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime as rfc5322_date
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, pass_context
from jinja2.runtime import Context

from mailbot.domain.forms.values import format_date as long_date
from mailbot.domain.languages import Languages, base_code, default_languages
from mailbot.mail.msgid import make_message_id

__all__ = [
    "MAIL_NAMES",
    "RenderedMail",
    "Renderer",
    "TemplateMissing",
    "build_message",
    "format_date",
    "format_datetime",
    "format_size",
    "make_message_id",
    "session_words",
    "state_of",
]

#: The language a mail is written in when its own has no template (the table's default).
FALLBACK_LANGUAGE = "en"

#: Every mail the outbox may ask for (the outbox ``kind``).
MAIL_NAMES: tuple[str, ...] = (
    "ack_violation",
    "ack_follow_up",
    "ack_views",
    "correction",
    "unknown_sender",
    "held",
    "confirmation_request",
    "circulation",
    "attention",
    "reminder",
    "escalation",
    "circular",
    "digest",
    "secretariat_notice",
    "command_result",
    "delivery_failure",
)

#: Keys the renderer supplies itself; a context must not set them.
_RESERVED = frozenset({"lang", "resolution"})

#: How many Message-IDs the References header keeps (the first and the newest).
MAX_REFERENCES = 10

_WS = re.compile(r"\s+")
_BLANK_RUN = re.compile(r"\n{3,}")


class TemplateMissing(LookupError):
    """No template for this mail name, not even in English."""


@dataclass(frozen=True)
class RenderedMail:
    """A mail in words: a one-line subject, the plain text, the HTML when there is one."""

    subject: str
    text: str
    html: str | None = None
    lang: str = FALLBACK_LANGUAGE  # the language actually rendered (after fallback)


# --------------------------------------------------------------------------- formatting


def _table(languages: Languages | None) -> Languages:
    return languages if languages is not None else default_languages()


def format_date(d: date, lang: str, languages: Languages | None = None) -> str:
    """A date as the Secretariat writes it: 20 November 2026 / 20 novembre 2026 / 20 de ..."""
    if isinstance(d, datetime):
        d = _as_utc(d).date()
    table = _table(languages)
    return long_date(d, table.resolve(lang), table)


def format_datetime(dt: datetime, lang: str, languages: Languages | None = None) -> str:
    """A moment in UTC: 20 November 2026, 17:00 UTC / 20 novembre 2026 à 17 h 00 (UTC) ..."""
    dt = _as_utc(dt)
    table = _table(languages)
    pattern = str(table.text(lang, "dates", "datetime"))
    return pattern.format(date=format_date(dt.date(), lang, table), hour=dt.hour, minute=dt.minute)


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def format_size(n: int, lang: str, languages: Languages | None = None) -> str:
    """A file size for people: 512 bytes, 12 kB, 1.4 MB (1,4 Mo in French)."""
    sizes = _table(languages).words(lang)["sizes"]
    units = sizes["units"]
    if n < 1024:
        return f"{n} {units[0]}"
    value = float(n)
    unit = 0
    while value >= 1024 and unit < len(units) - 1:
        value /= 1024
        unit += 1
    text = f"{value:.0f}" if value >= 10 else f"{value:.1f}"
    return f"{text.replace('.', sizes['decimal_separator'])} {units[unit]}"


def session_words(n: int, lang: str, languages: Languages | None = None) -> str:
    """A General Assembly session in words: eighty-third session, quatre-vingt-troisième ...

    The ordinals are a list in the language's data (sessions 1 to 199); a
    session outside it is written in figures.
    """
    sessions = _table(languages).words(lang)["sessions"]
    ordinals = sessions["ordinals"]
    if 1 <= n <= len(ordinals):
        return str(sessions["phrase"]).format(ordinal=ordinals[n - 1])
    return str(sessions["numeric"]).format(n=n)


def _first_word(name: str) -> str:
    return re.split(r"[\s(-]", name, maxsplit=1)[0]


def _rule_matches(rule: Mapping[str, Any], name: str) -> bool:
    """Whether every condition of one ``[[state_of.rules]]`` holds for the State's name."""
    if "names" in rule and name not in rule["names"]:
        return False
    if "prefixes" in rule and not name.startswith(tuple(rule["prefixes"])):
        return False
    if "first_words" in rule and _first_word(name) not in rule["first_words"]:
        return False
    endings = rule.get("first_word_endings")
    return endings is None or _first_word(name).endswith(tuple(endings))


def state_of(name: str, lang: str, languages: Languages | None = None) -> str:
    """The State with its article, as a note verbale writes it: of the Sudan, de la France.

    The language's ``[state_of]`` rules say which words come before which
    names (UN usage); the first rule that matches wins.
    """
    words = _table(languages).words(lang)["state_of"]
    for rule in words.get("rules", ()):
        if _rule_matches(rule, name):
            return str(rule["template"]).format(name=name)
    return str(words["default"]).format(name=name)


# --------------------------------------------------------------------------- rendering


def _filters(languages: Languages) -> dict[str, Any]:
    """The template filters, each in the language being rendered (``lang`` of the context)."""

    @pass_context
    def longdate(ctx: Context, value: date) -> str:
        return format_date(value, str(ctx["lang"]), languages)

    @pass_context
    def longdatetime(ctx: Context, value: datetime) -> str:
        return format_datetime(value, str(ctx["lang"]), languages)

    @pass_context
    def filesize(ctx: Context, value: int) -> str:
        return format_size(int(value), str(ctx["lang"]), languages)

    @pass_context
    def session(ctx: Context, value: int) -> str:
        return session_words(int(value), str(ctx["lang"]), languages)

    @pass_context
    def of_state(ctx: Context, value: str) -> str:
        return state_of(str(value), str(ctx["lang"]), languages)

    return {"longdate": longdate, "longdatetime": longdatetime, "filesize": filesize,
            "session": session, "of_state": of_state}


def __getattr__(name: str) -> tuple[str, ...]:
    """``LANGUAGES``: the written languages of the table (each has its words and templates)."""
    if name == "LANGUAGES":
        return default_languages().written
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _fail(message: str) -> str:
    """Lets a template reject a value it does not know (an unknown code is a caller's bug)."""
    raise ValueError(message)


def _autoescape(template_name: str | None) -> bool:
    return bool(template_name and template_name.endswith(".html.j2"))


class Renderer:
    """Renders the mails from ``<templates_dir>/mail/<lang>/``; the directory is the test seam."""

    def __init__(
        self,
        templates_dir: Path | str,
        *,
        resolution: str = "61/31",
        languages: Languages | None = None,
    ) -> None:
        self.mail_dir = Path(templates_dir) / "mail"
        self.resolution = resolution
        self.languages = _table(languages)
        self.env = Environment(
            loader=FileSystemLoader(str(self.mail_dir)),
            undefined=StrictUndefined,
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            auto_reload=False,
        )
        self.env.filters.update(_filters(self.languages))
        self.env.globals["fail"] = _fail

    def resolve_lang(self, name: str, lang: str) -> str:
        """The language ``name`` will actually be rendered in for a mission working in ``lang``."""
        base = base_code(lang)
        if base and (self.mail_dir / base / f"{name}.txt.j2").is_file():
            return base
        fallback = self.languages.default
        if (self.mail_dir / fallback / f"{name}.txt.j2").is_file():
            return fallback
        raise TemplateMissing(f"no template for mail {name!r} in {self.mail_dir}")

    def render(self, name: str, lang: str, context: Mapping[str, Any]) -> RenderedMail:
        """Render mail ``name`` in ``lang`` (English when that language has no template).

        Raises ``jinja2.UndefinedError`` when the context lacks a variable the
        template uses, and :class:`TemplateMissing` for an unknown mail name.
        """
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise TemplateMissing(f"not a mail name: {name!r}")
        clash = _RESERVED & context.keys()
        if clash:
            raise ValueError(f"context may not set {sorted(clash)}: the renderer supplies them")
        used = self.resolve_lang(name, lang)
        values = {**context, "lang": used, "resolution": self.resolution}
        subject = self.env.get_template(f"{used}/{name}.subject.j2").render(values)
        text = self.env.get_template(f"{used}/{name}.txt.j2").render(values)
        html: str | None
        try:
            html_template = self.env.get_template(f"{used}/{name}.html.j2")
        except TemplateNotFound:
            html = None
        else:
            html = html_template.render(values)
        return RenderedMail(_one_line(subject), _tidy(text), html, used)

    def available(self, lang: str = FALLBACK_LANGUAGE) -> list[str]:
        """The mail names that have a text template in ``lang``."""
        folder = self.mail_dir / lang
        return sorted(p.name[: -len(".txt.j2")] for p in folder.glob("*.txt.j2"))


def _one_line(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"


# --------------------------------------------------------------------------- the message


def _bracket(msgid: str) -> str:
    msgid = msgid.strip()
    if not msgid:
        raise ValueError("empty Message-ID")
    if _WS.search(msgid):
        raise ValueError(f"Message-ID with whitespace: {msgid!r}")
    return msgid if msgid.startswith("<") and msgid.endswith(">") else f"<{msgid.strip('<>')}>"


def _thread(in_reply_to: str | None, references: Sequence[str]) -> list[str]:
    """The References chain: the sender's References then their Message-ID, capped.

    RFC 5322 3.6.4 builds References this way; very long chains are trimmed
    to the first (the thread's root) and the newest ones, as common agents do.
    """
    ids: list[str] = []
    for item in [*references, *([in_reply_to] if in_reply_to else [])]:
        for token in item.split():
            bracketed = _bracket(token)
            if bracketed not in ids:
                ids.append(bracketed)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids


def _check_header_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} contains a line break")


def build_message(
    rendered: RenderedMail,
    *,
    from_addr: str,
    from_name: str,
    to: Sequence[str],
    message_id: str,
    date: datetime,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    auto_submitted: str = "auto-replied",
    loop_header: tuple[str, str],
    attachments: Sequence[tuple[str, str, bytes]] = (),
    extra_headers: Mapping[str, str] | None = None,
) -> bytes:
    """The mail as RFC 5322 bytes (CRLF line ends, UTF-8 bodies) ready for SMTP.

    ``references`` are the References of the mail we answer and ``in_reply_to``
    its Message-ID. ``attachments`` are ``(filename, content_type, data)``.
    """
    if not to:
        raise ValueError("a mail needs at least one recipient")
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(display_name=_one_line(from_name), addr_spec=from_addr)
    msg["To"] = [Address(addr_spec=addr) for addr in to]
    msg["Date"] = rfc5322_date(_as_utc(date))
    msg["Message-ID"] = _bracket(message_id)
    msg["Subject"] = _one_line(rendered.subject)
    chain = _thread(in_reply_to, references)
    if in_reply_to:
        msg["In-Reply-To"] = _bracket(in_reply_to)
    if chain:
        msg["References"] = " ".join(chain)
    # RFC 3834: tells well-behaved responders not to answer us.
    msg["Auto-Submitted"] = auto_submitted
    # Exchange and Outlook ignore Auto-Submitted for out-of-office replies; this stops them.
    msg["X-Auto-Response-Suppress"] = "All"
    loop_name, loop_value = loop_header
    _check_header_value(loop_name, loop_value)
    msg[loop_name] = loop_value
    # No Precedence header, on purpose, for every kind of mail (circulations included):
    # it is not a standard (RFC 3834 discourages relying on it), Auto-Submitted and
    # X-Auto-Response-Suppress already stop auto-replies, and "bulk" or "list" make
    # some gateways and filters junk or deprioritise mail, which official notes to
    # missions must not risk.
    for name, value in (extra_headers or {}).items():
        _check_header_value(name, value)
        msg[name] = value
    msg.set_content(rendered.text, charset="utf-8")
    if rendered.html is not None:
        msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    # After the body: set_content() drops any Content-* header set before it.
    msg["Content-Language"] = rendered.lang
    return msg.as_bytes(policy=policy.SMTP)
