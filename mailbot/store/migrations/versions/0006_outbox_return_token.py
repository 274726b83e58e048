"""outbox.return_token: each mail's own return path, so that only its real bounces count

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 06:30:00
"""
import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('return_token', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('return_token')
