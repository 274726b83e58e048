"""confirmations: the round trip asked of a registered address whose mail was not proven

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 06:00:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'confirmations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=40), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('decided_at', sa.DateTime(), nullable=True),
        sa.Column('decided_by', sa.String(length=320), nullable=True),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name='fk_confirmations_message_id_messages'),
        sa.PrimaryKeyConstraint('id', name='pk_confirmations'),
        sa.UniqueConstraint('token', name='uq_confirmations_token'),
        sa.UniqueConstraint('message_id', name='uq_confirmations_message_id'),
    )


def downgrade() -> None:
    op.drop_table('confirmations')
