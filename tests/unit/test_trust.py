"""Proving the sender (domain.trust): the forged-sender attacks, field by field."""

from __future__ import annotations

import pytest

from mailbot.domain.trust import aligned, organizational_domain, prove, received_by, single_sender

MX = "mx.example.test"
OURS_RECEIVED = ("received", "from outside.test (outside.test [192.0.2.1]) by mx.example.test "
                 "(Postfix) with ESMTPS id 4AB; Sun, 6 Dec 2026 10:00:00 +0000")
LMTP_RECEIVED = ("received", "from mx.example.test by imap.example.test (Dovecot) with LMTP; "
                 "Sun, 6 Dec 2026 10:00:01 +0000")
FOREIGN_RECEIVED = ("received", "from laptop by smtp.evil.test (Postfix) with ESMTP id 99; "
                    "Sun, 6 Dec 2026 09:59:00 +0000")


def ar(text: str) -> tuple[str, str]:
    return ("authentication-results", text)


def message(*fields: tuple[str, str], sender: str = "officer@example.test") -> list[tuple[str, str]]:
    """Header fields top first, as the receiving server leaves them."""
    return [*fields, ("from", sender), ("subject", "#waive DCM-2026-0001")]


CASES = [
    # (what, fields above From, From, verified, sender, stopped by)
    ("no Authentication-Results at all",
     [OURS_RECEIVED, FOREIGN_RECEIVED], "officer@example.test", False, "officer@example.test", ""),
    ("the sender wrote our server's result itself",
     [OURS_RECEIVED, ar(f"{MX}; dkim=pass header.d=example.test"), FOREIGN_RECEIVED],
     "officer@example.test", False, "officer@example.test", "forged"),
    ("a trusted dkim=fail next to a forged dkim=pass",
     [ar(f"{MX}; dkim=fail header.d=example.test"), OURS_RECEIVED,
      ar(f"{MX}; dkim=pass header.d=example.test"), FOREIGN_RECEIVED],
     "officer@example.test", False, "officer@example.test", "forged"),
    ("two mailboxes in From",
     [ar(f"{MX}; dmarc=pass header.from=evil.test"), OURS_RECEIVED],
     "officer@example.test, attacker@evil.test", False, None, ""),
    ("the officer's address before the attacker's, unquoted",
     [ar(f"{MX}; dkim=pass header.d=evil.test; dmarc=pass header.from=evil.test"), OURS_RECEIVED],
     "officer@example.test <attacker@evil.test>", False, None, ""),
    ("the officer's address as a quoted display name",
     [ar(f"{MX}; dkim=pass header.d=evil.test; dmarc=pass header.from=evil.test"), OURS_RECEIVED],
     '"officer@example.test" <attacker@evil.test>', True, "attacker@evil.test", ""),
    ("a trusted dmarc=pass for the From domain",
     [ar(f"{MX}; dmarc=pass (p=reject) header.from=example.test"), OURS_RECEIVED],
     "Officer <Officer@Example.test>", True, "officer@example.test", ""),
    ("a dmarc=pass for another domain",
     [ar(f"{MX}; dmarc=pass header.from=evil.test"), OURS_RECEIVED],
     "officer@example.test", False, "officer@example.test", ""),
    ("an aligned dkim=pass from a subdomain",
     [ar(f"{MX}; dkim=pass header.d=mail.example.test header.s=s1"), OURS_RECEIVED],
     "officer@example.test", True, "officer@example.test", ""),
    ("a dkim=pass from a look-alike domain",
     [ar(f"{MX}; dkim=pass header.d=example.test.evil.test"), OURS_RECEIVED],
     "officer@example.test", False, "officer@example.test", ""),
    ("SPF alone",
     [ar(f"{MX}; spf=pass smtp.mailfrom=example.test"), OURS_RECEIVED],
     "officer@example.test", False, "officer@example.test", ""),
    ("dmarc=fail outweighs an aligned dkim=pass",
     [ar(f"{MX}; dkim=pass header.d=example.test; dmarc=fail header.from=example.test"),
      OURS_RECEIVED], "officer@example.test", False, "officer@example.test", ""),
    ("another server's result, even a pass",
     [ar("mx.elsewhere.test; dmarc=pass header.from=example.test"), OURS_RECEIVED],
     "officer@example.test", False, "officer@example.test", ""),
    ("our result under our mailbox server's own Received field",
     [LMTP_RECEIVED, ar(f"{MX}; dmarc=pass header.from=example.test"), OURS_RECEIVED],
     "officer@example.test", True, "officer@example.test", ""),
    ("an unreadable result field",
     [ar(f"{MX}; ;;= dmarc"), OURS_RECEIVED], "officer@example.test", False, "officer@example.test", ""),
]


@pytest.mark.parametrize(("what", "fields", "from_", "verified", "sender", "stopped"), CASES,
                         ids=[c[0] for c in CASES])
def test_proof(what: str, fields: list[tuple[str, str]], from_: str, verified: bool,
               sender: str | None, stopped: str) -> None:
    proof = prove(message(*fields, sender=from_), [MX], relays=["imap.example.test"])
    assert (proof.verified, proof.sender) == (verified, sender), proof.how
    assert bool(proof.forged) == (stopped == "forged")


def test_without_the_relay_our_results_under_its_field_are_not_trusted() -> None:
    fields = message(LMTP_RECEIVED, ar(f"{MX}; dmarc=pass header.from=example.test"), OURS_RECEIVED)
    assert not prove(fields, [MX]).verified


@pytest.mark.parametrize(("fields", "expected"), [
    ([("from", "a@example.test")], "a@example.test"),
    ([("from", "A <A@Example.TEST>")], "a@example.test"),
    ([("from", "a@example.test"), ("from", "b@example.test")], None),
    ([("from", "a@example.test, b@example.test")], None),
    ([("from", "undisclosed-recipients:;")], None),
    ([("from", "Postmaster <>")], None),
    ([("from", "<Postmaster\\@example.com@xxx.com>")], None),
    ([("from", "no address here")], None),
    ([("from", "a@b@c.test")], None),
    ([("from", "=?utf-8?q?officer=40example=2Etest?= <attacker@evil.test>")], "attacker@evil.test"),
    ([], None),
])
def test_single_sender(fields: list[tuple[str, str]], expected: str | None) -> None:
    assert single_sender(fields) == expected


def test_received_by_reads_the_by_clause_only() -> None:
    assert received_by(OURS_RECEIVED[1]) == "mx.example.test"
    assert received_by("from by.example.test ([192.0.2.1]) by mx.example.test; date") == "mx.example.test"
    assert received_by("from a.test; by mx.example.test") == ""  # after the date: not a clause
    assert received_by("(qmail 123 invoked by uid 0)") == ""


def test_organizational_domains() -> None:
    assert organizational_domain("mission.paris.diplomatie.gouv.fr") == "diplomatie.gouv.fr"
    assert organizational_domain("un.org") == "un.org"
    assert organizational_domain("mfa.gov.uk") == "mfa.gov.uk"
    assert aligned("mail.un.org", "un.org")
    assert not aligned("un.org.evil.test", "un.org")
    assert not aligned("", "un.org")
