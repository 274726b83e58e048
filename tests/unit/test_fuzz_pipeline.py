"""Fuzzing the whole pipeline with hostile mail: parse, classify, read forms, file.

Every generated message goes through ``Intake.process`` on a real SQLite
desk, as the watcher would hand it over.  Whatever it is, the desk must
record it once, give it exactly one outcome folder, answer the same way
when it is handed over again, and never let an exception escape (that
would stop intake for the messages behind it).  Each example must also
finish within the deadline: a message that makes the desk work for long
holds up the inbox.

The run in the suite is bounded (``FUZZ_EXAMPLES``, 150 by default);
``scripts/fuzz.sh MINUTES`` runs it for as long as asked, seed after seed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from desk_app import desk_app
from hypothesis import HealthCheck, given, settings
from mime_strategies import hostile_mail
from sqlalchemy import func, select

from mailbot.domain.classify import classify
from mailbot.domain.types import MailContext
from mailbot.mail.parse import ParseError, parse_message
from mailbot.service.app import App
from mailbot.service.intake import Fetched, Intake
from mailbot.store.tables import InboundMessage

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
DEADLINE = timedelta(seconds=float(os.environ.get("FUZZ_DEADLINE", "20")))
FOLDERS = {"processed", "quarantine", "ignored"}
NOW = datetime(2026, 12, 6, 9, 0)
FUZZ = settings(max_examples=EXAMPLES, deadline=DEADLINE, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    app = desk_app(tmp_path_factory.mktemp("fuzz"), desk={"authserv_ids": ["mx.example.test"]},
                   policy={"max_attachment_size": 1_000_000})
    yield app
    app.close()


_uids = itertools.count(1)


def rows(app: App) -> int:
    with app.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(InboundMessage)) or 0)


@FUZZ
@given(raw=hostile_mail())
def test_the_parse_and_classify_stages_take_any_mail(raw: bytes) -> None:
    try:
        mail = parse_message(raw)
    except ParseError:
        return
    context = MailContext(bot_addresses=frozenset({"mailbot@example.test"}),
                          msgid_domain="mailbot.example.test", loop_header="X-Mailbot-Loop",
                          loop_value="fuzz", secretariat=frozenset({"officer@example.test"}),
                          focal_points={"fp.fra@example.test": "FRA"},
                          authserv_ids=frozenset({"mx.example.test"}))
    result = classify(mail, context)
    assert result.kind is not None


@FUZZ
@given(raw=hostile_mail())
def test_the_pipeline_records_any_mail_once_with_one_outcome(desk: App, raw: bytes) -> None:
    intake = Intake(desk, clock=lambda: NOW)
    uid = next(_uids)
    before = rows(desk)
    fetched = Fetched(mailbox="INBOX", uidvalidity=7, uid=uid, size=len(raw), raw=raw, oversized=False)
    outcome = intake.process(fetched)
    assert outcome.folder in FOLDERS
    assert outcome.row_id is not None
    assert rows(desk) - before in (0, 1)  # 0: the same message came before under another UID
    again = intake.process(fetched)
    assert again.repeated and again.row_id == outcome.row_id
    if not outcome.repeated:  # a copy of an earlier message answers with that message's folder
        assert again.folder == outcome.folder
    assert rows(desk) - before in (0, 1)


def test_a_fuzz_run_finds_the_desk_alive(desk: App, tmp_path: Path) -> None:
    """After the runs above, an ordinary letter is still filed (nothing was left half-done)."""
    raw = (b"From: fp.fra@example.test\r\nTo: mailbot@example.test\r\nSubject: Letter\r\n"
           b"Message-ID: <after-fuzz@mission.example.test>\r\n\r\nHello\r\n")
    outcome = Intake(desk, clock=lambda: NOW).process(
        Fetched(mailbox="INBOX", uidvalidity=8, uid=1, size=len(raw), raw=raw, oversized=False))
    assert outcome.folder == "processed" and not outcome.repeated
