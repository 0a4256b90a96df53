"""Every channel of the bus, and what the services emit on it: the only place channels are named
(message shapes: ``subscriptions.payloads``).

Channels:

- ``market:{id}``: the market's state after each change (``MarketState``).
- ``market:{id}:trades``: each trade in that market (``TradeTick``).
- ``trades``: each trade platform-wide (``TradeTick``), events hidden from the public left out.
- ``event:{id}:chart``: a probability point of one of the event's pools after each change
  (``ChartTick``; ``values`` per outcome, in outcome order, as the REST pool chart has them).
- ``user:{id}:notifications``: each notification created for that user (``NotificationTick``);
  private, followed only by that user.
- ``market:{id}:book``: an order-book market's changed price levels after each change of its
  resting orders (``BookLevels``: each level's total now, amount 0 = the level is gone).
- ``user:{id}:orders`` / ``:fills`` / ``:positions`` / ``:balance``: one user's own changes
  (``OrderState``, ``FillTick``, ``PositionState``, ``BalanceState``); only that user follows them.
- ``backoffice``: each change of a back-office work item (``BackOfficeItem``: a card order, a
  withdrawal, a P2P dispute, an ad to moderate, an escalated chat); operators and admins only.
- ``user:{id}:card_orders`` / ``user:{id}:withdrawals``: each change of one of that user's card
  orders (``CardOrderState``) or crypto withdrawals (``WithdrawalState``), whole; only that user.
- ``chat:{id}``: one support-chat session's messages and status changes (``ChatTick``); its
  visitor (by cookie or account) and operators follow it.
- ``event:{id}:comments``: each comment of that event created, edited, deleted, hidden or
  unhidden (``CommentTick``; public, like the event).
- ``user:{id}:access``: a session of that user ended, an API token was revoked or a role changed
  (``AccessChange``); every process's sockets signed in as that user follow it
  (``schema.socket_watch``), never a client.
- ``access``: every ``user:{id}:access`` message again, platform-wide (``AccessChange``); each
  process's cache of resolved callers follows it (``services.actor_cache``), never a client.
- ``asset:{SYMBOL}:price``: an asset's price each time a newer one is recorded (``AssetPriceTick``).

Executions (trades, fills) are emitted where they happen. State that may change several times in
one transaction (orders, positions, balances, book levels) is only *marked* changed there
(``orders_changed``...); ``services.live.publish_final_states``, a commit hook, emits each marked
item once, as it is at the end of the transaction.

Messages are JSON texts (``to_json``), serialized once by the publisher. Services call the
``*_changed``/``trade_executed`` helpers inside their transaction: the messages are queued on the
session (``db.emit``), numbered per channel and stored just before the commit
(``stream_log.sequence``), and published only after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.commit_effects import effects
from predictql.db import emit, utcnow
from predictql.models import Asset, Event, Market, Order, P2PMessage, P2POrder, Position, Trade, User
from predictql.pricing.orderbook_types import SCALE
from predictql.subscriptions.payloads import (
    AccessChange,
    AssetPriceTick,
    BackOfficeItem,
    BalanceState,
    BookLevels,
    CardOrderState,
    ChartTick,
    ChatTick,
    CommentTick,
    FillTick,
    MarketState,
    NotificationTick,
    OrderState,
    P2PMessageState,
    P2POrderState,
    PositionState,
    TradeTick,
    WithdrawalState,
)

TRADES = "trades"
BACKOFFICE = "backoffice"
ACCESS = "access"


def market_channel(market_id: int) -> str:
    return f"market:{market_id}"


def market_trades_channel(market_id: int) -> str:
    return f"market:{market_id}:trades"


def event_chart_channel(event_id: int) -> str:
    return f"event:{event_id}:chart"


def user_notifications_channel(user_id: int) -> str:
    return f"user:{user_id}:notifications"


def market_book_channel(market_id: int) -> str:
    return f"market:{market_id}:book"


def user_orders_channel(user_id: int) -> str:
    return f"user:{user_id}:orders"


def user_fills_channel(user_id: int) -> str:
    return f"user:{user_id}:fills"


def user_positions_channel(user_id: int) -> str:
    return f"user:{user_id}:positions"


def user_balance_channel(user_id: int) -> str:
    return f"user:{user_id}:balance"


def user_access_channel(user_id: int) -> str:
    return f"user:{user_id}:access"


def user_card_orders_channel(user_id: int) -> str:
    return f"user:{user_id}:card_orders"


def user_withdrawals_channel(user_id: int) -> str:
    return f"user:{user_id}:withdrawals"


def support_chat_channel(session_id: int) -> str:
    return f"chat:{session_id}"


def event_comments_channel(event_id: int) -> str:
    return f"event:{event_id}:comments"


def asset_price_channel(symbol: str) -> str:
    return f"asset:{symbol}:price"


# -- emitted by the services, inside their transaction ---------------------------------------


async def trade_executed(session: AsyncSession, trade: Trade, market: Market) -> None:
    """After an LMSR trade is applied to ``market``: its trade and fill, the market's new state and
    its pool's chart point."""
    await trades_executed(session, market, [trade], [(trade, None)])


async def trades_executed(
    session: AsyncSession,
    market: Market,
    ticks: Sequence[Trade],
    fills: Sequence[tuple[Trade, int | None]],
    *,
    event: Event | None = None,
    users: Mapping[int, User] | None = None,
) -> None:
    """One submission's executions in ``market``: a public tick per execution (``ticks``), a
    private fill per party (``fills``: trade row, order id), then the market's state and chart
    point once. Trade rows must be flushed (they have ids). ``event`` (the market's) and ``users``
    (the traders by id), when the caller has them loaded, spare a session lookup per trade."""
    if not ticks:
        return
    if event is None:
        event = await session.get(Event, market.event_id)
    assert event is not None
    for trade in ticks:
        user = users.get(trade.user_id) if users is not None else None
        if user is None:
            user = await session.get(User, trade.user_id)
        assert user is not None
        tick = TradeTick.of(trade, market, event, user).to_json()
        emit(session, market_trades_channel(trade.market_id), tick)
        if event.is_active:
            emit(session, TRADES, tick)
    for trade, order_id in fills:
        emit(session, user_fills_channel(trade.user_id), FillTick.of(trade, order_id).to_json())
    await markets_changed(session, [market], at=ticks[-1].created_at)


async def markets_changed(session: AsyncSession, markets: Iterable[Market], *, at: datetime | None = None) -> None:
    """After prices, q, volume or paused/resolved changed: each market's state, each pool's point."""
    at = at or utcnow()
    pools: dict[int, int] = {}
    for market in markets:
        emit(session, market_channel(market.id or 0), MarketState.of(market, at).to_json())
        pools[market.pool_id] = market.event_id
    for pool_id, event_id in pools.items():
        # Loaded rows keep their unflushed changes (the identity map wins over the SELECT).
        siblings = list(await session.scalars(select(Market).where(col(Market.pool_id) == pool_id)))
        emit(session, event_chart_channel(event_id), ChartTick.of(siblings, at).to_json())


def access_changed(session: AsyncSession, user_ids: Iterable[int], reason: str) -> None:
    """After sessions or API tokens of these users were revoked, or their roles changed: their
    signed-in sockets, and every process's cache of resolved callers, re-check what they may still do."""
    for user_id in sorted(set(user_ids)):
        message = AccessChange(user_id, reason).to_json()
        emit(session, user_access_channel(user_id), message)
        emit(session, ACCESS, message)


def backoffice_item_changed(session: AsyncSession, kind: str, item_id: int, state: str, *, open: bool) -> None:
    """A back-office work item was created or changed state, in this transaction."""
    emit(session, BACKOFFICE, BackOfficeItem(kind, item_id, state, open, utcnow()).to_json())


def card_order_changed(session: AsyncSession, state: CardOrderState) -> None:
    """A card order was created or changed state (or got a chat message), in this transaction."""
    emit(session, user_card_orders_channel(state.user_id), state.to_json())


def withdrawal_changed(session: AsyncSession, state: WithdrawalState) -> None:
    """A crypto withdrawal was created or changed state, in this transaction."""
    emit(session, user_withdrawals_channel(state.user_id), state.to_json())


def comment_changed(session: AsyncSession, tick: CommentTick) -> None:
    """A comment was created or changed in this transaction (``CommentTick.action`` says how)."""
    emit(session, event_comments_channel(tick.event_id), tick.to_json())


def asset_price_changed(session: AsyncSession, asset: Asset) -> None:
    """After a newer price of ``asset`` was recorded, in this transaction."""
    emit(session, asset_price_channel(asset.symbol), AssetPriceTick.of(asset).to_json())


def notifications_inserted(session: AsyncSession, inserted: Iterable[tuple[int, Mapping[str, Any]]]) -> None:
    """After notifications were inserted: each on its owner's channel, from its id and its other
    columns (no ORM object built)."""
    for id_, values in inserted:
        tick = NotificationTick(id=id_, **values)
        emit(session, user_notifications_channel(tick.user_id), tick.to_json())


# -- marked by the services, emitted once at the end of the transaction ----------------------


def orders_changed(session: AsyncSession, orders: Iterable[Order]) -> None:
    """Orders whose state changed: each one's state at commit goes to its owner."""
    effects(session).orders.update((id(order), order) for order in orders)


def book_changed(session: AsyncSession, orders: Iterable[Order]) -> None:
    """Resting orders that entered, changed or left their market's book: their levels are sent."""
    levels = effects(session).book
    for order in orders:
        if order.kind == "limit":
            yes = order.token == "YES"
            touched = levels.setdefault(order.market_id, set())
            touched.add(((order.side == "buy") == yes, order.price if yes else SCALE - order.price))


def positions_changed(session: AsyncSession, positions: Iterable[Position]) -> None:
    effects(session).positions.update((id(position), position) for position in positions)


def balances_changed(session: AsyncSession, user_ids: Iterable[int]) -> None:
    effects(session).balances.update(user_ids)


@dataclass(frozen=True, slots=True)
class Marked:
    """What a transaction marked changed (taken off its ``CommitEffects`` by ``take_marked``)."""

    orders: list[Order]
    positions: list[Position]
    balances: set[int]
    book: dict[int, set[tuple[bool, int]]]  # market id -> (is bid, YES price)

    def __bool__(self) -> bool:
        return bool(self.orders or self.positions or self.balances or self.book)


def take_marked(session: AsyncSession) -> Marked:
    queued = effects(session)
    marked = Marked(list(queued.orders.values()), list(queued.positions.values()), queued.balances, queued.book)
    queued.orders, queued.positions, queued.balances, queued.book = {}, {}, set(), {}
    return marked


def publish_final(
    session: AsyncSession, marked: Marked, balances: Sequence[BalanceState], books: Sequence[BookLevels]
) -> None:
    """Emit what ``marked`` names as it is now, with the balances and levels read for it."""
    for order in sorted(marked.orders, key=lambda o: o.id or 0):
        emit(session, user_orders_channel(order.user_id), OrderState.of(order).to_json())
    for position in sorted(marked.positions, key=lambda p: p.id or 0):
        emit(session, user_positions_channel(position.user_id), PositionState.of(position).to_json())
    for balance in balances:
        emit(session, user_balance_channel(balance.user_id), balance.to_json())
    for book in books:
        emit(session, market_book_channel(book.market_id), book.to_json())


def support_chat_changed(session: AsyncSession, tick: ChatTick) -> None:
    """A support-chat message was posted or the session's status changed, in this transaction."""
    emit(session, support_chat_channel(tick.session_id), tick.to_json())


# -- P2P exchange ------------------------------------------------------------------------------


def user_p2p_orders_channel(user_id: int) -> str:
    """Each change of a P2P order the user is buyer or seller of (``P2POrderState``)."""
    return f"user:{user_id}:p2p_orders"


def p2p_order_messages_channel(order_id: int) -> str:
    """The chat of one P2P order (``P2PMessageState``): its two participants and operators."""
    return f"p2p_order:{order_id}:messages"


def p2p_order_changed(session: AsyncSession, order: P2POrder) -> None:
    """A P2P order was created or changed state, in this transaction: to buyer and seller."""
    text = P2POrderState.of(order).to_json()
    for user_id in sorted({order.buyer_id, order.seller_id}):
        emit(session, user_p2p_orders_channel(user_id), text)


def p2p_message_posted(session: AsyncSession, message: P2PMessage) -> None:
    """A message was added to a P2P order's chat (flushed: it has an id)."""
    emit(session, p2p_order_messages_channel(message.order_id), P2PMessageState.of(message).to_json())
