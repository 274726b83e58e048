"""Fixtures shared by mailbot's test suite: the loopback mail stack.

``mailstack`` starts Dovecot and Postfix once per pytest session (see
``tests/mailstack/stack.py``) and stops them at the end; ``clean_mailboxes``
empties every mailbox before a test so that tests never see each other's mail.
Tests that use the stack are marked ``mailstack`` automatically, so
``pytest -m "not mailstack"`` runs everything that needs no mail servers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

from mailstack.stack import MailStack  # noqa: E402


@pytest.fixture(scope="session")
def mailstack() -> Iterator[MailStack]:
    """The running mail stack, shared by the whole session (installs the servers if missing)."""
    stack = MailStack()
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def clean_mailboxes(mailstack: MailStack) -> MailStack:
    """The mail stack with every folder of every user emptied and Postfix's queue dropped."""
    mailstack.purge_all()
    return mailstack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the mail stack with the ``mailstack`` marker."""
    for item in items:
        if "mailstack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.mailstack)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say in the log which real components the run used: the mail stack and both databases."""
    calls = {
        outcome: [r for r in terminalreporter.stats.get(outcome, []) if getattr(r, "when", "") == "call"]
        for outcome in ("passed", "failed")
    }
    if not calls["passed"] and not calls["failed"]:
        return

    def count(pred: Callable[[pytest.TestReport], bool]) -> str:
        ok = sum(1 for r in calls["passed"] if pred(r))
        bad = sum(1 for r in calls["failed"] if pred(r))
        return f"{ok} passed" + (f", {bad} failed" if bad else "")

    def database(name: str) -> Callable[[pytest.TestReport], bool]:
        return lambda r: "test_database.py" in r.nodeid and f"[{name}]" in r.nodeid

    terminalreporter.write_sep("-", "real components used")
    terminalreporter.write_line("Dovecot + Postfix mail stack: " + count(lambda r: "mailstack" in r.keywords))
    terminalreporter.write_line("database tests on SQLite: " + count(database("sqlite")))
    terminalreporter.write_line("database tests on PostgreSQL: " + count(database("postgresql")))
