"""Who really wrote: the sender of a message, and whether our receiving servers proved it.

Read by classification before any rule that acts on a sender's identity.
Pure: it reads the header fields of a parsed message (top first, as
received) and the desk's settings; DKIM signatures the desk verifies itself
are checked by ``mail.dkim``, which hands its verdict back as a
:class:`Proof` of the same shape.

The rules (RFC 8601 section 5, RFC 7489 section 3.1):

* **One sender.** A message has exactly one ``From`` field holding exactly
  one mailbox, or it has no sender the desk can prove.
* **Only our servers' results count.** Our receiving server adds its
  ``Authentication-Results`` above the ``Received`` field it writes for the
  message, so fields are read from the top down and those carrying one of our
  authserv-ids count until the first ``Received`` field not written by one of
  our inner relays (the mailbox server's LMTP delivery, say): that field is
  the border, and anything below it came with the message from outside,
  whatever server it names.
* **Aligned.** ``dmarc=pass`` for the From domain, or ``dkim=pass`` whose
  signing domain (``header.d``) has the same organizational domain as the
  From domain (relaxed alignment). SPF alone proves nothing about the From
  line. A trusted ``dmarc=fail`` for the From domain outweighs everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email import policy
from functools import lru_cache

from authres import AuthenticationResultsHeader
from publicsuffixlist import PublicSuffixList

#: ``Received: ... by host.example ...``: the host that wrote the field.
_RECEIVED_BY = re.compile(r"(?:^|[\s;)])by\s+\[?([A-Za-z0-9.:_-]+)\]?", re.IGNORECASE)
_COMMENT = re.compile(r"\([^()]*\)")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")


@dataclass(frozen=True)
class MethodResult:
    """One result of a trusted ``Authentication-Results`` field."""

    server: str  # the authserv-id that wrote it
    method: str  # dkim | dmarc | spf | ...
    result: str  # pass | fail | none | ...
    properties: tuple[tuple[str, str], ...] = ()  # ("header.d", "example.org"), ...

    def prop(self, name: str) -> str:
        return next((v for k, v in self.properties if k == name), "")


@dataclass(frozen=True)
class Proof:
    """Whether the sender is proven, by what, and what was set aside as forged."""

    sender: str | None  # the one From mailbox, lower-cased; None when there is not exactly one
    verified: bool
    how: str  # "dmarc=pass for good.example (mx.example)", or why not
    forged: tuple[str, ...] = field(default=())  # fields naming our servers, below the line
    spoke: bool = False  # our servers gave a DMARC or DKIM verdict (whichever way)

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2] if self.sender else ""


def single_sender(headers: Sequence[tuple[str, str]]) -> str | None:
    """The one mailbox of the one ``From`` field, lower-cased; None for zero, several, or a
    field the strict parser finds defects in (``officer@un.org <attacker@evil.test>``)."""
    values = [v for n, v in headers if n.lower() == "from"]
    if len(values) != 1:
        return None
    try:
        field = policy.default.header_factory("from", values[0])
    except Exception:  # the parser's own failure on hostile input: no sender
        return None
    # any defect means a reader could take another address than we do: no sender
    if field.defects or len(field.addresses) != 1:
        return None
    address = field.addresses[0].addr_spec.strip().lower()
    return address if _ADDRESS.match(address) else None


def received_by(value: str) -> str:
    """The host named in a ``Received`` field's ``by`` clause, lower-cased ('' when none)."""
    clauses = value.split(";")[0]
    while (stripped := _COMMENT.sub(" ", clauses)) != clauses:  # nested comments, inner first
        clauses = stripped
    match = _RECEIVED_BY.search(clauses)
    return match.group(1).lower().rstrip(".") if match else ""


def trusted_results(headers: Sequence[tuple[str, str]], authserv_ids: Iterable[str],
                    relays: Iterable[str] = ()) -> tuple[tuple[MethodResult, ...], tuple[str, ...]]:
    """Our servers' results, and the fields naming them that stand below the border (forged).

    ``relays`` are the hosts of ours whose ``Received`` fields stand above the
    receiving server's (for example the mailbox server delivering over LMTP).
    """
    ours = {a.lower() for a in authserv_ids}
    hosts = {r.lower() for r in relays}
    trusted: list[MethodResult] = []
    forged: list[str] = []
    outside = False
    for name, value in headers:
        lower = name.lower()
        if lower == "received" and received_by(value) not in hosts:
            outside = True
        elif lower == "authentication-results":
            parsed = _parse(value)
            if parsed is None or parsed[0] not in ours:
                continue
            if outside:
                forged.append(value)
            else:
                trusted.extend(parsed[1])
    return tuple(trusted), tuple(forged)


def _parse(value: str) -> tuple[str, list[MethodResult]] | None:
    try:
        header = AuthenticationResultsHeader.parse_value(value)
    except Exception:  # a field the library cannot read is a field that proves nothing
        return None
    server = str(header.authserv_id or "").lower()
    results = [MethodResult(server, str(r.method).lower(), str(r.result).lower(),
                            tuple((f"{p.type}.{p.name}".lower(), str(p.value).lower())
                                  for p in r.properties))
               for r in header.results]
    return server, results


@lru_cache(maxsize=1)
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=4096)
def organizational_domain(domain: str) -> str:
    """``example.org`` for ``mission.paris.example.org`` (the Public Suffix List's rule)."""
    domain = domain.lower().rstrip(".")
    return _suffixes().privatesuffix(domain) or domain


def aligned(signing_domain: str, from_domain: str) -> bool:
    """Relaxed alignment: both domains share their organizational domain."""
    if not signing_domain or not from_domain:
        return False
    return organizational_domain(signing_domain) == organizational_domain(from_domain)


def judge(sender: str | None, results: Sequence[MethodResult],
          forged: Sequence[str] = ()) -> Proof:
    """Whether ``results`` prove ``sender``; see the module's rules."""
    spoke = any(r.method in ("dmarc", "dkim") and r.result != "none" for r in results)
    proof = _judge(sender, results, tuple(forged))
    return Proof(proof.sender, proof.verified, proof.how, proof.forged, spoke)


def _judge(sender: str | None, results: Sequence[MethodResult], forged: tuple[str, ...]) -> Proof:
    if sender is None:
        return Proof(None, False, "not exactly one From mailbox", forged)
    domain = sender.rpartition("@")[2]
    dmarc = [r for r in results if r.method == "dmarc" and r.prop("header.from") in ("", domain)]
    if any(r.result == "fail" for r in dmarc):
        return Proof(sender, False, f"dmarc=fail for {domain}", forged)
    for r in dmarc:
        if r.result == "pass":
            return Proof(sender, True, f"dmarc=pass for {domain} ({r.server})", forged)
    for r in results:
        if r.method == "dkim" and r.result == "pass" and aligned(r.prop("header.d"), domain):
            return Proof(sender, True, f"dkim=pass d={r.prop('header.d')} ({r.server})", forged)
    return Proof(sender, False, "no aligned dmarc or dkim pass from our servers", forged)


def prove(headers: Sequence[tuple[str, str]], authserv_ids: Iterable[str],
          relays: Iterable[str] = ()) -> Proof:
    """The sender of a message with these header fields (top first), proven or not."""
    results, forged = trusted_results(headers, authserv_ids, relays)
    return judge(single_sender(headers), results, forged)
