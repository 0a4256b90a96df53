"""Order-book trading: what a placement is, its field checks, and placing one.

The order path itself (lock the market once, load, match in memory with the pure ``Book``, write
orders, trades, positions, the ledger and the streams once) is the batch executor
``orderbook_batch.execute``; ``place_order`` is that executor with one placement. This module is
the layer below it: the request and result types, the checks, and rebuilding a ``Book`` from rows.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.errors import Conflict, DomainError, InvalidInput
from predictql.models import Event, Market, Order, Pool, Trade, core
from predictql.pricing.orderbook import Book, RestingOrder
from predictql.pricing.orderbook_types import MAX_PRICE, MIN_PRICE, SCALE, buy_total, max_buy_units
from predictql.services import orderbook_batch  # the executor (it imports this module's types)

TIFS = ("GTC", "GTD", "IOC", "FOK", "POST_ONLY")
MAX_AMOUNT = 10**15
WINDOW = 64  # resting orders loaded per side per batch (plus a few per item); widened when walked past
COID_CHARS = frozenset(string.ascii_letters + string.digits + "-_.:/")
ENGINE_CODES = {"INVALID_PRICE", "INVALID_AMOUNT", "INVALID_SIDE"}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as the caller sends it. ``amount``: buy = kopeck budget (fee included), sell = units."""

    market_id: int
    side: str
    token: str
    kind: str
    amount: int
    price: int | None = None
    use_bonus: bool = False
    tif: str | None = None
    expires_at: datetime | None = None
    client_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """The order after matching and the caller's side of each of its fills (trade rows)."""

    order: Order
    trades: tuple[Trade, ...]


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def check_request(request: OrderRequest, now: datetime, fee_bps: int) -> tuple[str, int | None]:
    """Field checks with the codes the place-order page uses; returns (time in force, price)."""
    if request.side not in ("buy", "sell") or request.token not in ("YES", "NO"):
        raise InvalidInput("type must be buy or sell and token_type YES or NO", code="INVALID_SIDE")
    if request.kind not in ("limit", "market"):
        raise InvalidInput("kind must be limit or market")
    unit = buy_total(1, MAX_PRICE, fee_bps) if request.side == "buy" else 1
    if not unit <= request.amount <= MAX_AMOUNT:
        raise InvalidInput(f"amount must be an integer from {unit} to {MAX_AMOUNT}", code="INVALID_AMOUNT")
    price = request.price if request.kind == "limit" else None
    if request.kind == "limit" and (price is None or not MIN_PRICE <= price <= MAX_PRICE):
        raise InvalidInput(f"a limit order needs a price from {MIN_PRICE} to {MAX_PRICE}", code="INVALID_PRICE")
    tif = request.tif or ("GTD" if request.expires_at is not None else "GTC")
    if tif not in TIFS:
        raise InvalidInput(f"time_in_force must be one of {', '.join(TIFS)}")
    expires = request.expires_at
    if (tif == "GTD") != (expires is not None) or (expires is not None and expires <= now):
        raise InvalidInput("GTD orders need a future expires_at; other orders take none")
    coid = request.client_order_id
    if coid is not None and not (0 < len(coid) <= 64 and set(coid) <= COID_CHARS):
        raise InvalidInput("client_order_id: 1-64 characters of letters, digits and -_.:/")
    return tif, price


def check_open(market: Market, pool: Pool, event: Event, now: datetime) -> None:
    if market.market_type != "orderbook":
        raise InvalidInput("this market trades with the market maker (POST /lmsr/trade)")
    if market.resolved or event.cancelled_at is not None or pool.closed_at is not None:
        raise Conflict("market is resolved", code="MARKET_RESOLVED")
    if market.paused or not pool.live_at <= now < pool.finish_at:
        raise Conflict("trading is paused or closed on this market", code="MARKET_PAUSED")


async def place_order(session: AsyncSession, actor: Actor, request: OrderRequest, *, fee_bps: int) -> Placed:
    """Match the order at resting prices (best first, FIFO), then rest, finish or cancel the rest:
    the order-book batch executor with this one placement."""
    (outcome,) = await orderbook_batch.execute(
        session, request.market_id, [orderbook_batch.Place(actor, request)], fee_bps=fee_bps
    )
    if isinstance(outcome, DomainError):
        raise outcome
    assert isinstance(outcome, Placed)
    return outcome


async def insert_new_orders(session: AsyncSession, rows: list[Order]) -> None:
    """Insert new order rows (``models.core.add``: their ids set); a client order id taken meanwhile
    (by the same user on another market) is DUPLICATE_CLIENT_ORDER_ID."""
    try:
        await core.add(session, rows)
    except IntegrityError as error:
        if "client_order_id" not in str(error.orig):
            raise  # UNIQUE(market_id, seq): two matchers on one market, which the lock rules out
        raise Conflict("client_order_id was already used", code="DUPLICATE_CLIENT_ORDER_ID") from None


def resting_of(row: Order) -> RestingOrder:
    return RestingOrder(
        row.id or 0,
        row.user_id,
        row.side,  # type: ignore[arg-type]
        row.token,  # type: ignore[arg-type]
        row.price,
        row.remaining,
        row.seq,
        row.kind,  # type: ignore[arg-type]
        row.amount,
        row.filled,
        row.spent,
        row.received,
        row.fees,
        row.tif,  # type: ignore[arg-type]
        ms(row.expires_at) if row.expires_at else None,
        row.client_order_id,
        row.status,  # type: ignore[arg-type]
    )


@cache
def _unit_cost(fee_bps: int) -> int:
    return buy_total(1, MAX_PRICE, fee_bps)


def tradable(side: str, remaining: int, fee_bps: int) -> bool:
    """A buy left below one unit's cost (the fee was raised since) cannot trade."""
    return side == "sell" or remaining >= _unit_cost(fee_bps)


def build_book(market_id: int, fee_bps: int, rows: list[Order]) -> Book:
    """A book of the ``tradable`` ``rows``."""
    return Book.from_resting(
        market_id, fee_bps, [resting_of(r) for r in rows if tradable(r.side, r.remaining, fee_bps)]
    )


def level_units(side: str, token: str, price: int, remaining: int, fee_bps: int) -> tuple[bool, int, int]:
    """(is bid, YES price, units) one resting limit order adds to its level, as ``Book.snapshot``
    counts it: a buy the units its budget still buys at its price, a sell its units; 0 untradable."""
    yes = token == "YES"
    units = 0
    if tradable(side, remaining, fee_bps):
        units = max_buy_units(remaining, price, fee_bps) if side == "buy" else remaining
    return (side == "buy") == yes, (price if yes else SCALE - price), units
