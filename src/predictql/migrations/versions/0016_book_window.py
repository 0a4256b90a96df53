"""book window index (issue 14: the crossing-window read must not grow with the book's depth)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06

A batch's crossing window (``orderbook_batch._window_query``) asks for the first ``window`` open
orders of one side of a market's book in price-time priority. Ordered by a YES-price CASE that no
index held, both stores read and sorted every open order of the side on every batch (6.5 ms mean,
11.5 ms by 19,200 resting orders in ``bench/profile_order_sql.py --scenario rest``).

``orders (market_id, BOOK_SIDE, BOOK_KEY, seq) WHERE status IN ('pending', 'partial')``: the side
of a market's book in the order the window reads it (an ask's key its YES price, a bid's that price
negated, see ``models.orders``), open orders only, so the read stops after ``window`` rows. The
expressions are spelled here as they were at this revision, not imported: a later model change
gets its own migration.

``orders (market_id, expires_at) WHERE status IN ('pending', 'partial') AND expires_at IS NOT NULL``:
the market's open GTD orders due now (read in the same statement) as a seek. Without statistics
(a new database, or a table autovacuum has not analyzed yet) PostgreSQL took ``ix_orders_book`` for
that read, partial on the open statuses too, and filtered every open order of the market.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('pending', 'partial')"
OPEN_GTD = f"{OPEN} AND expires_at IS NOT NULL"
BOOK_SIDE = """
CASE
    WHEN side = 'buy' AND token = 'YES' OR side = 'sell' AND token = 'NO' THEN 1
    ELSE 0
END"""
BOOK_KEY = """
CASE
    WHEN side = 'buy' AND token = 'YES' THEN - price
    WHEN side = 'sell' AND token = 'NO' THEN price - 10000
    WHEN token = 'YES' THEN price
    ELSE 10000 - price
END"""


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(
            'ix_orders_book', ['market_id', sa.text(f'({BOOK_SIDE})'), sa.text(f'({BOOK_KEY})'), 'seq'], unique=False,
            postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN),
        )
        batch_op.create_index(
            'ix_orders_market_due', ['market_id', 'expires_at'], unique=False,
            postgresql_where=sa.text(OPEN_GTD), sqlite_where=sa.text(OPEN_GTD),
        )


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_market_due')
        batch_op.drop_index('ix_orders_book')
