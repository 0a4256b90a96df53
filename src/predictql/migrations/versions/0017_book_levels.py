"""book levels (issue 14 point 2: the levels read after a batch costs the levels it touched)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06

``book_levels``: per market, the number of open limit orders with each (token, price, side,
remaining), the input of ``orderbook_trading.level_units``. The level read published after every
order-book batch read each touched level's orders (GROUP BY over ``orders``): 8 ms a batch and
growing with the book. It now reads these rows, one per distinct remainder at a level.

Kept by triggers on ``orders`` rather than by each writer: every path that opens, fills, cancels
or expires an order (the batch executor, cancels, expiry, pause and resolution, a backoffice
UPDATE) changes the table in its own statement's transaction, so the counts stay exact under
concurrent writers and processes, and a new code path cannot forget them. (Writers of one market
hold its row lock, so two statements never change its rows at once; if two did, the check below
would fail one of them rather than let a count drift.) PostgreSQL: one
statement-level trigger per operation over its transition tables (one grouped write per
statement, not per row). SQLite: row triggers. The counts are only positive (``orders > 0``): a
decrement below what is there fails its statement instead of drifting.

The table is filled from the open orders with ``orders`` locked against writers (PostgreSQL), so
no change falls between the fill and the triggers.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "market_id, token, price, side, remaining"
COLS = KEY.split(", ")
OPEN = "status IN ('pending', 'partial') AND kind = 'limit'"
FILL = f"INSERT INTO book_levels ({KEY}, orders) SELECT {KEY}, count(*) FROM orders WHERE {OPEN} GROUP BY {KEY}"


def _same(a: str, b: str) -> str:
    return f"({', '.join(f'{a}.{c}' for c in COLS)}) = ({', '.join(f'{b}.{c}' for c in COLS)})"


def _pg_body(moved: str, *, strict: bool) -> str:
    """One statement: the statement's net change per key (``moved``: rows of KEY and +1 / -1);
    keys reaching zero deleted, the others there added to, the new ones inserted. A decrement of
    a key not there, or below zero, fails the check (``strict``), except for deleted orders: a key
    is then dropped at zero or below (tests empty the tables in any order, and a drifted table
    must not stop them). Not one INSERT ... ON CONFLICT for all: a
    proposed row's CHECK runs before its conflict is found."""
    gone = "=" if strict else "<="
    delta = (
        f"delta AS (SELECT {KEY}, sum(n) AS n FROM ({moved}) AS moved GROUP BY {KEY} HAVING sum(n) <> 0), "
        f"gone AS (DELETE FROM book_levels b USING delta d WHERE {_same('b', 'd')} AND b.orders + d.n {gone} 0 "
        f"RETURNING {', '.join(f'b.{c}' for c in COLS)}), "
        f"kept AS (UPDATE book_levels b SET orders = b.orders + d.n FROM delta d WHERE {_same('b', 'd')} "
        f"AND NOT b.orders + d.n {gone} 0 RETURNING {', '.join(f'b.{c}' for c in COLS)})"
    )
    new = " AND ".join(f"NOT EXISTS (SELECT 1 FROM {t} x WHERE {_same('x', 'd')})" for t in ("gone", "kept"))
    write = (
        f"INSERT INTO book_levels ({KEY}, orders) SELECT {', '.join(f'd.{c}' for c in COLS)}, d.n "
        f"FROM delta d WHERE {new}{'' if strict else ' AND d.n > 0'} ORDER BY {KEY} "
        f"ON CONFLICT ({KEY}) DO UPDATE SET orders = book_levels.orders + excluded.orders"
    )
    return f"BEGIN WITH {delta} {write}; RETURN NULL; END;"


ENTERED = f"SELECT {KEY}, 1 AS n FROM new_rows WHERE {OPEN}"
LEFT = f"SELECT {KEY}, -1 AS n FROM old_rows WHERE {OPEN}"
PG_TRIGGERS = (  # name, event, transition tables, moved rows, strict
    ("insert", "INSERT", "NEW TABLE AS new_rows", ENTERED, True),
    ("update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows", f"{ENTERED} UNION ALL {LEFT}", True),
    ("delete", "DELETE", "OLD TABLE AS old_rows", LEFT, False),
)


def _sqlite_open(row: str) -> str:
    """OPEN of ``row`` (OLD or NEW)."""
    return f"{row}.status IN ('pending', 'partial') AND {row}.kind = 'limit'"


def _sqlite_leave(row: str) -> str:
    """``row`` (OLD) leaves its key: the row deleted at one order, else decremented (in that order)."""
    where = " AND ".join(f"{c} = {row}.{c}" for c in COLS)
    is_open = _sqlite_open(row)
    return (
        f"DELETE FROM book_levels WHERE {is_open} AND {where} AND orders = 1; "
        f"UPDATE book_levels SET orders = orders - 1 WHERE {is_open} AND {where} AND orders > 1;"
    )


def _sqlite_enter(row: str) -> str:
    values = ", ".join(f"{row}.{c}" for c in COLS)
    return (
        f"INSERT INTO book_levels ({KEY}, orders) SELECT {values}, 1 "
        f"WHERE {_sqlite_open(row)} "
        f"ON CONFLICT ({KEY}) DO UPDATE SET orders = orders + 1;"
    )


SQLITE_TRIGGERS = (
    ("insert", "INSERT", _sqlite_enter("NEW")),
    ("update", f"UPDATE OF status, kind, {KEY}", _sqlite_leave("OLD") + " " + _sqlite_enter("NEW")),
    ("delete", "DELETE", _sqlite_leave("OLD")),
)


def upgrade() -> None:
    op.create_table('book_levels',
    sa.Column('market_id', sa.BigInteger(), nullable=False),
    sa.Column('token', sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
    sa.Column('price', sa.Integer(), nullable=False),
    sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
    sa.Column('remaining', sa.BigInteger(), nullable=False),
    sa.Column('orders', sa.BigInteger(), nullable=False),
    sa.CheckConstraint('orders > 0', name=op.f('ck_book_levels_positive')),
    sa.PrimaryKeyConstraint('market_id', 'token', 'price', 'side', 'remaining', name=op.f('pk_book_levels'))
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")  # no write between fill and triggers
        for name, event, tables, moved, strict in PG_TRIGGERS:
            op.execute(
                f"CREATE FUNCTION book_levels_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f"{_pg_body(moved, strict=strict)}$$"
            )
            op.execute(
                f"CREATE TRIGGER book_levels_{name} AFTER {event} ON orders REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION book_levels_{name}()"
            )
    else:
        for name, event, body in SQLITE_TRIGGERS:
            op.execute(f"CREATE TRIGGER book_levels_{name} AFTER {event} ON orders FOR EACH ROW BEGIN {body} END")
    op.execute(FILL)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, *_ in PG_TRIGGERS:
        op.execute(f"DROP TRIGGER book_levels_{name}" + (" ON orders" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION book_levels_{name}()")
    op.drop_table('book_levels')
