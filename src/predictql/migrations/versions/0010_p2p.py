"""P2P exchange: ads, orders, order chat, trader stats

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

``p2p_ads``, ``p2p_orders`` (escrow lives in the ledger, ``user:{id}:p2p_escrow`` accounts opened on
first use), ``p2p_messages`` (per-order chat) and ``p2p_profiles`` (completed orders and ratings).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import predictql.db

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('p2p_ads',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
    sa.Column('fiat_currency', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('exchange_rate', sa.BigInteger(), nullable=False),
    sa.Column('min_amount', sa.BigInteger(), nullable=False),
    sa.Column('max_amount', sa.BigInteger(), nullable=False),
    sa.Column('remaining_amount', sa.BigInteger(), nullable=False),
    sa.Column('payment_methods', sa.JSON(), nullable=False),
    sa.Column('payment_details', sa.JSON(), nullable=False),
    sa.Column('instructions', sa.Text(), nullable=False),
    sa.Column('max_payment_duration', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('moderation_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('is_platform_ad', sa.Boolean(), nullable=False),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_p2p_ads_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_p2p_ads'))
    )
    with op.batch_alter_table('p2p_ads', schema=None) as batch_op:
        batch_op.create_index('ix_p2p_ads_browse', ['is_active', 'type', 'fiat_currency'], unique=False)
        batch_op.create_index(batch_op.f('ix_p2p_ads_user_id'), ['user_id'], unique=False)

    op.create_table('p2p_profiles',
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('completed_orders', sa.Integer(), nullable=False),
    sa.Column('rating_sum', sa.Integer(), nullable=False),
    sa.Column('rating_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_p2p_profiles_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_p2p_profiles'))
    )
    op.create_table('p2p_orders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ad_id', sa.BigInteger(), nullable=False),
    sa.Column('buyer_id', sa.BigInteger(), nullable=False),
    sa.Column('seller_id', sa.BigInteger(), nullable=False),
    sa.Column('usdt_amount', sa.BigInteger(), nullable=False),
    sa.Column('fiat_amount', sa.BigInteger(), nullable=False),
    sa.Column('fiat_currency', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('exchange_rate', sa.BigInteger(), nullable=False),
    sa.Column('payment_method', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('payment_details', sa.JSON(), nullable=False),
    sa.Column('buyer_payment_details', sa.JSON(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('frozen_balance', sa.BigInteger(), nullable=False),
    sa.Column('operator_called', sa.Boolean(), nullable=False),
    sa.Column('expires_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('buyer_paid_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
    sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
    sa.Column('buyer_rating', sa.Integer(), nullable=True),
    sa.Column('seller_rating', sa.Integer(), nullable=True),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ad_id'], ['p2p_ads.id'], name=op.f('fk_p2p_orders_ad_id_p2p_ads'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['buyer_id'], ['users.id'], name=op.f('fk_p2p_orders_buyer_id_users'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['seller_id'], ['users.id'], name=op.f('fk_p2p_orders_seller_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_p2p_orders'))
    )
    with op.batch_alter_table('p2p_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_p2p_orders_ad_id'), ['ad_id'], unique=False)
        batch_op.create_index('ix_p2p_orders_ad_status', ['ad_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_p2p_orders_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_p2p_orders_seller_id'), ['seller_id'], unique=False)
        batch_op.create_index('ix_p2p_orders_status_expires', ['status', 'expires_at'], unique=False)

    op.create_table('p2p_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('sender_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['p2p_orders.id'], name=op.f('fk_p2p_messages_order_id_p2p_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_p2p_messages_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_p2p_messages'))
    )
    with op.batch_alter_table('p2p_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_p2p_messages_order_id'), ['order_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('p2p_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_p2p_messages_order_id'))

    op.drop_table('p2p_messages')
    with op.batch_alter_table('p2p_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_p2p_orders_status_expires')
        batch_op.drop_index(batch_op.f('ix_p2p_orders_seller_id'))
        batch_op.drop_index(batch_op.f('ix_p2p_orders_buyer_id'))
        batch_op.drop_index('ix_p2p_orders_ad_status')
        batch_op.drop_index(batch_op.f('ix_p2p_orders_ad_id'))

    op.drop_table('p2p_orders')
    op.drop_table('p2p_profiles')
    with op.batch_alter_table('p2p_ads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_p2p_ads_user_id'))
        batch_op.drop_index('ix_p2p_ads_browse')

    op.drop_table('p2p_ads')
