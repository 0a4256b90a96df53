"""What order-book orders hold and what their fills move: escrow, reservations, positions, ledger.

Escrow design
-------------
* A **buy** reserves its whole budget when placed: it moves from the owner's bonus (first, when
  ``use_bonus``) and cash to the owner's ``user:{id}:escrow`` ledger account (tracked, never
  negative). ``Order.escrow`` is the part still reserved and ``Order.escrow_bonus`` the part of it
  that came from bonus; the escrow account's balance is the sum of its owner's open buys' escrow.
  Fills pay out of escrow; a cancel (user, expiry, pause, resolution, self-trade) or a finished
  order releases what is left: the bonus part back to bonus, the rest to cash.
* A **sell** reserves share units without moving them: they stay in the position (so PnL,
  settlement and listings see the real holding) and ``Order.escrow`` counts the units the order
  still claims. A new sell may use ``position.amount - sum(escrow of the owner's open sells)``.
  A fill removes the units from the position (realizing PnL against the proceeds) and from escrow.
* Every fill is one balanced ledger transaction built from the engine's ``Fill``: buyers' escrow
  pays, sellers' cash receives, both fees go to ``platform:fees`` (then each payer's fee is split
  by ``referrals.fee_movements``), mint/merge collateral to/from ``market:{id}:collateral``, and the
  rounding kopeck to ``platform:revenue``.

Every function here runs with the market row locked by the caller.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.db import utcnow
from predictql.models import LedgerAccount, Market, Order, Position, Trade, core
from predictql.models.orders import OPEN_SQL, OPEN_STATUSES
from predictql.pricing.orderbook import Fill
from predictql.services import ledger, positions, referrals
from predictql.services.ledger import Movement
from predictql.subscriptions import topics

ESCROW_KIND = "escrow"


def user_escrow(user_id: int) -> str:
    return f"user:{user_id}:escrow"


async def open_escrows(session: AsyncSession, user_ids: list[int]) -> None:
    """Get-or-create the users' escrow accounts in one statement; concurrent callers neither fail nor
    duplicate one."""
    if not user_ids:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    await session.execute(
        dialect.insert(LedgerAccount)
        .values(
            [
                {"code": user_escrow(user_id), "kind": ESCROW_KIND, "user_id": user_id, "allow_negative": False}
                for user_id in sorted(set(user_ids))
            ]
        )
        .on_conflict_do_nothing(index_elements=["code"])
    )


def reserve(order: Order, bonus: int) -> None:
    """A new order (a transient row, ``core.build``) reserves its whole amount; a buy takes ``bonus``
    kopecks of it from bonus first."""
    from_bonus = min(bonus, order.amount) if order.side == "buy" and order.use_bonus else 0
    core.put(order, escrow=order.amount, escrow_bonus=from_bonus)


def fund(order: Order) -> list[Movement]:
    """The ledger side of ``reserve``: a buy's budget moves from bonus and cash to escrow."""
    assert order.id is not None
    if order.side == "sell":
        return []
    escrow, ref = user_escrow(order.user_id), ("order", order.id)
    parts = (
        (ledger.user_bonus(order.user_id), order.escrow_bonus),
        (ledger.user_cash(order.user_id), order.amount - order.escrow_bonus),
    )
    return [
        ledger.transfer("order_escrow", source, escrow, amount, user_id=order.user_id, reference=ref)
        for source, amount in parts
        if amount
    ]


def release(order: Order) -> list[Movement]:
    """Give back whatever the order still reserves (bonus part to bonus, the rest to cash)."""
    assert order.id is not None
    amount, from_bonus = order.escrow, min(order.escrow_bonus, order.escrow)
    order.escrow = order.escrow_bonus = 0
    if order.side == "sell" or not amount:
        return []
    escrow, ref = user_escrow(order.user_id), ("order", order.id)
    parts = ((ledger.user_bonus(order.user_id), from_bonus), (ledger.user_cash(order.user_id), amount - from_bonus))
    return [
        ledger.transfer("order_release", escrow, target, part, user_id=order.user_id, reference=ref)
        for target, part in parts
        if part
    ]


def take_off(session: AsyncSession, orders: list[Order], reason: str, now: datetime) -> list[Movement]:
    """``cancel`` open orders; their owners and their markets' books are told after the commit."""
    topics.orders_changed(session, orders)
    topics.book_changed(session, orders)
    return cancel(orders, reason, now)


def cancel(orders: list[Order], reason: str, now: datetime) -> list[Movement]:
    """Take open orders off the book (``reason``: user_cancel, expired, market_paused, ...)."""
    movements: list[Movement] = []
    for order in orders:
        order.status, order.cancel_reason, order.updated_at = "cancelled", reason, now
        movements += release(order)
    return movements


async def open_orders(session: AsyncSession, market_id: int, *where: Any) -> list[Order]:
    """A locked market's open orders (matching ``where``), freshly read, in priority order."""
    query = select(Order).where(col(Order.market_id) == market_id, col(Order.status).in_(OPEN_STATUSES), *where)
    return list(await session.scalars(query.order_by(col(Order.seq)).execution_options(populate_existing=True)))


def due_conditions() -> tuple[Any, ...]:
    """The conditions of the market ``:market_id``'s open orders due at ``:now`` (bound
    parameters): the GTD orders whose time has come (``expire_due``; the order-book batch's read).
    The statuses are literals, as ``ix_orders_market_due``'s predicate spells them: bound, a
    prepared statement's generic plan can use no partial index, and filtered them row by row over
    every order of the market in ``ix_orders_market_status``."""
    orders = core.table(Order).c
    return (
        orders.market_id == bindparam("market_id", type_=BigInteger),
        text(OPEN_SQL),
        orders.expires_at <= bindparam("now", type_=orders.expires_at.type),
    )


@cache
def _due_query() -> Any:
    """``open_orders`` of the market due (``due_conditions``), built once: every trading batch ran it (its
    cache key is then memoized)."""
    query = select(Order).where(*due_conditions())
    return query.order_by(col(Order.seq)).execution_options(populate_existing=True)


async def expire_due(session: AsyncSession, market: Market, now: datetime) -> list[Movement]:
    """Cancel the market's GTD orders whose time has come; their release movements."""
    due = list(await session.scalars(_due_query(), {"market_id": market.id or 0, "now": now}))
    movements = take_off(session, due, "expired", now)
    if due:  # later queries must see them gone (sessions do not autoflush)
        await session.flush()
    return movements


@dataclass
class FillBook:
    """Applies a submission's fills to order rows, then to positions, trades and the ledger.

    The rows are transient (``core.build``; the batch writes them with ``core.save``): their columns
    are changed in place, without the ORM's attribute events."""

    market: Market
    orders: dict[int, Order]  # every order a fill may name, by id (the taker included)
    holdings: dict[tuple[int, str, bool], positions.Holding] = field(
        default_factory=lambda: defaultdict(positions.Holding)
    )
    trades: list[tuple[Trade, int]] = field(default_factory=list)  # (row, fee), one per party per fill
    fills: list[tuple[Fill, Trade, Trade]] = field(default_factory=list)
    volume: int = 0

    def apply(self, fill: Fill) -> tuple[Trade, Trade]:
        """Account one fill on both orders; returns the (taker, maker) trade rows, not yet added."""
        taker = self._leg(fill.taker_order_id, fill.units, fill.taker_price, fill.taker_cash, fill.taker_fee)
        maker = self._leg(fill.maker_order_id, fill.units, fill.maker_price, fill.maker_cash, fill.maker_fee)
        self.fills.append((fill, taker, maker))
        buyers = [t.amount for t in (taker, maker) if t.side == "buy"]
        self.volume += sum(buyers) if buyers else taker.amount + maker.amount
        return taker, maker

    def _leg(self, order_id: int, units: int, price: int, cash: int, fee: int) -> Trade:
        order = self.orders[order_id]
        row = order.__dict__  # a transient row: see the class
        row["filled"] += units
        row["fees"] += fee
        key = (order.user_id, order.token, order.side == "buy")
        holding = self.holdings[key]
        holding.units += units
        if order.side == "buy":
            paid = -cash
            cost = paid - fee
            from_bonus = min(row["escrow_bonus"], paid)
            row["escrow_bonus"] -= from_bonus
            row["escrow"] -= paid
            row["remaining"] -= paid
            row["spent"] += paid
            holding.price_cost += cost
            holding.cost += paid
            holding.bonus_cost += min(from_bonus, cost)
            amount = cost
        else:
            row["escrow"] -= units
            row["remaining"] -= units
            row["received"] += cash
            holding.proceeds += cash
            amount = cash + fee
        trade = core.build(  # written by the batch (``models.core.add``)
            Trade,
            {
                "market_id": self.market.id or 0,
                "event_id": self.market.event_id,
                "user_id": order.user_id,
                "kind": "orderbook",
                "side": order.side,
                "token": order.token,
                "shares": units,
                "price": price,
                "amount": amount,
                "fee": fee,
                "created_at": utcnow(),
            },
        )
        self.trades.append((trade, fee))
        return trade

    async def move_positions(
        self, session: AsyncSession, loaded: tuple[AbstractSet[int], Sequence[Position]] = (frozenset(), ())
    ) -> None:
        """Sellers' units out (PnL realized against proceeds), buyers' units in, for the whole batch
        (``loaded``: ``positions.apply_holdings``')."""
        await positions.apply_holdings(session, self.market, self.holdings, loaded)

    def movements(self, chains: dict[int, list[int]]) -> list[Movement]:
        """One balanced transaction per fill, then each party's fee split (trade rows have ids now)."""
        out: list[Movement] = []
        collateral = ledger.market_collateral(self.market.id or 0)
        for fill, taker, maker in self.fills:
            legs = [
                _party_leg(taker, fill.taker_cash),
                _party_leg(maker, fill.maker_cash),
                (ledger.FEES, fill.taker_fee + fill.maker_fee),
                (collateral, fill.collateral),
                (ledger.REVENUE, fill.rounding),
            ]
            reference = ("trade", taker.id or 0)
            out.append(Movement("order_fill", tuple(leg for leg in legs if leg[1]), taker.user_id, reference))
        for trade, fee in self.trades:
            out += referrals.fee_movements(
                fee, chains[trade.user_id], payer_id=trade.user_id, reference=("trade", trade.id or 0)
            )
        return out


def _party_leg(trade: Trade, cash: int) -> tuple[str, int]:
    """A buyer pays from escrow; a seller is paid to cash (``cash`` is signed, fee included)."""
    return (user_escrow(trade.user_id) if trade.side == "buy" else ledger.user_cash(trade.user_id)), cash


def involved_codes(users: set[int], chains: dict[int, list[int]], market_id: int) -> set[str]:
    """Every tracked account a submission may move (the batch locks them: ``ledger.lock_balances``)."""
    codes = {ledger.market_collateral(market_id)}
    for user in users | {r for chain in chains.values() for r in chain}:
        codes |= {ledger.user_cash(user), ledger.user_bonus(user), user_escrow(user)}
    return codes
