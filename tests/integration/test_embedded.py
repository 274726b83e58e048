"""The embedded mail servers of ``mailbot demo``, exercised over real loopback sockets.

Mail goes in with smtplib (or aiosmtplib) and comes out with imapclient, the
clients the desk itself uses; ports are picked by the system at start.
"""

from __future__ import annotations

import asyncio
import email
import imaplib
import shutil
import smtplib
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from mailbot.mail.embedded import ConnectionInfo, EmbeddedMailServer

DESK = "mailbot@example.test"
OFFICER = "officer@example.test"
USERS = {DESK: "desk-secret", OFFICER: "officer-secret", "fp.fra@example.test": "fp-fra"}


def _message(subject: str, to: str = DESK, sender: str = "fp.fra@example.test") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@fra.example.test>"
    msg.set_content(f"Body of {subject}.\n")
    return msg


def _send(info: ConnectionInfo, msg: EmailMessage, to: list[str] | None = None) -> None:
    with smtplib.SMTP(info.host, info.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=to)


@contextmanager
def _imap(info: ConnectionInfo, user: str = DESK) -> Iterator[IMAPClient]:
    client = IMAPClient(info.host, port=info.imap_port, ssl=False, timeout=10)
    client.login(user, info.users[user])
    try:
        yield client
    finally:
        client.logout()


def _inbox_subjects(info: ConnectionInfo, user: str = DESK, folder: str = "INBOX") -> list[str]:
    with _imap(info, user) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search("ALL")
        if not uids:
            return []
        fetched = client.fetch(uids, ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
        return [
            email.message_from_bytes(
                fetched[uid][b"BODY[HEADER.FIELDS (SUBJECT)]"], policy=policy.default
            )["Subject"]
            for uid in uids
        ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "demo-mail"


@pytest.fixture
def server(data_dir: Path) -> Iterator[EmbeddedMailServer]:
    srv = EmbeddedMailServer(data_dir, users=USERS)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def test_smtp_delivery_lands_in_the_inbox_with_trace_headers(server: EmbeddedMailServer) -> None:
    info = server.info
    with _imap(info) as client:
        client.select_folder("INBOX")
        assert client.search("ALL") == []
        _send(info, _message("violation report"))
        uids = client.search("ALL")  # no NOOP first: a poll that only searches sees new mail
        assert len(uids) == 1
        raw = client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
    delivered = email.message_from_bytes(raw, policy=policy.default)
    assert delivered["Subject"] == "violation report"
    assert delivered["Return-Path"] == "<fp.fra@example.test>"
    assert delivered["Delivered-To"] == DESK
    assert "by example.test" in delivered["Received"]
    assert f"for <{DESK}>" in delivered["Received"]
    assert delivered.get_content() == "Body of violation report.\n"


def test_plus_address_reaches_the_user_and_keeps_the_tag(server: EmbeddedMailServer) -> None:
    info = server.info
    tagged = "mailbot+DCM-2026-0007@example.test"
    _send(info, _message("follow-up", to=tagged))

    with _imap(info) as client:
        client.select_folder("INBOX")
        uids = client.search("ALL")
        raw = client.fetch(uids, ["BODY.PEEK[]"])[uids[0]][b"BODY[]"]
    assert email.message_from_bytes(raw, policy=policy.default)["Delivered-To"] == tagged


def test_idle_wakes_within_a_second_of_delivery(server: EmbeddedMailServer) -> None:
    info = server.info
    with _imap(info) as client:
        client.select_folder("INBOX")
        client.idle()
        try:
            sent_at = time.monotonic()
            _send(info, _message("wake up"))
            responses = client.idle_check(timeout=5)
            woke_after = time.monotonic() - sent_at
        finally:
            client.idle_done()
    assert (1, b"EXISTS") in responses
    # pymap alone re-reads an idling mailbox once a second; delivery wakes it at once
    assert woke_after < 0.5


def test_uid_fetch_of_a_list_of_uids(server: EmbeddedMailServer) -> None:
    info = server.info
    for n in range(3):
        _send(info, _message(f"report {n}"))

    with _imap(info) as client:
        client.select_folder("INBOX")
        uids = client.search("ALL")
        assert len(uids) == 3
        wanted = [uids[0], uids[2]]
        fetched = client.fetch(wanted, ["BODY.PEEK[]", "FLAGS"])
        assert sorted(fetched) == sorted(wanted)
        subjects = {
            uid: email.message_from_bytes(fetched[uid][b"BODY[]"])["Subject"] for uid in wanted
        }
        assert subjects == {uids[0]: "report 0", uids[2]: "report 2"}
        assert all(b"\\Seen" not in fetched[uid][b"FLAGS"] for uid in wanted)  # PEEK
        assert client.search(["UNSEEN"]) == uids


def test_create_folders_and_move(server: EmbeddedMailServer) -> None:
    info = server.info
    _send(info, _message("to file"))
    _send(info, _message("to quarantine"))

    with _imap(info) as client:
        for folder in ("Processed", "Quarantine", "Ignored"):
            client.create_folder(folder)
        names = {name for _flags, _delim, name in client.list_folders()}
        assert {"INBOX", "Processed", "Quarantine", "Ignored"} <= names
        assert b"MOVE" in client.capabilities()

        client.select_folder("INBOX")
        first, second = client.search("ALL")
        client.move([first], "Processed")
        client.move([second], "Quarantine")
        assert client.search("ALL") == []

    assert _inbox_subjects(info, folder="Processed") == ["to file"]
    assert _inbox_subjects(info, folder="Quarantine") == ["to quarantine"]
    assert _inbox_subjects(info, folder="Ignored") == []


def test_unknown_recipients_and_other_domains_are_refused(server: EmbeddedMailServer) -> None:
    info = server.info
    with pytest.raises(smtplib.SMTPRecipientsRefused) as unknown:
        _send(info, _message("lost", to="nobody@example.test"))
    assert unknown.value.recipients["nobody@example.test"][0] == 550

    with pytest.raises(smtplib.SMTPRecipientsRefused) as relay:
        _send(info, _message("relay", to="someone@elsewhere.test"))
    code, text = relay.value.recipients["someone@elsewhere.test"]
    assert (code, text.split()[0]) == (550, b"5.7.1")

    with smtplib.SMTP(info.host, info.smtp_port, timeout=10) as smtp:
        refused = smtp.send_message(_message("partly"), to_addrs=[DESK, "nobody@example.test"])
    assert set(refused) == {"nobody@example.test"}
    assert _inbox_subjects(info) == ["partly"]


def test_smtp_auth_is_optional_but_checked(
    server: EmbeddedMailServer, capfd: pytest.CaptureFixture[str]
) -> None:
    info = server.info
    with smtplib.SMTP(info.host, info.smtp_port, timeout=10) as smtp:
        smtp.login(DESK, USERS[DESK])
        smtp.send_message(_message("authenticated", to=OFFICER, sender=DESK))
    with (
        smtplib.SMTP(info.host, info.smtp_port, timeout=10) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        smtp.login(DESK, "wrong")
    assert capfd.readouterr() == ("", "")  # aiosmtpd's AUTH deprecation warning stays quiet
    assert _inbox_subjects(info, OFFICER) == ["authenticated"]
    with _imap(info, OFFICER) as client:
        client.select_folder("INBOX")
        raw = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
    assert b"with ESMTPA id" in next(iter(raw.values()))[b"BODY[]"]


def test_imap_rejects_a_wrong_password(server: EmbeddedMailServer) -> None:
    client = IMAPClient(server.info.host, port=server.info.imap_port, ssl=False, timeout=10)
    try:
        with pytest.raises(LoginError):
            client.login(DESK, "not the password")
    finally:
        client.shutdown()


def test_mail_and_folders_survive_a_restart_and_reset_wipes_them(data_dir: Path) -> None:
    first = EmbeddedMailServer(data_dir, users=USERS)
    info = first.start()
    _send(info, _message("kept"))
    with _imap(info) as client:
        client.create_folder("Processed")
        validity = client.select_folder("INBOX")[b"UIDVALIDITY"]
        uids = client.search("ALL")
    first.stop()

    second = EmbeddedMailServer(data_dir, users=USERS)
    info = second.start()
    try:
        with _imap(info) as client:
            assert "Processed" in {name for _f, _d, name in client.list_folders()}
            assert client.select_folder("INBOX")[b"UIDVALIDITY"] == validity
            assert client.search("ALL") == uids
        _send(info, _message("after restart"))
        assert _inbox_subjects(info) == ["kept", "after restart"]
    finally:
        second.stop()

    with pytest.raises(RuntimeError):
        first.start()
        try:
            first.reset()  # refused while running
        finally:
            first.stop()
    second.reset()
    info = second.start()
    try:
        assert _inbox_subjects(info) == []
        with _imap(info) as client:
            assert {name for _f, _d, name in client.list_folders()} == {"INBOX"}
    finally:
        second.stop()


def test_a_changed_password_takes_effect_on_restart(data_dir: Path) -> None:
    with EmbeddedMailServer(data_dir, users=USERS):
        pass
    changed = {**USERS, DESK: "new-secret"}
    with EmbeddedMailServer(data_dir, users=changed) as info:
        with _imap(info) as client:
            assert client.select_folder("INBOX")[b"EXISTS"] == 0
        client = IMAPClient(info.host, port=info.imap_port, ssl=False, timeout=10)
        try:
            with pytest.raises(LoginError):
                client.login(DESK, USERS[DESK])
        finally:
            client.shutdown()


def test_one_data_dir_serves_one_server_at_a_time(server: EmbeddedMailServer) -> None:
    with pytest.raises(RuntimeError, match="in use"):
        EmbeddedMailServer(server.data_dir, users=USERS).start()


def test_users_must_belong_to_the_domain(data_dir: Path) -> None:
    with pytest.raises(ValueError, match="not a plain address"):
        EmbeddedMailServer(data_dir, users={"someone@elsewhere.test": "x"})


def test_stop_closes_idling_clients_and_prints_nothing(
    data_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    srv = EmbeddedMailServer(data_dir, users=USERS)
    info = srv.start()
    client = IMAPClient(info.host, port=info.imap_port, ssl=False, timeout=10)
    client.login(DESK, USERS[DESK])
    client.select_folder("INBOX")
    client.idle()
    smtp = smtplib.SMTP(info.host, info.smtp_port, timeout=10)
    smtp.ehlo()
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 5
    with pytest.raises((OSError, imaplib.IMAP4.abort)):
        client.idle_check(timeout=2)
        client.idle_done()
    with pytest.raises((OSError, smtplib.SMTPServerDisconnected)):
        smtp.noop()
    client.shutdown()
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


def test_deliver_seeds_a_mailbox_directly(server: EmbeddedMailServer) -> None:
    raw = _message("seeded").as_bytes()
    uid = server.deliver_sync(DESK, raw)
    with _imap(server.info) as client:
        client.select_folder("INBOX")
        assert client.search("ALL") == [uid]


def test_serve_inside_a_running_loop(data_dir: Path) -> None:
    async def scenario() -> list[str]:
        srv = EmbeddedMailServer(data_dir, users=USERS)
        ready: asyncio.Future[ConnectionInfo] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(srv.serve(on_ready=ready.set_result))
        info = await asyncio.wait_for(ready, 10)
        try:
            await aiosmtplib.send(
                _message("from the loop"),
                hostname=info.host,
                port=info.smtp_port,
                start_tls=False,
                use_tls=False,
            )
            return await asyncio.to_thread(_inbox_subjects, info)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not srv.running

    assert asyncio.run(scenario()) == ["from the loop"]


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
    command += ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
    )
    return cert, key


def test_starttls_on_both_servers_when_given_a_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed_cert(tmp_path)
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    with EmbeddedMailServer(tmp_path / "mail", users=USERS, tls_cert=cert, tls_key=key) as info:
        with smtplib.SMTP(info.host, info.smtp_port, timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.login(DESK, USERS[DESK])
            smtp.send_message(_message("over tls", to=OFFICER, sender=DESK))
        client = IMAPClient(info.host, port=info.imap_port, ssl=False, timeout=10)
        assert b"STARTTLS" in client.capabilities()
        client.starttls(context)
        client.login(OFFICER, USERS[OFFICER])
        client.select_folder("INBOX")
        raw = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
        client.logout()
    assert b"with ESMTPSA id" in next(iter(raw.values()))[b"BODY[]"]
