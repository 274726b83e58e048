"""An officer vouches for a held message: ``mailbot messages release ID``.

Place in the flow: outside intake, in a transaction of its own; the message
(held until its sender confirms it, ``service.confirming``) is handled as
proven, and the mails that follows from it are queued like intake's.
"""

from __future__ import annotations

from datetime import datetime

from mailbot.service.app import App
from mailbot.service.confirming import release
from mailbot.service.handlers import Handlers
from mailbot.service.queueing import Outbox
from mailbot.store.db import transaction


def release_message(app: App, message_id: int, officer: str, now: datetime) -> str:
    """Release message ``message_id`` on ``officer``'s word; what became of it, in words."""
    handlers, outbox = Handlers(app), Outbox(app)
    with transaction(app.sessions) as session:
        result = release(handlers, session, message_id, officer, now)
        outbox.write(session, result.mails, now)
    queued = len(result.mails)
    why = f"; {result.reason}" if result.reason else ""
    return (f"message {message_id} released by {officer}: {result.status}{why}; "
            f"{queued} mail{'s' if queued != 1 else ''} queued")
