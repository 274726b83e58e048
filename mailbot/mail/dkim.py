"""The desk's own DKIM check, for mail our receiving servers gave no verdict on.

Called by intake when no trusted ``Authentication-Results`` field speaks for
the From domain (``domain.trust``): each ``DKIM-Signature`` of the raw
message is verified with dkimpy, its key looked up in DNS through dnspython
within a time limit, and the first valid signature whose domain aligns with
the From domain proves the sender. A look-up that times out or fails proves
nothing (the desk then confirms by a round trip instead).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import dkim

from mailbot.domain.trust import MethodResult, aligned

log = logging.getLogger("mailbot.dkim")

#: A key look-up: (name, timeout=) -> the TXT record's bytes, or None.
KeyLookup = Callable[..., bytes | None]
SERVER = "mailbot"  # the "server" of the results the desk finds itself


def signature_count(raw: bytes) -> int:
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return sum(1 for line in head.splitlines() if line[:15].lower() == b"dkim-signature:")


def verify(raw: bytes, from_domain: str, *, timeout: float = 5.0,
           lookup: KeyLookup | None = None, max_signatures: int = 5) -> MethodResult:
    """``dkim=pass`` with ``header.d`` for the first valid, aligned signature; else why not."""
    count = min(signature_count(raw), max_signatures)
    if count == 0:
        return MethodResult(SERVER, "dkim", "none")
    checker = dkim.DKIM(raw, timeout=timeout, logger=log)
    seen = "fail"
    for index in range(count):
        result, domain = _one(checker, index, lookup)
        if result == "pass" and aligned(domain, from_domain):
            return MethodResult(SERVER, "dkim", "pass", (("header.d", domain),))
        if result == "pass":
            seen = "pass-unaligned"
        elif result == "temperror" and seen == "fail":
            seen = "temperror"
    return MethodResult(SERVER, "dkim", seen)


def _one(checker: dkim.DKIM, index: int, lookup: KeyLookup | None) -> tuple[str, str]:
    timed_out = False
    base = lookup or dkim.dnsplug.get_txt

    def watched(name: bytes | str, timeout: float = 5) -> bytes | None:
        nonlocal timed_out
        try:
            return base(name, timeout=timeout)
        except dkim.DnsTimeoutError:  # dkimpy takes it for "no key": we say "try later"
            timed_out = True
            raise

    try:
        ok = checker.verify(idx=index, dnsfunc=watched)
    except (dkim.DKIMException, ValueError, IndexError, KeyError, UnicodeError) as exc:
        log.info("dkim signature %d unreadable: %s", index, exc)
        return "fail", ""
    if timed_out:
        return "temperror", ""
    domain = (checker.domain or b"").decode("ascii", "replace").lower()
    return ("pass" if ok else "fail"), domain
