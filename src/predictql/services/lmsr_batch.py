"""LMSR trades and closes of one market, executed as one batch (the market writer's executor).

The market (with its pool and event) is locked once; what the whole batch needs is read in one
statement each (the traders with their referral chains, their open positions here, every ledger
account the batch moves, locked in id order). The items are then applied in arrival order IN
MEMORY, pricing staying pure (``pricing.lmsr``): an item that fails its own checks (market closed,
amount too small, nothing to sell, insufficient balance) fails alone with the error the single
trade gives and changes nothing. The batch is written with a handful of multi-row statements
whatever its size: trades, price points, positions and the market row (Core statements,
``models.core``), alert firings (one flush), the ledger (``ledger.post_locked``), notifications,
stream messages.

Each outcome is what ``lmsr_trading.trade`` / ``close_position`` return for that request alone,
with what the trade left for its trader (``positions.AfterTrade``) as it stood right after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import DomainError, InsufficientFunds, InvalidInput, NotFound
from predictql.models import Event, LedgerAccount, Market, Pool, Position, PricePoint, Trade, core
from predictql.pricing import lmsr
from predictql.services import (
    alerts,
    events,
    ledger,
    market_writer,
    notifications,
    order_writes,
    positions,
    referrals,
)
from predictql.services.ledger import Movement
from predictql.services.lmsr_trading import (
    TOKENS,
    CloseResult,
    TradeRequest,
    TradeResult,
    _check_open,
    _parse,
    _payment,
    _proceeds,
    _quote,
)
from predictql.services.pools import state_of
from predictql.services.prices import market_price
from predictql.subscriptions import topics


@dataclass(frozen=True, slots=True)
class TradeItem:
    """``lmsr_trading.trade``, queued: ``side`` already parsed, the caller allowed to write."""

    actor: Actor
    request: TradeRequest
    fee_bps: int
    want_after: bool = False


@dataclass(frozen=True, slots=True)
class CloseItem:
    """``lmsr_trading.close_position``, queued."""

    actor: Actor
    fee_bps: int
    want_after: bool = False


@dataclass(frozen=True, slots=True)
class Traded:
    result: TradeResult
    after: positions.AfterTrade | None


@dataclass(frozen=True, slots=True)
class Closed:
    result: CloseResult
    after: positions.AfterTrade | None


MARKET_STATE = ("q_yes", "q_no", "volume")
"""The market columns a trade changes: set on the locked row with ``core.put``, written with ``core.save``."""

OTHER_KINDS = ("escrow", ledger.P2P_ESCROW_KIND, ledger.PAYOUT_KIND)

Row = TypeVar("Row", bound=SQLModel)


def _copy(row: Row) -> Row:
    """A copy of a row's columns as they are now, outside the session."""
    return core.build(type(row), core.values_of(row))


@dataclass(slots=True)
class _Sale:
    """One execution of an item: its trade row and what it moved."""

    trade: Trade
    quote: lmsr.Quote
    movements: list[Movement]
    held: dict[str, int]  # the trader's open units by token right after it


@dataclass(slots=True)
class _Done:
    """A successful item: its sales, and (when asked) the trader's state right after it."""

    item: TradeItem | CloseItem
    sales: list[_Sale]
    market: Market | None = None
    positions: list[tuple[Position, dict[str, Any]]] = field(default_factory=list)
    money: tuple[int, int] = (0, 0)


class _Batch:
    """The locked state of one market and its traders, moved in memory item by item."""

    def __init__(
        self,
        market: Market,
        pool: Pool,
        event: Event,
        chains: dict[int, list[int]],
        open_positions: list[Position],
        accounts: ledger.Accounts,
    ) -> None:
        self.market, self.pool, self.event = market, pool, event
        self.chains = chains
        self.positions = {(p.user_id, p.token): p for p in open_positions}
        self.accounts = accounts
        self.balances = {code: balance for code, (_, balance, _, _) in accounts.items()}
        self.prices: list[tuple[int, int]] = []  # each sale's YES price move, in order
        self.points: list[dict[str, Any]] = []  # price points (inserted with the trades)
        self.new_positions: list[Position] = []
        self.touched: list[Position] = []  # positions changed (their final state is streamed)

    def sale(self, user_id: int, quote: lmsr.Quote, *, use_bonus: bool, now: datetime) -> _Sale:
        """Check one execution against the state now and apply it; nothing changes when it fails."""
        market = self.market
        assert market.id is not None
        side = quote.side
        token = "YES" if side.is_yes else "NO"
        position = self.positions.get((user_id, token))
        if not side.is_buy:
            if position is None:
                raise positions.no_position()
            if quote.shares > position.amount:
                raise InvalidInput(f"you hold {position.amount} units", code="INVALID_AMOUNT")
        bonus = self.balances.get(ledger.user_bonus(user_id), 0) if (side.is_buy and use_bonus) else 0
        referrers = self.chains.get(user_id, [])
        movements = _payment(user_id, market.id, quote, bonus) if side.is_buy else _proceeds(user_id, market.id, quote)
        movements += referrals.fee_movements(quote.fee, referrers, payer_id=user_id, reference=("trade", 0))
        deltas: dict[str, int] = {}
        for movement in movements:
            for code, amount in movement.legs:
                deltas[code] = deltas.get(code, 0) + amount
        for code, delta in deltas.items():
            _, _, tracked, owner = self.accounts[code]
            if tracked and owner is not None and self.balances[code] + delta < 0:
                raise InsufficientFunds("insufficient balance for this trade")
        # Checked: apply.
        for code, delta in deltas.items():
            self.balances[code] += delta
        if side.is_buy:
            bonus_price = min(bonus, quote.amm_amount)  # only the price part paid from bonus is recorded
            if position is None:
                position = positions.opened(user_id, market, token, now)
                self.positions[(user_id, token)] = position
                self.new_positions.append(position)
            core.put(
                position,
                **positions.bought(
                    position, quote.shares, quote.amm_amount, quote.total, bonus_price, use_bonus=bonus_price > 0
                ),
            )
        else:
            assert position is not None
            core.put(position, **positions.sold(position, quote.shares, quote.total, now))
            if position.status == "closed":
                del self.positions[(user_id, token)]
        before = market_price(market).yes
        # The market row is written with the batch's Core statements (``MARKET_STATE``), not flushed.
        core.put(
            market, q_yes=quote.new_state.q_yes, q_no=quote.new_state.q_no, volume=market.volume + quote.amm_amount
        )
        self.prices.append((before, market_price(market).yes))
        self.points.append(
            {"market_id": market.id, "probability": market_price(market).yes_probability, "created_at": now}
        )
        trade = core.build(
            Trade,
            {
                "market_id": market.id,
                "event_id": market.event_id,
                "user_id": user_id,
                "kind": "lmsr",
                "side": "buy" if side.is_buy else "sell",
                "token": token,
                "shares": quote.shares,
                "price": quote.amm_amount * 10000 // quote.shares,
                "amount": quote.amm_amount,
                "fee": quote.fee,
                "created_at": now,
            },
        )
        self.touched.append(position)
        return _Sale(trade, quote, movements, self.held(user_id))

    def held(self, user_id: int) -> dict[str, int]:
        return {token: p.amount for token in TOKENS if (p := self.positions.get((user_id, token))) is not None}

    def open_of(self, user_id: int) -> list[Position]:
        return [p for token in TOKENS if (p := self.positions.get((user_id, token))) is not None]

    def trade(self, item: TradeItem, now: datetime) -> list[_Sale]:
        request = item.request
        side = _parse(request)
        if side.is_buy and not events.can_see(item.actor, self.event):
            raise NotFound("market not found", code="MARKET_NOT_FOUND")
        _check_open(self.market, self.pool, self.event, now)
        quote = _quote(self.market, side, request, item.fee_bps)
        return [self.sale(_user(item.actor), quote, use_bonus=request.use_bonus, now=now)]

    def close(self, item: CloseItem, now: datetime) -> list[_Sale]:
        user_id = _user(item.actor)
        held = self.held(user_id)
        if not any(held.values()):
            raise positions.no_position()
        _check_open(self.market, self.pool, self.event, now)
        sales = []
        for token, side in TOKENS.items():
            if held.get(token):
                quote = lmsr.quote_shares(state_of(self.market), side, held[token], item.fee_bps)
                sales.append(self.sale(user_id, quote, use_bonus=False, now=now))
        return sales


def _user(actor: Actor) -> int:
    assert actor.user_id is not None
    return actor.user_id


def _missing(item: TradeItem | CloseItem) -> DomainError:
    if isinstance(item, CloseItem):
        return positions.no_position()
    return NotFound("market not found", code="MARKET_NOT_FOUND")


async def execute(session: AsyncSession, market_id: int, items: list[Any]) -> list[Any]:
    """The market writer's executor for ``TradeItem`` and ``CloseItem``: one outcome per item."""
    row = (
        await session.execute(
            select(Market, Pool, Event)
            .join(Pool, col(Pool.id) == Market.pool_id)
            .join(Event, col(Event.id) == Market.event_id)
            .where(Market.id == market_id)
            .with_for_update(of=Market)
            .execution_options(populate_existing=True)
        )
    ).first()
    items = [*items, *market_writer.joined(session)]  # what queued while this waited for the lock
    if row is None:
        return [_missing(item) for item in items]
    market, pool, event = row
    traders = list(dict.fromkeys(_user(item.actor) for item in items))
    users = await referrals.traders_with_chains(session, traders)  # handed to the trade ticks (``topics``)
    chains = {user_id: referrers for user_id, (_, referrers) in users.items()}
    held = await positions.load_open(session, market_id, traders)
    codes = [ledger.market_amm(market_id), ledger.FEES, ledger.REVENUE]
    for user_id in traders:
        codes += [ledger.user_cash(user_id), ledger.user_bonus(user_id)]
        codes += [ledger.user_cash(referrer) for referrer in chains.get(user_id, [])]
    accounts = await ledger.lock_balances(session, codes)
    batch = _Batch(market, pool, event, chains, held, accounts)

    outcomes: list[Any] = []
    done: list[_Done] = []
    for item in items:
        now = utcnow()
        try:
            sales = batch.trade(item, now) if isinstance(item, TradeItem) else batch.close(item, now)
        except DomainError as exc:
            outcomes.append(exc)
            continue
        user_id = _user(item.actor)
        record = _Done(item, sales)
        if item.want_after:
            record.market = _copy(market)
            record.positions = [(p, core.values_of(p)) for p in batch.open_of(user_id)]
            record.money = (
                batch.balances[ledger.user_cash(user_id)],
                batch.balances[ledger.user_bonus(user_id)],
            )
        done.append(record)
        outcomes.append(record)
    if not done:
        return outcomes

    # Write the batch with Core statements (trades, price points, positions), one flush (the market,
    # alert firings), the ledger, the notifications in order, the streams.
    moves = await alerts.market_moves(session, market, batch.prices)
    sales = [sale for record in done for sale in record.sales]
    await core.add_with(session, [sale.trade for sale in sales], PricePoint, batch.points)  # one on PostgreSQL
    await positions.write(session, batch.new_positions, batch.touched)
    await core.save(session, [market], MARKET_STATE)
    await session.flush()  # the alert firings
    movements: list[Movement] = []
    drafts: list[notifications.Draft] = []
    for sale, fired in zip(sales, moves, strict=True):
        assert sale.trade.id is not None
        reference = ("trade", sale.trade.id)
        movements += [Movement(m.kind, m.legs, m.user_id, reference, m.memo) for m in sale.movements]
        drafts.append(notifications.trade_executed_draft(sale.trade, market, total=sale.quote.total))
        drafts += fired
    await ledger.post_locked(session, movements, accounts)
    topics.positions_changed(session, batch.touched)
    trades = [sale.trade for sale in sales]
    traders_by_id = {user_id: user for user_id, (user, _) in users.items()}
    await topics.trades_executed(
        session, market, trades, [(trade, None) for trade in trades], event=event, users=traders_by_id
    )
    await notifications.create_all(session, drafts)  # after the ticks, as a single trade sends them
    others = await _other_balances(session, [_user(r.item.actor) for r in done if r.item.want_after])
    return [_outcome(outcome, market, pool, event, others) for outcome in outcomes]


async def _other_balances(session: AsyncSession, user_ids: list[int]) -> dict[tuple[int, str], int]:
    """(user, kind) -> balance of the accounts a trade does not move (frozen by orders, P2P, payouts)."""
    if not user_ids:
        return {}
    rows = await session.execute(
        select(LedgerAccount.user_id, LedgerAccount.kind, LedgerAccount.balance).where(
            core.one_of(session, col(LedgerAccount.user_id), user_ids), col(LedgerAccount.kind).in_(OTHER_KINDS)
        )
    )
    return {(int(user_id), kind): int(balance) for user_id, kind, balance in rows}


def _result(sale: _Sale, market: Market) -> TradeResult:
    quote = sale.quote
    held = sale.held
    return TradeResult(
        quote.total,
        quote.shares,
        quote.fee,
        held.get("YES", 0),
        held.get("NO", 0),
        sale.trade.id,
        market,
        quote.side.is_buy,
        (sale.trade,),
    )


def _outcome(
    outcome: Any, market: Market, pool: Pool, event: Event, others: dict[tuple[int, str], int]
) -> DomainError | Traded | Closed:
    if isinstance(outcome, DomainError):
        return outcome
    record: _Done = outcome
    after = None
    if record.market is not None:
        user_id = _user(record.item.actor)
        views = []
        for live, values in record.positions:
            snapshot = core.build(Position, {**values, "id": live.id})
            views.append(positions.PositionView(snapshot, record.market, pool, event))
        views.sort(key=lambda view: view.position.id or 0)
        cash, bonus = record.money
        balances = ledger.Balances(
            cash=cash,
            bonus=bonus,
            frozen=others.get((user_id, "escrow"), 0),
            p2p_frozen=others.get((user_id, ledger.P2P_ESCROW_KIND), 0),
            payout_frozen=others.get((user_id, ledger.PAYOUT_KIND), 0),
        )
        after = positions.AfterTrade(record.market, views, balances)
    if isinstance(record.item, TradeItem):
        (sale,) = record.sales
        return Traded(_result(sale, market), after)
    results = tuple(_result(sale, market) for sale in record.sales)
    assert market.id is not None
    return Closed(CloseResult(market.id, sum(r.cost_or_payout for r in results), results), after)


market_writer.register(TradeItem, execute)
market_writer.register(CloseItem, execute)


# -- the entry points of both faces (REST and GraphQL) -----------------------------------------


async def trade(
    writer: market_writer.MarketWriter,
    actor: Actor,
    request: TradeRequest,
    *,
    fee_bps: int,
    want_after: bool = False,
) -> Traded:
    """``lmsr_trading.trade`` through the market's writer (batched with the others queued there)."""
    actor.require_write()
    _parse(request)  # bad input fails before it queues
    result: Traded = await writer.run(request.market_id, TradeItem(actor, request, fee_bps, want_after))
    return result


async def close_holding(
    writer: market_writer.MarketWriter, actor: Actor, *, market_id: int, fee_bps: int, want_after: bool = False
) -> Closed:
    """``order_lifecycle.close_holding`` for either mechanism: an LMSR market's close goes through
    the market's writer, and so does an order-book market's (``order_writes.close``)."""
    user_id = actor.require_write()
    db = writer.db
    async with db.session() as session:
        market_type = await session.scalar(select(Market.market_type).where(col(Market.id) == market_id))
    if market_type == "orderbook":
        result = await order_writes.close(writer, actor, market_id=market_id, fee_bps=fee_bps)
        after = None
        if want_after:
            async with db.session() as session:
                after = await positions.after_trade(session, user_id, market_id)
        return Closed(result, after)
    closed: Closed = await writer.run(market_id, CloseItem(actor, fee_bps, want_after))
    return closed
