"""ids in event_tags and watchlist are 64-bit, like the ids they point at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

``event_tags.event_id``, ``watchlist.user_id`` and ``watchlist.event_id`` were INTEGER while every
id is BIGINT: on PostgreSQL an id past 2^31 in a watchlist route or a tag row failed with a
server error. SQLite's INTEGER is 64-bit already; the batch rebuild only aligns the declared type.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {'event_tags': ('event_id',), 'watchlist': ('user_id', 'event_id')}


def _retype(old: sa.types.TypeEngine[int], new: sa.types.TypeEngine[int]) -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=old, type_=new, existing_nullable=False)


def upgrade() -> None:
    _retype(sa.Integer(), sa.BigInteger())


def downgrade() -> None:
    _retype(sa.BigInteger(), sa.Integer())
