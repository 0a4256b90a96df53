"""order expiry index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_WITH_EXPIRY = "status IN ('pending', 'partial') AND expires_at IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(
            'ix_orders_open_expiry', ['expires_at'], unique=False,
            postgresql_where=sa.text(OPEN_WITH_EXPIRY), sqlite_where=sa.text(OPEN_WITH_EXPIRY),
        )


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_open_expiry')
