"""Raw bytes -> the recipients a bounce reports as failing: the bounce adapter of intake.

Intake calls :func:`bounce_info` (or :func:`bounced_addresses`) on the raw
message and passes the addresses to ``domain.classify``, whose
``bounce-addresses`` rule records them. The detection itself is flufl.bounce's
(RFC 3464 DSNs first, then heuristics for Exim, qmail, Exchange, ...), plus
the forms it misses: the ``X-Failed-Recipients`` header and gateway reports'
``Failed Recipient:`` lines. :func:`looks_like_bounce` says whether a parsed
message is worth scanning at all (the evidence of ``domain.bounces``). Hostile
or odd input never raises here: it yields no addresses.

Only the first :data:`SCAN_LIMIT` bytes are scanned. A delivery report puts
its human-readable and machine-readable parts first and the returned message
last (RFC 3464), and flufl.bounce's heuristic detectors take time that grows
faster than the message (about a minute for 30 MB of attachment).
"""

from __future__ import annotations

import email
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy

from flufl.bounce import all_failures

from mailbot.domain.bounces import bounce_evidence
from mailbot.domain.types import InboundMail

#: flufl.bounce logs every detector it runs at INFO and a traceback when one fails.
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

#: Bytes of a message that are scanned for a bounce report.
SCAN_LIMIT = 256 * 1024


@dataclass(frozen=True)
class BounceInfo:
    """Failing recipients reported by a bounce, lower-cased and sorted within each group."""

    permanent: tuple[str, ...] = ()
    temporary: tuple[str, ...] = ()

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every failing recipient, permanent failures first."""
        return tuple(dict.fromkeys(self.permanent + self.temporary))

    def __bool__(self) -> bool:
        return bool(self.permanent or self.temporary)


def _addresses(found: Iterable[bytes | str]) -> tuple[str, ...]:
    out: set[str] = set()
    for item in found:
        text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
        text = text.strip().strip("<>").strip().lower()
        if "@" in text:
            out.add(text)
    return tuple(sorted(out))


_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
#: "Failed Recipient: a@b" / "Failed Recipients: a@b, c@d" lines of gateway reports.
_FAILED_LINE = re.compile(r"^[ \t>]*failed[ \t]+recipients?[ \t]*:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE)


def _text_parts(msg: email.message.Message) -> list[str]:
    """The decoded text/plain parts outside any returned message (message/rfc822 is skipped)."""
    out: list[str] = []
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.get_content_type() == "message/rfc822":
            continue
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend(p for p in reversed(payload) if isinstance(p, email.message.Message))
            continue
        if part.get_content_type() == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                out.append(data.decode(part.get_content_charset() or "utf-8", "replace"))
    return out


def _extra_failures(msg: email.message.Message) -> list[str]:
    """Addresses of ``X-Failed-Recipients`` and of ``Failed Recipient:`` lines."""
    found: list[str] = []
    for value in msg.get_all("X-Failed-Recipients") or []:
        found.extend(_ADDRESS.findall(str(value)))
    for text in _text_parts(msg):
        for line in _FAILED_LINE.findall(text):
            found.extend(_ADDRESS.findall(line))
    return found


def _head(raw: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes of ``raw``, cut at a line end."""
    if len(raw) <= limit:
        return raw
    cut = raw.rfind(b"\n", 0, limit)
    return raw[: cut + 1] if cut > 0 else raw[:limit]


def bounce_info(raw: bytes, limit: int = SCAN_LIMIT) -> BounceInfo:
    """What flufl.bounce finds in the first ``limit`` bytes of ``raw``; empty on any error."""
    try:
        msg = email.message_from_bytes(_head(raw, limit), policy=policy.compat32)
        temporary, permanent = all_failures(msg)
        perm = _addresses([*permanent, *_extra_failures(msg)])
        temp = tuple(a for a in _addresses(temporary) if a not in perm)
    except Exception:  # a detector choking on hostile input means "no bounce found"
        return BounceInfo()
    return BounceInfo(permanent=perm, temporary=temp)


def looks_like_bounce(mail: InboundMail) -> bool:
    """Whether ``mail`` carries any bounce evidence, so its raw bytes are worth scanning."""
    return bounce_evidence(mail)


def bounced_addresses(raw: bytes, limit: int = SCAN_LIMIT) -> tuple[str, ...]:
    """Every failing recipient in ``raw``, lower-cased, permanent failures first; never raises."""
    return bounce_info(raw, limit).addresses
