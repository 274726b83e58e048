"""outbox rendered at dispatch

The outbox row keeps the decision (mail name, language, context, attachment
references, threading) and the dispatcher renders it when it first claims the
row; ``raw`` is filled then.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 21:25:45.355956
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lang', sa.String(length=8), nullable=False, server_default='en'))
        batch_op.add_column(sa.Column('context', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('attachment_refs', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('in_reply_to', sa.String(length=998), nullable=True))
        batch_op.add_column(sa.Column('thread_references', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('auto_submitted', sa.String(length=20), nullable=False,
                                      server_default='auto-generated'))
        batch_op.alter_column('raw', existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('raw', existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column('auto_submitted')
        batch_op.drop_column('thread_references')
        batch_op.drop_column('in_reply_to')
        batch_op.drop_column('attachment_refs')
        batch_op.drop_column('context')
        batch_op.drop_column('lang')
