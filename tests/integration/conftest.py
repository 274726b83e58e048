"""Fixtures of the end-to-end tests: a configured desk on the real mail stack."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from desk import Desk
from mailstack.stack import MailStack


@pytest.fixture
def desk(clean_mailboxes: MailStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    """A fresh deployment (SQLite file) with empty mailboxes, set up with `db upgrade` and `states import`."""
    yield Desk(clean_mailboxes).setup()
