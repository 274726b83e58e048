"""Parsed mail -> evidence that it is a delivery report: the bounce rules' facts for ``domain.classify``.

``domain.classify`` asks this module, for one :class:`InboundMail`, whether it
has the structure of a delivery report (RFC 3464/6522), a mail system's
sender, a null envelope sender, an ``X-Failed-Recipients`` header or a
non-delivery subject, and turns the answers into its ``bounce-*`` rules.
``mail.bounces`` uses the same evidence to decide whether to scan a message
for failing recipients. Pure: no I/O.

The subject table is data: each entry is an anchored pattern (it must start
the subject, after optional spaces and asterisks) and the class it suggests.
A subject that only *mentions* such words ("Re: the undeliverable pouch",
"Fwd: Undeliverable: ...") does not match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from mailbot.domain.types import InboundMail, MailClass

#: Local parts that only mail systems send from (compared lower-case).
DAEMON_LOCAL_PARTS = frozenset(
    {
        "mailer-daemon",
        "mailerdaemon",
        "mail-daemon",
        "maildaemon",
        "postmaster",
        "post_master",
        "ndr",
        "mdaemon",
    }
)

#: Display names that mail systems and gateways sign their notices with (lower-case).
DAEMON_NAMES = frozenset(
    {
        "mailer-daemon",
        "mailer daemon",
        "mail delivery system",
        "mail delivery subsystem",
        "mail deliver system",
        "mail administrator",
        "mail system",
        "system administrator",
        "postmaster",
        "delivery status notification",
        "microsoft outlook",
    }
)

_DAEMON_WORD = re.compile(
    r"(?<![\w.+-])(?:mailer-?daemon|mail-?daemon|postmaster|post_master)(?![\w-])",
    re.IGNORECASE,
)

#: Report types of ``multipart/report`` that are not delivery reports (RFC 3798, RFC 5965).
OTHER_REPORT_TYPES = frozenset({"disposition-notification", "feedback-report"})

B = MailClass.BOUNCE
A = MailClass.AUTO_REPLY

#: Subjects of non-delivery reports and gateway notices, as data: (anchored pattern, class).
#: Each pattern is matched case-insensitively at the start of the subject.
NONDELIVERY_SUBJECTS: tuple[tuple[str, MailClass], ...] = (
    # English
    (r"returned mail\s*-\s*error during delivery\b", B),
    (r"undeliver(?:able|ed)\b", B),
    (r"returned mail\b", B),
    (r"mail returned\b", B),
    (r"delivery status notification\b", B),
    (r"delivery status(?:\s*$|\s*[:(])", B),
    (r"delivery failure notification\b", B),
    (r"delivery (?:has )?failed\b", B),
    (r"delivery failure\b", B),
    (r"delivery notification\s*:\s*delivery has failed", B),
    (r"mail delivery (?:failed|failure|problem|error)\b", B),
    (r"message delivery (?:has )?failed\b", B),
    (r"message (?:not delivered|could not be delivered|undeliverable)\b", B),
    (r"mail could not be delivered\b", B),
    (r"could not (?:send|deliver) (?:your )?(?:message|mail)\b", B),
    (r"there was an error sending your mail\b", B),
    (r"failure notice\b", B),
    (r"non[- ]?delivery (?:report|notification)\b", B),
    (r"notice\s*:\s*mail delivery status\b", B),
    (r"warning\s*:\s*could not send message\b", B),
    (r"message you sent blocked\b", B),
    (r"error during delivery\b", B),
    # gateway and antivirus notices: automatic, not delivery reports
    (r"virus (?:alert|found|detected|warning)\b", A),
    (r"\[?virus\]?\s*(?:notification|notice)\b", A),
    (r"banned content\b", A),
    (r"(?:email|mail|message) (?:quarantined|blocked by)\b", A),
    # French
    (r"non remis\b", B),
    (r"non distribuable\b", B),
    (r"message non d[ée]livr[ée]\b", B),
    (r"[ée]chec (?:de (?:la )?)?(?:remise|livraison|distribution)\b", B),
    (r"notification d'[ée]tat de (?:la )?remise\b", B),
    (r"courrier (?:non remis|retourn[ée])\b", B),
    # German
    (r"unzustellbar", B),
    (r"nicht zustellbar\b", B),
    (r"zustellung fehlgeschlagen\b", B),
    (r"fehler bei der zustellung\b", B),
    (r"benachrichtigung zum [üu]bermittlungsstatus\b", B),
    # Spanish, Portuguese
    (r"no se puede entregar\b", B),
    (r"no se pudo entregar\b", B),
    (r"no entregado\b", B),
    (r"no entregable\b", B),
    (r"notificaci[óo]n de estado de entrega\b", B),
    (r"error en la entrega\b", B),
    (r"n[ãa]o (?:foi poss[íi]vel )?entregue?\b", B),
    (r"n[ãa]o [ée] poss[íi]vel entregar\b", B),
    # Italian
    (r"non recapitabile\b", B),
    (r"impossibile recapitare\b", B),
    (r"mancato recapito\b", B),
    (r"notifica (?:sullo stato|di mancato) (?:della )?(?:consegna|recapito)\b", B),
    # Dutch, Scandinavian, Polish, Czech, Turkish
    (r"onbestelbaar\b", B),
    (r"niet (?:bezorgd|afgeleverd)\b", B),
    (r"olevererbar(?:t)?\b", B),
    (r"kan ikke leveres\b", B),
    (r"ikke levert\b", B),
    (r"niedostarczalne\b", B),
    (r"nie mo[żz]na dostarczy[ćc]\b", B),
    (r"nedoru[čc]iteln[áée]\b", B),
    (r"teslim edilemedi\b", B),
    # Russian, Ukrainian
    (r"недоставленное сообщение", B),
    (r"не доставлено", B),
    (r"сообщение не доставлено", B),
    (r"ошибка доставки", B),
    (r"повідомлення не доставлено", B),
    # Chinese, Japanese, Korean
    (r"未送达", B),
    (r"退信", B),
    (r"系统退信", B),
    (r"無法傳遞", B),
    (r"无法投递", B),
    (r"配信(?:不能|エラー|に失敗)", B),
    (r"メール配信に失敗", B),
    (r"メッセージを配信できません", B),
    (r"배달 (?:실패|되지 않음)", B),
)

_SUBJECT_PATTERNS: tuple[tuple[re.Pattern[str], MailClass], ...] = tuple(
    (re.compile(r"^[\s*]*(?:" + pattern + r")", re.IGNORECASE), kind)
    for pattern, kind in NONDELIVERY_SUBJECTS
)

#: All of the table in one pattern: most subjects are rejected by this single match.
_ANY_SUBJECT = re.compile(
    r"^[\s*]*(?:" + "|".join(f"(?:{pattern})" for pattern, _kind in NONDELIVERY_SUBJECTS) + r")",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence that a message is a delivery report."""

    note: str
    strong: bool = True  # False: a person could have written it (decides only for strangers)


def _content_type_param(mail: InboundMail, param: str) -> str | None:
    value = mail.header("content-type")
    if value is None:
        return None
    holder = Message()
    holder["Content-Type"] = value
    found = holder.get_param(param)
    return found.strip().lower() if isinstance(found, str) else None


def dsn_structure(mail: InboundMail) -> Evidence | None:
    """``multipart/report`` for delivery status (any spelling, or no report-type at all)."""
    if mail.content_type.lower() != "multipart/report":
        return None
    report_type = (_content_type_param(mail, "report-type") or "").strip("\"' ").replace("_", "-")
    if report_type == "delivery-status":
        return Evidence("multipart/report with report-type=delivery-status (RFC 3464)")
    if not report_type:
        return Evidence("multipart/report without a report-type: a mail system's report")
    if report_type in OTHER_REPORT_TYPES:
        return None
    if "deliver" in report_type:
        return Evidence(f"multipart/report with report-type={report_type}")
    return None


def null_return_path(mail: InboundMail) -> str | None:
    """The ``Return-Path`` that says the envelope sender was null (``<>``, empty, ``<MAILER-DAEMON>``)."""
    for value in mail.header_all("return-path"):
        compact = value.replace(" ", "").strip()
        if compact in ("<>", "", "<<>>") or _DAEMON_WORD.fullmatch(compact.strip("<>")):
            return compact or "(empty)"
    return None


def _local_part(address: str) -> str:
    return address.rpartition("@")[0] if "@" in address else address


def daemon_sender(mail: InboundMail, sender: str) -> Evidence | None:
    """A From line that a mail system wrote: its address, an unreadable daemon line, or its name."""
    local = _local_part(sender)
    if sender and local in DAEMON_LOCAL_PARTS:
        return Evidence(f"From {sender} is a mail system address")
    raw = " ".join(mail.header_all("from")).strip()
    if not sender and raw and (_DAEMON_WORD.search(raw) or _names_daemon(raw)):
        return Evidence(f"From line {raw[:80]!r} cannot be read and names a mail system")
    name = " ".join(mail.from_name.replace('"', " ").split()).lower()
    if name in DAEMON_NAMES or _DAEMON_WORD.fullmatch(name):
        return Evidence(f"From is signed {mail.from_name.strip()!r}, a mail system's name", strong=False)
    return None


def _names_daemon(raw: str) -> bool:
    lowered = " ".join(raw.replace('"', " ").lower().split())
    return any(lowered.startswith(name) for name in DAEMON_NAMES)


def failed_recipients_header(mail: InboundMail) -> tuple[str, ...]:
    """The addresses of ``X-Failed-Recipients`` (Exim and others), lower-cased."""
    out: list[str] = []
    for value in mail.header_all("x-failed-recipients"):
        for item in re.split(r"[,\s]+", value):
            address = item.strip().strip("<>").lower()
            if "@" in address and address not in out:
                out.append(address)
    return tuple(out)


def nondelivery_subject(subject: str) -> tuple[str, MailClass] | None:
    """The start of ``subject`` when it is a non-delivery or gateway notice subject, and its class."""
    if not _ANY_SUBJECT.match(subject):
        return None
    for pattern, kind in _SUBJECT_PATTERNS:
        match = pattern.match(subject)
        if match:
            return match.group(0).strip(" *"), kind
    return None


def bounce_evidence(mail: InboundMail) -> bool:
    """Whether anything about ``mail`` suggests a delivery report (worth scanning for recipients)."""
    sender = mail.from_addr.strip().lower()
    return bool(
        dsn_structure(mail)
        or null_return_path(mail)
        or daemon_sender(mail, sender)
        or failed_recipients_header(mail)
        or nondelivery_subject(mail.subject)
    )
