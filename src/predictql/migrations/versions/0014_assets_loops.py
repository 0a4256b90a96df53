"""asset prices, price history, FX rates (issue 13: assets and loop events)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05

``assets``: one row per symbol with its latest recorded price (x 10^8), source and as-of time.
``asset_price_points``: the price history (one row per recording period; charts, loop resolution).
``fx_rates``: the latest rate per currency pair. Loop events keep their rounds as pools (no table).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import predictql.db

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('assets',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('symbol', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('asset_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('price_e8', sa.BigInteger(), nullable=True),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('price_updated_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assets')),
    sa.UniqueConstraint('symbol', name=op.f('uq_assets_symbol'))
    )
    op.create_table('asset_price_points',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('asset_id', sa.BigInteger(), nullable=False),
    sa.Column('price_e8', sa.BigInteger(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('as_of', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_asset_price_points_asset_id_assets'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_asset_price_points')),
    sa.UniqueConstraint('asset_id', 'as_of', name=op.f('uq_asset_price_points_asset_id_as_of'))
    )
    with op.batch_alter_table('asset_price_points', schema=None) as batch_op:
        batch_op.create_index('ix_asset_price_points_time', ['asset_id', 'id'], unique=False)
    op.create_table('fx_rates',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('base', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('quote', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('rate_e8', sa.BigInteger(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('as_of', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fx_rates')),
    sa.UniqueConstraint('base', 'quote', name=op.f('uq_fx_rates_base_quote'))
    )


def downgrade() -> None:
    op.drop_table('fx_rates')
    with op.batch_alter_table('asset_price_points', schema=None) as batch_op:
        batch_op.drop_index('ix_asset_price_points_time')
    op.drop_table('asset_price_points')
    op.drop_table('assets')
