"""card orders, their operator chat, crypto withdrawals

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

``card_orders`` (RUB by bank card, operator-mediated) with ``card_messages`` (its chat), and
``withdrawals`` (USDT/USDC on chain, approved by an operator). Their money is in the ledger.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import predictql.db

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('card_orders',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('payment_details', sa.JSON(), nullable=True),
    sa.Column('operator_id', sa.BigInteger(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['users.id'], name=op.f('fk_card_orders_operator_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_card_orders_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_orders'))
    )
    with op.batch_alter_table('card_orders', schema=None) as batch_op:
        batch_op.create_index('ix_card_orders_status', ['status', 'id'], unique=False)
        batch_op.create_index('ix_card_orders_user', ['user_id', 'id'], unique=False)
    op.create_table('card_messages',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('order_id', sa.BigInteger(), nullable=False),
    sa.Column('sender_id', sa.BigInteger(), nullable=False),
    sa.Column('from_operator', sa.Boolean(), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['order_id'], ['card_orders.id'], name=op.f('fk_card_messages_order_id_card_orders'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['users.id'], name=op.f('fk_card_messages_sender_id_users'),
                            ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_card_messages'))
    )
    with op.batch_alter_table('card_messages', schema=None) as batch_op:
        batch_op.create_index('ix_card_messages_order', ['order_id', 'id'], unique=False)
    op.create_table('withdrawals',
    sa.Column('id', BIG_ID, nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('network', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('fee', sa.BigInteger(), nullable=False),
    sa.Column('amount_sent', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('tx_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
    sa.Column('operator_id', sa.BigInteger(), nullable=True),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', predictql.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', predictql.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['operator_id'], ['users.id'], name=op.f('fk_withdrawals_operator_id_users'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_withdrawals_user_id_users'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_withdrawals'))
    )
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.create_index('ix_withdrawals_status', ['status', 'id'], unique=False)
        batch_op.create_index('ix_withdrawals_user', ['user_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('withdrawals', schema=None) as batch_op:
        batch_op.drop_index('ix_withdrawals_user')
        batch_op.drop_index('ix_withdrawals_status')
    op.drop_table('withdrawals')
    with op.batch_alter_table('card_messages', schema=None) as batch_op:
        batch_op.drop_index('ix_card_messages_order')
    op.drop_table('card_messages')
    with op.batch_alter_table('card_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_card_orders_user')
        batch_op.drop_index('ix_card_orders_status')
    op.drop_table('card_orders')
