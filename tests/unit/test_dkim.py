"""The desk's own DKIM check (mail.dkim) on mail signed with a real key."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import dkim
import pytest

from mailbot.mail.dkim import verify

MESSAGE = (b"From: Focal Point <focal@mission.good.test>\r\n"
           b"To: desk@example.test\r\n"
           b"Subject: Report of a serious violation\r\n"
           b"Message-ID: <1@mission.good.test>\r\n"
           b"\r\n"
           b"Date of the violation: 20 November 2026\r\n")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A 2048-bit RSA key: (private PEM, the TXT record publishing its public half)."""
    where: Path = tmp_path_factory.mktemp("dkim")
    private = where / "private.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(private), "2048"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
                            check=True, capture_output=True).stdout
    return private.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def signed(private: bytes, domain: bytes = b"good.test", message: bytes = MESSAGE) -> bytes:
    signature = dkim.sign(message, b"sel", domain, private, include_headers=[b"from", b"subject", b"to"])
    return signature + message


def dns(record: bytes, name: str = "sel._domainkey.good.test."):
    def lookup(qname: bytes | str, timeout: float = 5) -> bytes | None:
        text = qname.decode() if isinstance(qname, bytes) else qname
        return record if text.rstrip(".") == name.rstrip(".") else None
    return lookup


def test_a_valid_aligned_signature_proves_the_sender(key: tuple[bytes, bytes]) -> None:
    result = verify(signed(key[0]), "mission.good.test", lookup=dns(key[1]))
    assert (result.result, result.prop("header.d")) == ("pass", "good.test")


def test_a_changed_body_fails(key: tuple[bytes, bytes]) -> None:
    raw = signed(key[0]).replace(b"20 November", b"21 November")
    assert verify(raw, "mission.good.test", lookup=dns(key[1])).result == "fail"


def test_a_valid_signature_of_another_domain_does_not_align(key: tuple[bytes, bytes]) -> None:
    raw = signed(key[0], domain=b"evil.test")
    result = verify(raw, "mission.good.test", lookup=dns(key[1], "sel._domainkey.evil.test."))
    assert result.result == "pass-unaligned"


def test_no_signature_no_key_and_a_timeout(key: tuple[bytes, bytes]) -> None:
    assert verify(MESSAGE, "good.test").result == "none"
    assert verify(signed(key[0]), "good.test", lookup=lambda name, timeout=5: None).result == "fail"

    def times_out(name: bytes | str, timeout: float = 5) -> bytes | None:
        raise dkim.DnsTimeoutError("timed out")
    assert verify(signed(key[0]), "good.test", lookup=times_out).result == "temperror"


def test_a_mangled_signature_is_a_failure_not_an_exception(key: tuple[bytes, bytes]) -> None:
    raw = re.sub(rb"b=[A-Za-z0-9+/=\s]+", b"b=!!!", signed(key[0]), count=1)
    assert verify(raw, "good.test", lookup=dns(key[1])).result == "fail"
