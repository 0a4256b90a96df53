"""comments on events; price alerts and their log

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

``comments``: event comments with one level of replies (our extension, README "Comments").
``price_alerts`` / ``alert_firings``: alerts on a market's YES price or an asset's price crossing a
level, and what fired when at what price (our extension, README "Price alerts").
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import predictql.db

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('comments',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('parent_id', sa.BigInteger(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('edited_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('removed_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['events.id'], name=op.f('fk_comments_event_id_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['parent_id'], ['comments.id'], name=op.f('fk_comments_parent_id_comments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_comments_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_comments'))
    )
    with op.batch_alter_table('comments', schema=None) as batch_op:
        batch_op.create_index('ix_comments_event_parent', ['event_id', 'parent_id', 'id'], unique=False)
        batch_op.create_index('ix_comments_parent', ['parent_id', 'id'], unique=False)
        batch_op.create_index('ix_comments_user', ['user_id', 'id'], unique=False)
    op.create_table('price_alerts',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('market_id', sa.BigInteger(), nullable=True),
    sa.Column('symbol', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('level', sa.Numeric(precision=30, scale=10), nullable=False),
    sa.Column('repeating', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('fire_count', sa.Integer(), nullable=False),
    sa.Column('last_fired_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['market_id'], ['markets.id'], name=op.f('fk_price_alerts_market_id_markets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_price_alerts_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_alerts'))
    )
    with op.batch_alter_table('price_alerts', schema=None) as batch_op:
        batch_op.create_index('ix_price_alerts_market', ['market_id', 'status'], unique=False)
        batch_op.create_index('ix_price_alerts_symbol', ['symbol', 'status'], unique=False)
        batch_op.create_index('ix_price_alerts_user', ['user_id', 'status', 'id'], unique=False)
    op.create_table('alert_firings',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('alert_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('market_id', sa.BigInteger(), nullable=True),
    sa.Column('symbol', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('level', sa.Numeric(precision=30, scale=10), nullable=False),
    sa.Column('price_before', sa.Numeric(precision=30, scale=10), nullable=True),
    sa.Column('price', sa.Numeric(precision=30, scale=10), nullable=False),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['price_alerts.id'], name=op.f('fk_alert_firings_alert_id_price_alerts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['market_id'], ['markets.id'], name=op.f('fk_alert_firings_market_id_markets'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_alert_firings_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_firings'))
    )
    with op.batch_alter_table('alert_firings', schema=None) as batch_op:
        batch_op.create_index('ix_alert_firings_alert', ['alert_id', 'id'], unique=False)
        batch_op.create_index('ix_alert_firings_user', ['user_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('alert_firings')
    op.drop_table('price_alerts')
    op.drop_table('comments')
