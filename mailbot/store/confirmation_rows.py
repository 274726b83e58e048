"""Confirmations in the database: the round trips asked of registered addresses.

Used by the handlers (a request for a message whose sender is not proven,
the reply that carries its token), the sweep (expiry, the digest) and the
``messages release`` command.  Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.store.tables import Confirmation


def add_confirmation(session: Session, *, token: str, message_id: int, address: str,
                     now: datetime, expires_at: datetime) -> Confirmation:
    row = Confirmation(token=token, message_id=message_id, address=address, status="pending",
                       created_at=now, expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def confirmation_by_token(session: Session, token: str) -> Confirmation | None:
    return session.scalar(select(Confirmation).where(Confirmation.token == token))


def confirmation_of_message(session: Session, message_id: int) -> Confirmation | None:
    return session.scalar(select(Confirmation).where(Confirmation.message_id == message_id))


def expire_confirmations(session: Session, now: datetime) -> list[Confirmation]:
    """Mark every pending confirmation past its time as expired; those rows."""
    due = list(session.scalars(select(Confirmation).where(Confirmation.status == "pending",
                                                          Confirmation.expires_at <= now)))
    for row in due:
        row.status, row.decided_at, row.decided_by = "expired", now, "expiry"
    return due


def confirmations_since(session: Session, since: datetime) -> list[Confirmation]:
    """Confirmations asked or decided since ``since`` (for the Secretariat's digest)."""
    return list(session.scalars(
        select(Confirmation).where((Confirmation.created_at >= since) | (Confirmation.decided_at >= since))
        .order_by(Confirmation.id)))
