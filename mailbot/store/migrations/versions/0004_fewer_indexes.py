"""indexes that no query needs dropped; an incident's messages indexed only where there is one

Each index a row enters is one more page written at every commit, and intake
commits once a message.  Dropped: message_key, outbox status and
outbox_recipients outbox_id (each leads a composite index that serves its
lookups: uq_messages_key_hash, ix_outbox_due, uq_outbox_recipients_addr);
outbox kind, next_attempt_at and state_code (no query looks them up; the due
mail is found through ix_outbox_due).  messages.incident_id is indexed only
for the messages that have an incident.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 05:10:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_DROPPED = (
    ('messages', 'ix_messages_message_key', ['message_key']),
    ('outbox', 'ix_outbox_status', ['status']),
    ('outbox', 'ix_outbox_kind', ['kind']),
    ('outbox', 'ix_outbox_next_attempt_at', ['next_attempt_at']),
    ('outbox', 'ix_outbox_state_code', ['state_code']),
    ('outbox_recipients', 'ix_outbox_recipients_outbox_id', ['outbox_id']),
)
_HAS_INCIDENT = sa.text('incident_id IS NOT NULL')


def upgrade() -> None:
    for table, name, _columns in _DROPPED:
        op.drop_index(name, table_name=table)
    op.drop_index('ix_messages_incident_id', table_name='messages')
    op.create_index('ix_messages_incident_id', 'messages', ['incident_id'], unique=False,
                    sqlite_where=_HAS_INCIDENT, postgresql_where=_HAS_INCIDENT)


def downgrade() -> None:
    op.drop_index('ix_messages_incident_id', table_name='messages')
    op.create_index('ix_messages_incident_id', 'messages', ['incident_id'], unique=False)
    for table, name, columns in _DROPPED:
        op.create_index(name, table, columns, unique=False)
