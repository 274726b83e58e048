"""outbox recipients indexed by address and time

The daily cap per address counts the automatic mails queued for one address
in the last day; with an index on the address alone that read every mail the
address was ever sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 23:50:00
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipients_address')
        batch_op.create_index('ix_outbox_recipients_address_created', ['address', 'created_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_recipients', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_recipients_address_created')
        batch_op.create_index('ix_outbox_recipients_address', ['address'], unique=False)
