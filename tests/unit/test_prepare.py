"""Parse-ahead (``service.prepare``): a real worker process reads what the service would read.

The worker is started as in production (``python -m mailbot.service.prepare``)
and fed real fixtures; its results must equal reading the same bytes in the
service, and intake must file the same way with and without it.
"""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from desk_app import as_received, desk_app
from sqlalchemy import func, select

from mailbot.config import REPO_ROOT
from mailbot.domain.classify import classify
from mailbot.domain.types import MailClass, MailContext
from mailbot.mail.parse import ParseError, parse_message
from mailbot.service import prepare as prep
from mailbot.service.app import App
from mailbot.service.intake import Fetched, Intake
from mailbot.service.prepare import Prepared, Preparer
from mailbot.service.reading import read_form
from mailbot.service.registry import catalog as form_catalog
from mailbot.store.tables import InboundMessage, OutboxMessage, Submission

FIXTURES = sorted((REPO_ROOT / "tests" / "fixtures" / "forms").glob("*.eml")) + sorted(
    (REPO_ROOT / "tests" / "fixtures" / "eml").glob("*.eml"))
NOW = datetime(2026, 11, 27, 12, 0)


def make_app(root: Path) -> App:
    return desk_app(root, policy={"max_attachment_size": 1_000_000})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    application = make_app(tmp_path / "a")
    yield application
    application.close()


def context_of(app: App) -> MailContext:
    with app.sessions() as session:
        return Intake(app).mail_context(session)


def raws() -> list[bytes]:
    return [p.read_bytes() for p in FIXTURES if p.stat().st_size <= prep.INLINE_OVER]


def preparer(app: App) -> Preparer:
    settings = app.settings
    return Preparer(settings.path(settings.desk.forms_file), settings.blob_dir)


def take_all(worker: Preparer, batch: list[tuple[int, int, bytes]]) -> list[Prepared | None]:
    """Results in order, once the worker has answered all of them (no inline fallback here)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with worker._lock:
            if not worker._chunks:
                break
        time.sleep(0.01)
    return [worker.take(v, u) for v, u, _ in batch]


def test_the_worker_reads_what_the_service_would(app: App) -> None:
    ctx = context_of(app)
    cat = form_catalog(app.settings)
    batch = [(7, uid, raw) for uid, raw in enumerate(raws(), 1)]
    worker = preparer(app)
    worker.start()
    try:
        assert worker.submit(batch, ctx) == len(batch)
        results = take_all(worker, batch)
    finally:
        worker.close()
    assert all(r is not None for r in results)
    forms_read = attachments = 0
    for (_, _, raw), result in zip(batch, results, strict=True):
        assert result is not None
        assert result.digest == hashlib.sha256(raw).hexdigest()
        assert app.blobs.get(result.digest) == raw  # stored by the worker
        try:
            mail = parse_message(raw)
        except ParseError as exc:
            assert result.mail is None and result.parse_error == str(exc)
            continue
        assert result.mail == mail
        assert result.classification == classify(mail, ctx)
        assert result.context is ctx  # the view it was classified under, for intake to compare
        assert result.attachment_digests is not None
        assert len(result.attachment_digests) == len(mail.attachments)
        for att, digest in zip(mail.attachments, result.attachment_digests, strict=True):
            assert app.blobs.get(digest) == att.data  # each attachment stored by the worker too
            attachments += 1
        state_mail = classify(mail, ctx).kind is MailClass.STATE
        assert result.form_read is state_mail
        if state_mail:
            forms_read += 1
            assert result.form == read_form(mail, cat)
    assert forms_read >= 15  # the forms fixtures come from registered focal points
    assert attachments >= 4  # the PDF and Word forms among the fixtures
    assert worker.used == len(batch) and worker.missed == 0


def test_intake_files_the_same_with_and_without_parse_ahead(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailbot.service import intake as intake_module

    classified = 0
    real_classify = intake_module.classify

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal classified
        classified += 1
        return real_classify(*args, **kwargs)

    monkeypatch.setattr(intake_module, "classify", counting)

    def file_all(app: App, ahead: bool) -> list[tuple[str, str, str | None]]:
        intake = Intake(app, clock=lambda: NOW)
        intake.durable = False  # as the service runs it (the worker's blobs need the barrier)
        batch = [(3, uid, as_received(raw)) for uid, raw in enumerate(raws(), 1)]
        results: list[Prepared | None] = [None] * len(batch)
        if ahead:
            worker = preparer(app)
            worker.start()
            try:
                with app.sessions() as session:  # intake's own view of who is who
                    worker.submit(batch, intake.mail_context(session))
                results = take_all(worker, batch)
            finally:
                worker.close()
            assert all(r is not None for r in results)
        outcomes = []
        for (v, u, raw), result in zip(batch, results, strict=True):
            out = intake.process(Fetched("INBOX", v, u, len(raw), raw), result)
            outcomes.append((out.status, out.folder, out.classification))
        intake.barrier()
        return outcomes

    def counts(app: App) -> dict[str, int]:
        with app.sessions() as session:
            return {m.__name__: int(session.scalar(select(func.count()).select_from(m)) or 0)
                    for m in (InboundMessage, Submission, OutboxMessage)}

    plain, ahead = make_app(tmp_path / "plain"), make_app(tmp_path / "ahead")
    try:
        by_service = file_all(plain, ahead=False)
        classified_by_service, classified = classified, 0
        assert file_all(ahead, ahead=True) == by_service
        # the worker's classification is used, under the same view of who is who: intake runs
        # the rules again only for the bounces (whose failing addresses only intake reads)
        assert classified < classified_by_service / 4
        assert counts(plain) == counts(ahead)
        assert counts(ahead)["Submission"] >= 10
    finally:
        plain.close()
        ahead.close()


def test_a_dead_worker_leaves_the_reading_to_the_service(app: App) -> None:
    worker = preparer(app)
    worker.start()
    assert worker._ready.wait(30)
    assert worker._proc is not None
    worker._proc.kill()
    worker._proc.wait()
    time.sleep(0.2)  # the reader thread sees the end of the worker's output
    batch = [(1, uid, raw) for uid, raw in enumerate(raws()[:10], 1)]
    worker.submit(batch, context_of(app))
    assert [worker.take(v, u) for v, u, _ in batch] == [None] * len(batch)
    worker.close()


def test_lone_messages_large_ones_and_a_disabled_worker_are_read_in_the_service(app: App) -> None:
    ctx = context_of(app)
    small = raws()[:3]
    big = b"From: a@example.test\r\n\r\n" + b"x" * (prep.INLINE_OVER + 1)
    worker = preparer(app)
    try:
        assert worker.submit([(1, 1, small[0]), (1, 2, small[1])], ctx) == 0  # too few
        assert worker._proc is None  # not even started for them
        assert worker.submit([(1, u, r) for u, r in enumerate([*small, big, small[0]], 1)], ctx) == 4
        assert worker.take(1, 4) is None  # the large one was not handed over
    finally:
        worker.close()
    off = Preparer(app.settings.path(app.settings.desk.forms_file), app.settings.blob_dir, enabled=False)
    assert off.submit([(1, u, r) for u, r in enumerate(small * 3, 1)], ctx) == 0
    off.close()


def test_a_stuck_worker_is_stopped_and_the_service_reads_for_itself(
        app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = preparer(app)
    worker.start()
    assert worker._ready.wait(30) and worker._proc is not None
    ctx = context_of(app)
    batch = [(1, uid, raw) for uid, raw in enumerate(raws()[:8], 1)]
    worker._proc.send_signal(signal.SIGSTOP)  # as if caught in a reader that never returns
    try:
        assert worker.submit(batch, ctx) == len(batch)
        monkeypatch.setattr(prep, "STUCK_AFTER", 0.2)
        time.sleep(0.3)
        assert worker.submit(batch, ctx) == 0  # not answered for longer than STUCK_AFTER
        assert worker._proc.wait(timeout=10) != 0  # killed
        assert worker.submit(batch, ctx) == 0 and worker.take(1, 1) is None
    finally:
        worker.close()
