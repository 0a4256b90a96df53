"""scale indexes (issue 14 point 5: cost as the work grows)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05

Found by ``bench/bench_scale.py``: a user's trade-history page and money-movement page cost grew
with the user's whole history (and, for a heavy trader, with the table), not with the page.

* ``trades (user_id, id)`` replaces ``trades (user_id)``: a user's trades keyset-paged on the id
  read only the page's rows, in id order, without a sort (the old index is its prefix, so nothing
  that used it loses).
* ``ledger_transactions (user_id, id) WHERE kind IN ('deposit', 'withdrawal', 'payout_hold')``: a user's money
  movements newest first, without reading the transactions and entries of their trades.
* ``positions (user_id, closed_at, id) WHERE status = 'closed'``: a user's closed positions, most
  recently closed first, a page at a time (at 100x a heavy trader's page sorted all of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MONEY_KINDS = "kind IN ('deposit', 'withdrawal', 'payout_hold')"
CLOSED = "status = 'closed'"


def upgrade() -> None:
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.create_index('ix_trades_user_history', ['user_id', 'id'], unique=False)
        batch_op.drop_index('ix_trades_user_id')
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.create_index(
            'ix_ledger_transactions_money', ['user_id', 'id'], unique=False,
            postgresql_where=sa.text(MONEY_KINDS), sqlite_where=sa.text(MONEY_KINDS),
        )
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.create_index(
            'ix_positions_owner_closed', ['user_id', 'closed_at', 'id'], unique=False,
            postgresql_where=sa.text(CLOSED), sqlite_where=sa.text(CLOSED),
        )


def downgrade() -> None:
    with op.batch_alter_table('positions', schema=None) as batch_op:
        batch_op.drop_index('ix_positions_owner_closed')
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_transactions_money')
    with op.batch_alter_table('trades', schema=None) as batch_op:
        batch_op.create_index('ix_trades_user_id', ['user_id'], unique=False)
        batch_op.drop_index('ix_trades_user_history')
