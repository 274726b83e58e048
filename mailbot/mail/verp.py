"""Return paths of the desk's own mail (VERP): one per outbox row, so a bounce names its row.

Used by the dispatcher, which sends each row with its own envelope sender
(``desk+b-<row>-<token>@domain``, a sub-address of the desk's own address),
and by the bounce handler, which believes a delivery status notification
only when it came back to such an address with the row's token.  The token
is random and stored with the row: a report forged by anyone else names no
return path of ours, and changes nothing.
"""

from __future__ import annotations

import re

_RETURN_PATH = re.compile(r"^[^@+\s]+\+b-(\d{1,18})-([0-9a-f]{16})@", re.IGNORECASE)


def return_path(address: str, row_id: int, token: str | None) -> str:
    """The envelope sender of outbox row ``row_id``; the plain ``address`` when it has no token."""
    if not token:
        return address
    local, _, domain = address.partition("@")
    return f"{local}+b-{row_id}-{token}@{domain}"


def row_of(address: str) -> tuple[int, str] | None:
    """(row id, token) named by a return path of ours, or None."""
    found = _RETURN_PATH.match(address.strip().strip("<>"))
    return (int(found.group(1)), found.group(2).lower()) if found else None
