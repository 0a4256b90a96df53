"""Order-book writes of both faces (REST and GraphQL) through the market's writer.

Each placement, cancel and close is queued on its market's ``MarketWriter`` and executed by
``orderbook_batch.execute`` together with whatever else is queued there: one lock, one commit per
batch (issue 14, group commit). A request inside an idempotency unit runs alone in its own unit
(see ``market_writer``). What the faces read back afterwards (balances, positions) is read after
the commit: it is the caller's state as it is now.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby, takewhile

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.errors import NotFound
from predictql.models import Order
from predictql.services import market_writer, orderbook_batch
from predictql.services.lmsr_trading import CloseResult
from predictql.services.orderbook_trading import OrderRequest, Placed


@dataclass(frozen=True, slots=True)
class Queued:
    """An order-book item queued on its market's writer, with the process's fee setting."""

    item: orderbook_batch.Item
    fee_bps: int


async def execute(session: AsyncSession, market_id: int, queued: list[Queued]) -> list[orderbook_batch.Outcome]:
    """The writer's executor: the batch in arrival order (runs of one fee setting: one per process),
    the last run taking what queued on the market while it waited for the lock (``_joiner``)."""
    runs = deque(_runs(queued))
    outcomes: list[orderbook_batch.Outcome] = []
    while runs:
        fee_bps, items = runs.popleft()
        join = None if runs else _joiner(session, fee_bps, runs)
        outcomes += await orderbook_batch.execute(session, market_id, items, fee_bps=fee_bps, join=join)
    return outcomes


def _runs(queued: Sequence[Queued]) -> list[tuple[int, list[orderbook_batch.Item]]]:
    return [(fee_bps, [q.item for q in run]) for fee_bps, run in groupby(queued, key=lambda q: q.fee_bps)]


def _joiner(
    session: AsyncSession, fee_bps: int, runs: deque[tuple[int, list[orderbook_batch.Item]]]
) -> Callable[[], list[orderbook_batch.Item]]:
    """``market_writer.joined`` for the run of ``fee_bps``: the joined items of that setting up to the
    first of another, which run after it (``runs``), so the outcomes stay in arrival order."""

    def join() -> list[orderbook_batch.Item]:
        more: list[Queued] = market_writer.joined(session)
        same = list(takewhile(lambda q: q.fee_bps == fee_bps, more))
        runs.extend(_runs(more[len(same) :]))
        return [q.item for q in same]

    return join


market_writer.register(Queued, execute)


async def place(writer: market_writer.MarketWriter, actor: Actor, request: OrderRequest, *, fee_bps: int) -> Placed:
    actor.require_write()
    placed: Placed = await writer.run(request.market_id, Queued(orderbook_batch.Place(actor, request), fee_bps))
    return placed


async def cancel(writer: market_writer.MarketWriter, actor: Actor, *, order_id: int, fee_bps: int) -> Order:
    """Cancel one of the caller's open orders; what it still reserves is released."""
    user_id = actor.require_write()
    async with writer.db.session() as session:
        market_id = await session.scalar(
            select(Order.market_id).where(col(Order.id) == order_id, col(Order.user_id) == user_id)
        )
    if market_id is None:
        raise NotFound("order not found", code="ORDER_NOT_FOUND")
    cancelled: Order = await writer.run(market_id, Queued(orderbook_batch.Cancel(actor, order_id), fee_bps))
    return cancelled


async def cancel_all(writer: market_writer.MarketWriter, actor: Actor, *, market_id: int, fee_bps: int) -> list[Order]:
    """Cancel every open order of the caller in one market (none is not an error)."""
    actor.require_write()
    cancelled: list[Order] = await writer.run(market_id, Queued(orderbook_batch.CancelAll(actor), fee_bps))
    return cancelled


async def close(writer: market_writer.MarketWriter, actor: Actor, *, market_id: int, fee_bps: int) -> CloseResult:
    """Sell the caller's whole holding in an order-book market with market orders."""
    actor.require_write()
    closed: CloseResult = await writer.run(market_id, Queued(orderbook_batch.Close(actor), fee_bps))
    return closed
