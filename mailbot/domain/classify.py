"""Parsed mail -> :class:`Classification`: the classify stage of the intake pipeline.

``mail.parse`` gives an :class:`InboundMail` and ``mail.bounces`` the failing
recipients of a delivery report; :func:`classify` runs them through an ordered
table of small named rules and returns what the message is. Intake stores the
result with the message, so every decision can be explained later.

How it works (the model is Mailman's rules and chains):

* A rule is a small function that only reads the mail and the desk's context.
  It answers ``None`` (no match) or a :class:`Hit` with a human-readable note.
* :data:`RULES` is the table: data, in precedence order. Each rule names the
  class it decides when it matches; a hit may decide another class (``cc-only``
  from an unknown sender) or decide nothing (evidence only).
* Every rule is evaluated and every matching rule's name is recorded in
  ``Classification.rules``; the decisive hit whose class ranks first in
  :data:`PRECEDENCE` decides the class (with the table in that same order, this
  is the first decisive rule of the table).

Rule names are stable identifiers stored in the database: never rename one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mailbot.domain.bounces import (
    daemon_sender,
    dsn_structure,
    failed_recipients_header,
    nondelivery_subject,
    null_return_path,
)
from mailbot.domain.trust import MethodResult, Proof, judge, single_sender, trusted_results
from mailbot.domain.types import Classification, InboundMail, MailClass, MailContext

#: Classes from the strongest to the weakest: the first one that a rule decides wins.
PRECEDENCE: tuple[MailClass, ...] = (
    MailClass.OWN,
    MailClass.BOUNCE,
    MailClass.AUTO_REPLY,
    MailClass.LIST,
    MailClass.SPOOFED,
    MailClass.CORRESPONDENCE,
    MailClass.SECRETARIAT,
    MailClass.STATE,
    MailClass.UNKNOWN,
)
_RANK = {kind: rank for rank, kind in enumerate(PRECEDENCE)}

BULK_PRECEDENCE = frozenset({"bulk", "list", "junk"})
#: X-Auto-Response-Suppress values that mark the message itself as automatic.
SUPPRESS_MARKERS = frozenset({"all", "oof", "autoreply"})
AUTOREPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder")

#: Subjects that only automatic replies start with (anchored; case-insensitive).
AUTO_REPLY_SUBJECT = re.compile(
    r"""^\s*(?:
        out\ of\ (?:the\ )?office\b
      | automatic\ reply\b
      | auto(?:matic)?[\s-]?(?:reply|response)\b
      | autoreply\b
      | r[ée]ponse\ automatique\b
      | respuesta\ autom[áa]tica\b
      | resposta\ autom[áa]tica\b
      | risposta\ automatica\b
      | automatische\ antwort\b
      | abwesenheitsnotiz\b
      | absent(?:e)?\ du\ bureau\b
      | absence\ du\ bureau\b
      | absence\s*(?::|$)
      | fuera\ de\ la\ oficina\b
      | auto\s*:
      | автоматический\ ответ\b
      | 自动回复
    )""",
    re.IGNORECASE | re.VERBOSE,
)


# -- the facts every rule reads -----------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """The mail and the desk's context, normalised once for all rules."""

    mail: InboundMail
    ctx: MailContext
    bounced: tuple[str, ...]
    sender: str  # lower-case From address, "" when there is none
    bot_addresses: frozenset[str]
    secretariat: frozenset[str]
    focal_points: dict[str, str]
    proof: Proof

    @property
    def state_code(self) -> str | None:
        return self.focal_points.get(self.sender)

    @property
    def proven(self) -> bool:
        """The From address is the one our servers (or the desk) proved."""
        return self.proof.verified and self.proof.sender == self.sender

    @property
    def registered(self) -> bool:
        """The sender is a Secretariat officer or a registered focal point."""
        return self.sender in self.secretariat or self.state_code is not None

    def is_bot(self, address: str) -> bool:
        """``address`` is one of the desk's own (``+token`` subaddresses included)."""
        return unplussed(address) in self.bot_addresses


@dataclass(frozen=True)
class Hit:
    """A rule matched: why, and which class it decides (``decides=False``: evidence only)."""

    note: str
    kind: MailClass | None = None  # None: the rule's own class
    decides: bool = True


@dataclass(frozen=True)
class Rule:
    """One named, read-only test and the class it decides when it matches."""

    name: str
    kind: MailClass
    test: Callable[[Facts], Hit | None] = field(repr=False)
    description: str = ""


# -- helpers --------------------------------------------------------------------------


def unplussed(address: str) -> str:
    """``user+token@host`` -> ``user@host``, lower-cased."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.split('+', 1)[0]}@{domain}"


def _first_token(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def facts_of(mail: InboundMail, ctx: MailContext, bounced: Sequence[str] = (),
             desk_results: Sequence[MethodResult] = ()) -> Facts:
    """Normalise the mail and the context once (addresses lower-cased, the sender proven or
    not: ``domain.trust``; ``desk_results`` are what the desk verified itself)."""
    results, forged = trusted_results(mail.headers, ctx.authserv_ids, ctx.relays)
    return Facts(
        mail=mail,
        ctx=ctx,
        bounced=tuple(dict.fromkeys(a.strip().lower() for a in bounced if a.strip())),
        sender=mail.from_addr.strip().lower(),
        bot_addresses=frozenset(unplussed(a) for a in ctx.bot_addresses),
        secretariat=frozenset(a.strip().lower() for a in ctx.secretariat),
        focal_points={a.strip().lower(): code for a, code in ctx.focal_points.items()},
        proof=judge(single_sender(mail.headers), (*results, *desk_results), forged),
    )


# -- the rules ------------------------------------------------------------------------


def own_loop_header(f: Facts) -> Hit | None:
    for value in f.mail.header_all(f.ctx.loop_header):
        if value.strip().lower() == f.ctx.loop_value.strip().lower():
            return Hit(f"carries our loop header {f.ctx.loop_header}: {value.strip()}")
    return None


def own_message_id(f: Facts) -> Hit | None:
    msgid = (f.mail.message_id or "").strip().strip("<>").lower()
    domain = f.ctx.msgid_domain.strip().lower()
    if domain and "@" in msgid and msgid.rpartition("@")[2] == domain:
        return Hit(f"Message-ID <{msgid}> is in our domain {domain}")
    return None


def own_from(f: Facts) -> Hit | None:
    if f.sender and f.is_bot(f.sender):
        return Hit(f"From {f.sender} is the desk's own address")
    return None


def bounce_dsn(f: Facts) -> Hit | None:
    found = dsn_structure(f.mail)
    return Hit(found.note) if found is not None else None


def _has_auto_reply_marker(f: Facts) -> bool:
    return any(rule.test(f) is not None for rule in (_AUTO_SUBMITTED, _X_AUTOREPLY, _EXCHANGE_SUPPRESS))


def _weak(f: Facts, note: str, kind: MailClass | None = None) -> Hit:
    """Evidence a person could also produce: decisive for strangers, not for registered senders."""
    if f.registered:
        return Hit(f"{note}; but From {f.sender} is registered: not decisive", kind=kind, decides=False)
    return Hit(note, kind=kind)


def bounce_sender(f: Facts) -> Hit | None:
    found = daemon_sender(f.mail, f.sender)
    if found is not None:
        return Hit(found.note) if found.strong else _weak(f, found.note)
    null = null_return_path(f.mail)
    if null is not None:
        # RFC 3834 auto-replies use the null sender too: only those say so themselves
        if _has_auto_reply_marker(f):
            return None
        return Hit(f"null envelope sender (Return-Path {null}) without an auto-reply marker")
    return None


def bounce_addresses(f: Facts) -> Hit | None:
    if not f.bounced:
        return None
    note = f"the bounce scanner found failing recipients: {', '.join(f.bounced)}"
    if f.registered:
        # a person quoting or forwarding a bounce is still that person writing
        return Hit(note + f"; but From {f.sender} is registered: not decisive", decides=False)
    return Hit(note)


def bounce_failed_recipients(f: Facts) -> Hit | None:
    found = failed_recipients_header(f.mail)
    if not found:
        return None
    return _weak(f, f"X-Failed-Recipients names {', '.join(found)}")


def bounce_subject(f: Facts) -> Hit | None:
    found = nondelivery_subject(f.mail.subject)
    if found is None:
        return None
    start, kind = found
    what = "a non-delivery report" if kind is MailClass.BOUNCE else "an automatic gateway notice"
    return _weak(f, f"subject starts like {what}: {start!r}", kind=None if kind is MailClass.BOUNCE else kind)


def auto_submitted(f: Facts) -> Hit | None:
    for value in f.mail.header_all("auto-submitted"):
        token = _first_token(value)
        if token and token != "no":
            return Hit(f"Auto-Submitted: {token} (RFC 3834)")
    return None


def precedence_bulk(f: Facts) -> Hit | None:
    for value in f.mail.header_all("precedence"):
        token = _first_token(value)
        if token in BULK_PRECEDENCE:
            if token == "list":
                return Hit("Precedence: list", kind=MailClass.LIST)
            return Hit(f"Precedence: {token}")
    return None


def x_autoreply(f: Facts) -> Hit | None:
    for name in AUTOREPLY_HEADERS:
        value = f.mail.header(name)
        if value is not None and _first_token(value) not in ("no", "false", "0"):
            return Hit(f"{name} header present ({value.strip() or 'empty'})")
    return None


def exchange_auto_response_suppress(f: Facts) -> Hit | None:
    for value in f.mail.header_all("x-auto-response-suppress"):
        tokens = {t.strip().lower() for t in re.split(r"[,\s]+", value) if t.strip()}
        found = sorted(tokens & SUPPRESS_MARKERS)
        if found:
            return Hit(f"X-Auto-Response-Suppress: {value.strip()} (Exchange automatic mail)")
    return None


def subject_auto_reply(f: Facts) -> Hit | None:
    match = AUTO_REPLY_SUBJECT.match(f.mail.subject)
    if match:
        return Hit(f"subject starts like an automatic reply: {match.group(0).strip()!r}")
    return None


def list_id(f: Facts) -> Hit | None:
    for name in ("list-id", "list-unsubscribe"):
        value = f.mail.header(name)
        if value is not None:
            return Hit(f"{name} header present: {value.strip()[:80]}")
    return None


def ambiguous_sender(f: Facts) -> Hit | None:
    """A From line that is not exactly one mailbox proves nobody: no one can be answered."""
    if f.proof.sender is not None or not f.mail.header_all("from"):
        return None
    return Hit(f"From {'; '.join(f.mail.header_all('from'))[:120]!r} is not exactly one mailbox")


def cc_only(f: Facts) -> Hit | None:
    if any(f.is_bot(a) for a in f.mail.to):
        return None
    in_cc = [a for a in f.mail.cc if f.is_bot(a)]
    if not in_cc:
        return None
    if f.registered:
        return Hit(f"the desk ({in_cc[0]}) is only in Cc of a letter from {f.sender}")
    who = f.sender or "no sender"
    return Hit(
        f"the desk ({in_cc[0]}) is only in Cc, but {who} is not registered",
        kind=MailClass.UNKNOWN,
    )


def from_secretariat(f: Facts) -> Hit | None:
    if f.sender in f.secretariat:
        return Hit(f"From {f.sender} is a Secretariat address")
    return None


def from_focal_point(f: Facts) -> Hit | None:
    code = f.state_code
    if code is not None:
        return Hit(f"From {f.sender} is a registered focal point of {code}")
    return None


def unknown_sender(f: Facts) -> Hit | None:
    if not f.sender:
        return Hit("no From address")
    if f.registered or f.is_bot(f.sender):
        return None
    return Hit(f"From {f.sender} is not registered")


_AUTO_SUBMITTED = Rule(
    "auto-submitted", MailClass.AUTO_REPLY, auto_submitted, "Auto-Submitted other than 'no'"
)
_X_AUTOREPLY = Rule("x-autoreply", MailClass.AUTO_REPLY, x_autoreply, "X-Autoreply or X-Autorespond present")
_EXCHANGE_SUPPRESS = Rule(
    "exchange-auto-response-suppress",
    MailClass.AUTO_REPLY,
    exchange_auto_response_suppress,
    "X-Auto-Response-Suppress: All, OOF or AutoReply",
)

#: The rule table, in precedence order. Names are stored with every message.
RULES: tuple[Rule, ...] = (
    Rule("own-loop-header", MailClass.OWN, own_loop_header, "our loop header with our value"),
    Rule("own-message-id", MailClass.OWN, own_message_id, "Message-ID in our domain"),
    Rule("own-from", MailClass.OWN, own_from, "From is one of the desk's addresses"),
    Rule("bounce-dsn", MailClass.BOUNCE, bounce_dsn, "multipart/report; delivery-status"),
    Rule("bounce-sender", MailClass.BOUNCE, bounce_sender, "a mail system's From, or <> sender"),
    Rule("bounce-addresses", MailClass.BOUNCE, bounce_addresses, "the scanner found recipients"),
    Rule("bounce-failed-recipients", MailClass.BOUNCE, bounce_failed_recipients, "X-Failed-Recipients"),
    Rule("bounce-subject", MailClass.BOUNCE, bounce_subject, "anchored non-delivery subject"),
    _AUTO_SUBMITTED,
    Rule("precedence-bulk", MailClass.AUTO_REPLY, precedence_bulk, "Precedence: bulk/list/junk"),
    _X_AUTOREPLY,
    _EXCHANGE_SUPPRESS,
    Rule("subject-auto-reply", MailClass.AUTO_REPLY, subject_auto_reply, "auto-reply subject"),
    Rule("list-id", MailClass.LIST, list_id, "List-Id or List-Unsubscribe present"),
    Rule("ambiguous-sender", MailClass.SPOOFED, ambiguous_sender, "not exactly one From mailbox"),
    Rule("cc-only", MailClass.CORRESPONDENCE, cc_only, "the desk is in Cc, not in To"),
    Rule("from-secretariat", MailClass.SECRETARIAT, from_secretariat, "a Secretariat address"),
    Rule("from-focal-point", MailClass.STATE, from_focal_point, "a registered focal point"),
    Rule("unknown-sender", MailClass.UNKNOWN, unknown_sender, "not registered, or no From"),
)

RULE_NAMES: tuple[str, ...] = tuple(rule.name for rule in RULES)


# -- the classifier -------------------------------------------------------------------


def classify(mail: InboundMail, ctx: MailContext, bounced: Sequence[str] = (),
             desk_results: Sequence[MethodResult] = ()) -> Classification:
    """Run every rule of :data:`RULES`; the strongest decisive hit gives the class.

    ``desk_results``: what the desk verified itself (``mail.dkim``) when our
    receiving servers gave no verdict on the sender.
    """
    facts = facts_of(mail, ctx, bounced, desk_results)
    matched: list[str] = []
    notes: list[str] = []
    best: tuple[int, MailClass, str] | None = None
    for rule in RULES:
        hit = rule.test(facts)
        if hit is None:
            continue
        matched.append(rule.name)
        notes.append(f"{rule.name}: {hit.note}")
        if not hit.decides:
            continue
        kind = hit.kind or rule.kind
        if best is None or _RANK[kind] < best[0]:
            best = (_RANK[kind], kind, rule.name)
    if best is None:  # unreachable with the table above; kept so the result is always defined
        best = (_RANK[MailClass.UNKNOWN], MailClass.UNKNOWN, "")
        notes.append("no rule decided: unknown")
    kind = best[1]
    notes.append(f"sender {'proven' if facts.proven else 'not proven'}: {facts.proof.how}")
    notes.append(f"class {kind.value}, decided by {best[2] or 'default'}")
    state_code = facts.state_code if kind not in (MailClass.SPOOFED, MailClass.OWN) else None
    return Classification(
        kind=kind,
        rules=tuple(matched),
        state_code=state_code,
        bounced=facts.bounced if kind is MailClass.BOUNCE else (),
        notes=tuple(notes),
        verified=facts.proven,
        proof=facts.proof.how,
    )
