"""The loopback mail stack works as the end-to-end tests assume.

Place in the project: integration tests of the test infrastructure itself
(``tests/mailstack``): TLS with the throwaway CA, delivery from Postfix into
Dovecot, IMAP logins and IDLE, refusal of unknown recipients, bounces, and the
users made from ``config/states.toml``. When these fail, the end-to-end tests
of the bot cannot be trusted either.
"""

from __future__ import annotations

import email.policy
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from mailstack.stack import (
    BOT_ADDRESS,
    BOT_FOLDERS,
    BOUNCE_DOMAIN,
    FALLBACK_STATE_CODES,
    OFFICER_ADDRESS,
    SECRETARIAT_ADDRESS,
    UNDELIVERABLE_ADDRESS,
    MailStack,
    focal_point_address,
    load_state_codes,
    password_for,
)

FOCAL_POINT = focal_point_address("FRA")


def _message(sender: str, recipient: str, subject: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject or f"Test {uuid.uuid4().hex}"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.test>"
    message.set_content("Report of an incident at the mission.\n")
    return message


def _parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=email.policy.default).parsebytes(raw)


# -- TLS and logins -----------------------------------------------------------------------


def test_smtp_starttls_is_verified_against_the_throwaway_ca(mailstack: MailStack) -> None:
    with smtplib.SMTP(mailstack.host, mailstack.smtp_port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("starttls")
        assert not client.has_extn("auth"), "AUTH must only be offered after STARTTLS"
        client.starttls(context=mailstack.ssl_context())
        client.ehlo()
        assert client.has_extn("auth")
        sock = client.sock
        assert isinstance(sock, ssl.SSLSocket)
        certificate = sock.getpeercert()
        assert certificate is not None
        assert "Mailstack Test CA" in str(certificate["issuer"])


def test_smtp_starttls_fails_without_the_ca(mailstack: MailStack) -> None:
    untrusting = ssl.create_default_context()  # system CAs only
    with (
        smtplib.SMTP(mailstack.host, mailstack.smtp_port, timeout=10) as client,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        client.starttls(context=untrusting)


def test_smtps_and_smtp_auth(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    context = stack.ssl_context()
    with smtplib.SMTP_SSL(stack.host, stack.smtps_port, context=context, timeout=10) as client:
        client.login(BOT_ADDRESS, stack.users[BOT_ADDRESS])
        client.send_message(_message(BOT_ADDRESS, FOCAL_POINT, "over SMTPS"))
    stack.send(_message(BOT_ADDRESS, FOCAL_POINT, "over STARTTLS"), BOT_ADDRESS, FOCAL_POINT,
               auth_as=BOT_ADDRESS)  # fmt: skip
    subjects = {_parse(raw)["Subject"] for raw in stack.wait_for(FOCAL_POINT, 2)}
    assert subjects == {"over SMTPS", "over STARTTLS"}


def test_imap_starttls_and_imaps_logins(mailstack: MailStack) -> None:
    for implicit_tls in (False, True):
        with mailstack.imap(OFFICER_ADDRESS, implicit_tls=implicit_tls) as client:
            assert isinstance(client.socket(), ssl.SSLSocket)
            assert b"IDLE" in client.capabilities()
            client.select_folder("INBOX", readonly=True)


def test_imap_refuses_a_wrong_password(mailstack: MailStack) -> None:
    with IMAPClient(mailstack.host, port=mailstack.imap_port, ssl=False, timeout=10) as client:
        client.starttls(mailstack.ssl_context())
        with pytest.raises(LoginError):
            client.login(OFFICER_ADDRESS, "not-the-password")
    with pytest.raises(ValueError):
        mailstack.imap("stranger@example.test")


# -- delivery ---------------------------------------------------------------------------


def test_mail_lands_in_the_recipients_inbox(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    message = _message(FOCAL_POINT, BOT_ADDRESS)
    assert stack.send(message, FOCAL_POINT, [BOT_ADDRESS]) == {}
    [raw] = stack.wait_for(BOT_ADDRESS, 1)
    received = _parse(raw)
    assert received["Message-ID"] == message["Message-ID"]
    assert received["Subject"] == message["Subject"]
    assert received["Delivered-To"] == BOT_ADDRESS
    assert received["Return-Path"] == f"<{FOCAL_POINT}>"
    assert stack.fetch_all(FOCAL_POINT) == []


def test_plus_token_reaches_the_base_mailbox(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    tagged = "mailbot+dcm-2026-0007@example.test"
    stack.send(_message(FOCAL_POINT, tagged), FOCAL_POINT, tagged)
    [raw] = stack.wait_for(BOT_ADDRESS, 1)
    assert _parse(raw)["Delivered-To"] == tagged


def test_bot_folders_exist_for_every_user(clean_mailboxes: MailStack) -> None:
    for user in (BOT_ADDRESS, FOCAL_POINT):
        counts = clean_mailboxes.folder_counts(user)
        assert set(BOT_FOLDERS) | {"INBOX"} <= set(counts)
        assert set(counts.values()) == {0}


def test_idle_notifies_new_mail(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    with stack.imap(BOT_ADDRESS) as client:
        client.select_folder("INBOX")
        client.idle()
        try:
            sent_at = time.monotonic()
            stack.send(_message(OFFICER_ADDRESS, BOT_ADDRESS), OFFICER_ADDRESS, BOT_ADDRESS)
            responses: list[tuple[object, ...]] = []
            while not any(b"EXISTS" in response for response in responses):
                assert time.monotonic() - sent_at < 5, f"no EXISTS after 5 s: {responses}"
                responses += client.idle_check(timeout=1)
        finally:
            client.idle_done()


# -- refusals, discards and bounces -----------------------------------------------------


def test_unknown_recipient_is_refused_at_rcpt(mailstack: MailStack) -> None:
    with mailstack.smtp() as client:
        client.ehlo()
        assert client.mail(OFFICER_ADDRESS)[0] == 250
        code, reply = client.rcpt("nobody@example.test")
        assert code == 550, reply
        assert b"User unknown" in reply
        assert client.rcpt(SECRETARIAT_ADDRESS)[0] == 250
        client.rset()


def test_other_domains_are_discarded_not_delivered(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    outside = f"desk-{uuid.uuid4().hex[:8]}@mission.invalid"
    assert stack.send(_message(BOT_ADDRESS, outside), BOT_ADDRESS, outside) == {}
    log = stack.root / "log" / "postfix.log"
    deadline = time.monotonic() + 10
    while f"to=<{outside}>" not in log.read_text():
        assert time.monotonic() < deadline, stack.log_tail()
        time.sleep(0.05)
    [line] = [line for line in log.read_text().splitlines() if f"to=<{outside}>" in line]
    assert "relay=none" in line
    assert "status=sent (outbound mail disabled in tests)" in line
    assert stack.fetch_all(BOT_ADDRESS) == []


def test_make_bounce_returns_a_postfix_dsn_from_the_senders_inbox(
    clean_mailboxes: MailStack,
) -> None:
    stack = clean_mailboxes
    raw = stack.make_bounce(BOT_ADDRESS, subject="Circulation of incident DCM-2026-0007")
    bounce = _parse(raw)
    assert "<MAILER-DAEMON@example.test>" in bounce["From"]
    assert bounce["Return-Path"] == "<>"
    assert bounce.get_content_type() == "multipart/report"
    _notification, status, original = bounce.iter_parts()
    assert status.get_content_type() == "message/delivery-status"
    report = status.as_string()
    assert f"Final-Recipient: rfc822; {UNDELIVERABLE_ADDRESS}" in report
    assert "Status: 5.1.1" in report
    assert original.get_content_type() == "message/rfc822"
    assert "DCM-2026-0007" in original.as_string()
    assert stack.fetch_all(BOT_ADDRESS) == [raw]


def test_make_bounce_through_the_bounce_domain(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    recipient = f"desk@{BOUNCE_DOMAIN}"
    raw = stack.make_bounce(OFFICER_ADDRESS, recipient, keep=False)
    assert f"Final-Recipient: rfc822; {recipient}".encode() in raw
    assert stack.fetch_all(OFFICER_ADDRESS) == []


def test_purge_all_empties_every_folder(clean_mailboxes: MailStack) -> None:
    stack = clean_mailboxes
    stack.send(_message(OFFICER_ADDRESS, BOT_ADDRESS), OFFICER_ADDRESS,
               [BOT_ADDRESS, SECRETARIAT_ADDRESS])  # fmt: skip
    stack.wait_for(SECRETARIAT_ADDRESS, 1)
    stack.wait_for(BOT_ADDRESS, 1)
    with stack.imap(BOT_ADDRESS) as client:
        client.append("Quarantine", _message(FOCAL_POINT, BOT_ADDRESS).as_bytes())
        client.create_folder("Incidents/DCM-2026-0007")
        client.append("Incidents/DCM-2026-0007", _message(FOCAL_POINT, BOT_ADDRESS).as_bytes())
    assert stack.folder_counts(BOT_ADDRESS)["Incidents/DCM-2026-0007"] == 1
    stack.purge_all()
    for user in (BOT_ADDRESS, SECRETARIAT_ADDRESS):
        assert set(stack.folder_counts(user).values()) == {0}


# -- users ------------------------------------------------------------------------------


def test_users_cover_the_secretariat_and_every_state(mailstack: MailStack) -> None:
    codes = load_state_codes()
    assert mailstack.state_codes == codes
    expected = {BOT_ADDRESS, OFFICER_ADDRESS, SECRETARIAT_ADDRESS}
    expected |= {f"fp.{code.lower()}@example.test" for code in codes}
    assert set(mailstack.users) == expected
    assert all(pw == password_for(addr) for addr, pw in mailstack.users.items())
    assert mailstack.users[BOT_ADDRESS] == "pw-mailbot"
    for user in (SECRETARIAT_ADDRESS, focal_point_address(codes[-1])):
        with mailstack.imap(user) as client:
            client.select_folder("INBOX", readonly=True)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, list(FALLBACK_STATE_CODES)),
        ("this is [not toml", list(FALLBACK_STATE_CODES)),
        ("[[state]]\nname = 'no code'\n", list(FALLBACK_STATE_CODES)),
        ("[[state]]\ncode = 'ita'\n[[state]]\ncode = 'PER'\n[[state]]\ncode = 'ITA'\n",
         ["ITA", "PER"]),
    ],
)  # fmt: skip
def test_state_codes_come_from_states_toml_or_the_fallback(
    tmp_path: Path, content: str | None, expected: list[str]
) -> None:
    states_file = tmp_path / "states.toml"
    if content is not None:
        states_file.write_text(content)
    assert load_state_codes(states_file) == expected
    assert len(FALLBACK_STATE_CODES) >= 12


# -- sender verification: real OpenDKIM and OpenDMARC --------------------------------------


def _received_by_the_desk(mailstack: MailStack, message: EmailMessage, **send: object) -> bytes:
    before = len(mailstack.fetch_all(BOT_ADDRESS))
    mailstack.send(message, str(message["From"]).rpartition("<")[2].strip(">") or "x@x.test",
                   BOT_ADDRESS, **send)  # type: ignore[arg-type]
    return mailstack.wait_for(BOT_ADDRESS, before + 1)[-1]


@pytest.mark.parametrize(("sender", "dkim", "verified", "results"), [
    (FOCAL_POINT, "", True, ("dkim=pass", "header.d=example.test", "dmarc=pass")),
    (FOCAL_POINT, None, False, ("dkim=none", "dmarc=fail")),
    ("intruder@evil.test", "", True, ("dkim=pass", "header.d=evil.test")),
    (FOCAL_POINT, "evil.test", False, ("dkim=pass", "header.d=evil.test", "dmarc=fail")),
], ids=["signed by its domain", "unsigned", "an attacker's own domain", "signed by another domain"])
def test_the_verifiers_write_what_the_desk_reads(mailstack: MailStack, sender: str, dkim: str | None,
                                                 verified: bool, results: tuple[str, ...]) -> None:
    from mailbot.domain.trust import prove
    from mailbot.mail.parse import parse_message

    message = _message(sender, BOT_ADDRESS)
    raw = _received_by_the_desk(mailstack, message, dkim=dkim)
    mail = parse_message(raw)
    written = " ".join(mail.header_all("authentication-results"))
    for result in results:
        assert result in written, written
    proof = prove(mail.headers, ["mx.example.test"], relays=["imap.example.test"])
    assert proof.verified is verified, proof.how


def test_a_result_written_by_the_sender_is_never_trusted(mailstack: MailStack) -> None:
    from mailbot.domain.trust import prove
    from mailbot.mail.parse import parse_message

    message = _message(FOCAL_POINT, BOT_ADDRESS)
    message["Authentication-Results"] = ("mx.example.test; dkim=pass header.d=example.test; "
                                         "dmarc=pass header.from=example.test")
    raw = _received_by_the_desk(mailstack, message, dkim=None)
    proof = prove(parse_message(raw).headers, ["mx.example.test"], relays=["imap.example.test"])
    assert not proof.verified, proof.how
