"""Return paths of the desk's own mail (mail.verp): made per row, read back only when exact."""

from __future__ import annotations

import pytest

from mailbot.mail.verp import return_path, row_of


def test_a_return_path_names_its_row_and_token() -> None:
    address = return_path("mailbot@example.test", 4211, "0123456789abcdef")
    assert address == "mailbot+b-4211-0123456789abcdef@example.test"
    assert row_of(address) == (4211, "0123456789abcdef")
    assert row_of(f"<{address}>") == (4211, "0123456789abcdef")


def test_a_row_without_a_token_keeps_the_plain_address() -> None:
    assert return_path("mailbot@example.test", 7, None) == "mailbot@example.test"


@pytest.mark.parametrize("address", [
    "mailbot@example.test",
    "mailbot+b-12@example.test",
    "mailbot+b-12-0123@example.test",
    "mailbot+b-x-0123456789abcdef@example.test",
    "mailbot+b-12-0123456789abcdefff@example.test",
    "mail bot+b-12-0123456789abcdef@example.test",
    "",
])
def test_anything_else_names_no_row(address: str) -> None:
    assert row_of(address) is None
