"""market last price; collateral accounts never negative

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``markets.last_price``: an order-book market's last execution price (YES, basis points), so one
pure function (``services.prices.market_price``) gives every face the same price without reading
price points. Existing order-book markets that traded take it from their latest price point.

Order-book collateral accounts lose ``allow_negative``: settlement now takes rounding differences
from the platform and returns what is left to it (``services.resolution``), so the floor holds.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
UPDATE markets SET last_price = (
    SELECT CAST(ROUND(price_points.probability * 10000) AS INTEGER) FROM price_points
    WHERE price_points.market_id = markets.id ORDER BY price_points.id DESC LIMIT 1
)
WHERE market_type = 'orderbook' AND EXISTS (SELECT 1 FROM trades WHERE trades.market_id = markets.id)
"""
accounts = sa.table('ledger_accounts', sa.column('kind', sa.String), sa.column('balance', sa.BigInteger),
                    sa.column('allow_negative', sa.Boolean))


def upgrade() -> None:
    with op.batch_alter_table('markets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_price', sa.Integer(), nullable=True))
    op.execute(BACKFILL)
    op.execute(
        accounts.update().where(accounts.c.kind == 'collateral', accounts.c.balance >= 0).values(allow_negative=False)
    )


def downgrade() -> None:
    op.execute(accounts.update().where(accounts.c.kind == 'collateral').values(allow_negative=True))
    with op.batch_alter_table('markets', schema=None) as batch_op:
        batch_op.drop_column('last_price')
