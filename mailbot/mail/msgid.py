"""The Message-IDs of the desk's own mail: derived from the outbox key, so a resend keeps one.

Used by the outbox when it writes a row (``service.queueing``) and by the
renderer when it builds the message (``mail.render``); kept apart so that
writing a row does not load the templates.
"""

from __future__ import annotations

import hashlib


def make_message_id(token: str, domain: str) -> str:
    """A Message-ID that depends only on the outbox key, so a resend carries the same one."""
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain.strip().strip('.').lower()}>"
