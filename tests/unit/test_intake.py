"""Intake without IMAP: one message, one transaction, on a real SQLite file and blob store.

``Intake.process`` takes plain values (where the message was, its bytes), so
these tests exercise the whole pipeline — store, record, parse, classify,
handle, commit — and its exactly-once rules without a socket.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from desk_app import as_received, desk_app
from sqlalchemy import func, select

from mailbot.config import REPO_ROOT
from mailbot.service.app import App
from mailbot.service.intake import Fetched, Intake
from mailbot.store.tables import InboundMessage, OutboxMessage

EML = REPO_ROOT / "tests" / "fixtures" / "eml"
NOW = datetime(2026, 11, 27, 12, 0)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    app = desk_app(tmp_path, desk={"authserv_ids": ["mx.example.test"]},
                   policy={"max_attachment_size": 1_000_000})
    yield app
    app.close()


def fetched(raw: bytes, uid: int, uidvalidity: int = 1, oversized: bool = False,
            proven: bool = True) -> Fetched:
    """``raw`` handed over as the watcher would; ``proven``: as our receiving server passed it."""
    raw = as_received(raw) if proven else raw
    return Fetched(mailbox="INBOX", uidvalidity=uidvalidity, uid=uid, size=len(raw), raw=raw,
                   oversized=oversized)


def count(app: App, model: type) -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def letter(msgid: str | None = "<a1@mission.example.test>", sender: str = "fp.fra@example.test",
           body: str = "Hello") -> bytes:
    head = f"From: {sender}\r\nTo: mailbot@example.test\r\nSubject: Letter\r\n"
    if msgid:
        head += f"Message-ID: {msgid}\r\n"
    return (head + "\r\n" + body + "\r\n").encode()


def test_same_location_twice_is_a_no_op(app: App) -> None:
    intake = Intake(app, clock=lambda: NOW)
    first = intake.process(fetched(letter(), 1))
    again = intake.process(fetched(letter(), 1))
    assert not first.repeated and again.repeated
    assert again.row_id == first.row_id and again.folder == first.folder
    assert count(app, InboundMessage) == 1
    assert count(app, OutboxMessage) == 1  # the correction is queued once


def test_new_uidvalidity_is_recognised_and_keeps_its_folder(app: App) -> None:
    intake = Intake(app, clock=lambda: NOW)
    first = intake.process(fetched(letter(), 7, uidvalidity=100))
    again = intake.process(fetched(letter(), 3, uidvalidity=200))
    assert again.repeated and again.folder == first.folder
    assert count(app, InboundMessage) == 1


def test_double_delivery_goes_to_ignored_and_is_not_filed_again(app: App) -> None:
    intake = Intake(app, clock=lambda: NOW)
    intake.process(fetched(letter(), 1))
    second = intake.process(fetched(letter(), 2))
    assert second.repeated and second.folder == "ignored"
    assert count(app, InboundMessage) == 1 and count(app, OutboxMessage) == 1


def test_same_message_id_different_content_is_kept_as_a_duplicate(app: App) -> None:
    intake = Intake(app, clock=lambda: NOW)
    a = intake.process(fetched((EML / "duplicate_message_id_a.eml").read_bytes(), 1))
    b = intake.process(fetched((EML / "duplicate_message_id_b.eml").read_bytes(), 2))
    assert b.status == "duplicate" and b.folder == "ignored" and b.row_id != a.row_id
    with app.sessions() as session:
        row = session.get(InboundMessage, b.row_id)
        assert row is not None and row.duplicate_of_id == a.row_id
        assert app.blobs.exists(row.content_hash)  # stored all the same


def test_no_message_id_is_keyed_by_content_hash(app: App) -> None:
    intake = Intake(app, clock=lambda: NOW)
    out = intake.process(fetched(letter(msgid=None), 1))
    assert out.key.startswith("sha256:")
    assert intake.process(fetched(letter(msgid=None), 1)).repeated


def test_unparseable_message_is_quarantined_and_stored(app: App) -> None:
    intake = Intake(app, clock=lambda: NOW)
    out = intake.process(fetched((EML / "nested_3000.eml").read_bytes(), 1))
    assert out.folder == "quarantine" and out.status == "quarantined"
    with app.sessions() as session:
        row = session.get(InboundMessage, out.row_id)
        assert row is not None and app.blobs.exists(row.content_hash)
        assert "parse failure" in (row.reason or "")


def test_oversized_message_is_quarantined_from_its_header(app: App) -> None:
    intake = Intake(app, clock=lambda: NOW)
    header = b"From: fp.fra@example.test\r\nMessage-ID: <big@x>\r\nSubject: big\r\n\r\n"
    out = intake.process(Fetched("INBOX", 1, 9, 50_000_000, header, oversized=True))
    assert out.folder == "quarantine" and "exceeds the limit" in (out.reason or "")


def test_blocked_attachment_quarantines_the_message(app: App) -> None:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "fp.fra@example.test", "mailbot@example.test", "x"
    msg["Message-ID"] = "<exe@mission.example.test>"
    msg.set_content("see attached")
    msg.add_attachment(b"MZ\x90\x00binary", maintype="application", subtype="octet-stream",
                       filename="../../report.pdf.exe")
    out = Intake(app, clock=lambda: NOW).process(fetched(bytes(msg), 1))
    assert out.folder == "quarantine" and ".exe" in (out.reason or "")
    with app.sessions() as session:
        row = session.get(InboundMessage, out.row_id)
        assert row is not None
        att = row.attachments[0]
        assert att.safe_name == "report.pdf.exe" and att.verdict == "blocked"
        assert app.blobs.exists(att.sha256)


@pytest.mark.parametrize(("filename", "data", "said"), [
    ("r" * 246 + ".js", b"alert(1)", ".js"),  # judged in full, before the name is shortened
    ("docs.zip", None, "evil.exe"),           # a ZIP inside a ZIP
    ("invoice\u202efdp.exe", b"data", "U+202E"),
])
def test_hidden_executables_quarantine_the_message(app: App, filename: str, data: bytes | None,
                                                   said: str) -> None:
    import io
    import zipfile
    from email.message import EmailMessage

    if data is None:
        inner, outer = io.BytesIO(), io.BytesIO()
        with zipfile.ZipFile(inner, "w") as z:
            z.writestr("evil.exe", b"MZ")
        with zipfile.ZipFile(outer, "w") as z:
            z.writestr("inner.zip", inner.getvalue())
        data = outer.getvalue()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "fp.fra@example.test", "mailbot@example.test", "x"
    msg["Message-ID"] = f"<{abs(hash(filename))}@mission.example.test>"
    msg.set_content("see attached")
    msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    out = Intake(app, clock=lambda: NOW).process(fetched(bytes(msg), 1))
    assert out.folder == "quarantine" and said in (out.reason or "")


def test_handler_failure_quarantines_and_replay_files_it(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    intake = Intake(app, clock=lambda: NOW)
    original = intake.handlers.handle

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("handler exploded")

    monkeypatch.setattr(intake.handlers, "handle", broken)
    out = intake.process(fetched(letter(), 1))
    assert out.folder == "quarantine" and "handler exploded" in (out.reason or "")
    with app.sessions() as session:  # the failed transaction left nothing but the notice behind
        kinds = session.scalars(select(OutboxMessage.kind)).all()
    assert kinds == ["secretariat_notice"]
    monkeypatch.setattr(intake.handlers, "handle", original)
    replayed = intake.replay(out.row_id)
    assert replayed.status == "corrected" and replayed.folder == "processed"
    assert count(app, OutboxMessage) == 2


@pytest.mark.parametrize("name", sorted(p.name for p in EML.glob("*.eml")))
def test_every_fixture_ends_in_exactly_one_folder(app: App, name: str) -> None:
    out = Intake(app, clock=lambda: NOW).process(fetched((EML / name).read_bytes(), 1))
    assert out.folder in ("processed", "quarantine", "ignored")


def test_daily_cap_holds_the_excess_for_the_secretariat(app: App) -> None:
    intake = Intake(app, clock=lambda: NOW)
    for i in range(25):
        intake.process(fetched(letter(msgid=f"<cap-{i}@mission.example.test>"), i + 1))
    with app.sessions() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "correction")).all()
        statuses = [r.status for r in rows]
    cap = app.settings.policy.daily_cap_per_address
    assert statuses.count("pending") == cap and statuses.count("held") == 25 - cap
    held = next(r for r in rows if r.status == "held")
    assert "daily cap" in (held.last_error or "")


def test_daily_digest_once_a_day(app: App) -> None:
    from mailbot.service.sweep import Sweeper

    Intake(app, clock=lambda: NOW).process(fetched(letter(sender="someone@elsewhere.example"), 1))
    sweeper = Sweeper(app)
    assert sweeper.digest(NOW) is True
    assert sweeper.digest(NOW) is False  # the same day: not again
    from mailbot.service.rendering import MailRenderer

    with app.sessions() as session:
        digest = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "digest")).one()
        assert digest.raw is None  # rendered by the dispatcher when it first claims the row
        raw = MailRenderer(app).render_row(digest)
    assert digest.recipients == ["secretariat@example.test"]
    assert b"someone@elsewhere.example" in raw


def test_every_class_of_mail_has_one_handler() -> None:
    from mailbot.domain.types import MailClass
    from mailbot.service.handlers import HANDLERS

    assert set(HANDLERS) == set(MailClass)
