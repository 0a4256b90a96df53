"""Positions: how trades change them, how they are listed, and their PnL.

Average price is the volume-weighted price paid on buys (basis points) and does not change on
partial sells; realized PnL is money received minus the cost (fees included) of the units sold.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy import select as sql_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import InvalidInput, NotFound
from predictql.models import Event, Market, Pool, Position, User, core
from predictql.services import ledger
from predictql.services.cursors import Page, count, decode_cursor, page_of
from predictql.services.prices import market_price
from predictql.subscriptions import topics

SIDE_RU = {"YES": "ДА", "NO": "НЕТ"}  # how the Russian interface names a token


async def _open(session: AsyncSession, user_id: int, market_id: int, token: str) -> Position | None:
    return await session.scalar(
        select(Position)
        .where(
            Position.user_id == user_id,
            Position.market_id == market_id,
            Position.token == token,
            Position.status == "open",
        )
        .with_for_update()
    )


async def add_units(
    session: AsyncSession,
    *,
    user_id: int,
    market: Market,
    token: str,
    units: int,
    price_cost: int,
    cost: int,
    bonus_cost: int = 0,
    use_bonus: bool = False,
) -> Position:
    assert market.id is not None
    position = await _open(session, user_id, market.id, token)
    if position is None:
        position = Position(user_id=user_id, market_id=market.id, event_id=market.event_id, token=token)
        session.add(position)
    put_in(position, units, price_cost, cost, bonus_cost, use_bonus=use_bonus)
    await session.flush()
    topics.positions_changed(session, [position])
    return position


def _share(total: int, part: int, whole: int) -> int:
    return total * part // whole


async def remove_units(
    session: AsyncSession, *, user_id: int, market_id: int, token: str, units: int, proceeds: int
) -> Position:
    """Sell ``units``: realize PnL against their share of the cost; close the row at zero."""
    position = await _open(session, user_id, market_id, token)
    if position is None:
        raise NotFound("no open position in this market", code="POSITION_NOT_FOUND")
    if units > position.amount:
        raise InvalidInput(f"you hold {position.amount} units", code="INVALID_AMOUNT")
    take_out(position, units, proceeds)
    await session.flush()
    topics.positions_changed(session, [position])
    return position


@dataclass(slots=True)
class Holding:
    """One user's net change in one token over a batch of fills (sells: units out, buys: in)."""

    units: int = 0
    price_cost: int = 0
    cost: int = 0
    bonus_cost: int = 0
    proceeds: int = 0


async def apply_holdings(
    session: AsyncSession,
    market: Market,
    holdings: dict[tuple[int, str, bool], Holding],
    loaded: tuple[AbstractSet[int], Sequence[Position]] = (frozenset(), ()),
) -> None:
    """``remove_units`` for every selling holding, then ``add_units`` for every buying one, with the
    open positions they touch read (and locked) in one statement and written in at most two. The
    rows are transient (``load_open``'s, ``opened``'s): changed with ``core.put``, no ORM events.
    ``loaded``: users whose open positions here the caller has read and locked already, and those
    rows (``load_open``'s): only the others' are read."""
    assert market.id is not None
    if not holdings:
        return
    holders = {user_id for user_id, _, _ in holdings}
    read, rows = loaded
    missing = sorted(holders - read)
    found = [*rows, *(await load_open(session, market.id, missing) if missing else [])]
    open_rows = {(row.user_id, row.token): row for row in found if row.user_id in holders}
    changed: list[Position] = []
    new: list[Position] = []
    now = utcnow()
    for (user_id, token, buying), h in sorted(holdings.items(), key=lambda item: item[0][2]):
        position = open_rows.get((user_id, token))
        if not buying:
            if position is None:
                raise no_position()
            if h.units > position.amount:
                raise InvalidInput(f"you hold {position.amount} units", code="INVALID_AMOUNT")
            core.put(position, **sold(position, h.units, h.proceeds, now))  # a transient row
            if position.status == "closed":
                del open_rows[(user_id, token)]
        else:
            if position is None:
                position = opened(user_id, market, token, now)
                new.append(position)
                open_rows[(user_id, token)] = position
            core.put(
                position, **bought(position, h.units, h.price_cost, h.cost, h.bonus_cost, use_bonus=h.bonus_cost > 0)
            )
        changed.append(position)
    await write(session, new, changed)
    topics.positions_changed(session, changed)


# -- the writer batches' rows: Core statements, transient rows (``models.core``) ---------------

_MUTABLE = (
    "amount",
    "avg_price",
    "cost",
    "price_cost",
    "bonus_cost",
    "realized_pnl",
    "use_bonus",
    "status",
    "closed_at",
)


async def load_open(session: AsyncSession, market_id: int, user_ids: Sequence[int]) -> list[Position]:
    """The users' open positions in a locked market, locked in id order (``FOR UPDATE``), as rows
    outside the session: ``write`` stores what is done to them."""
    table = core.table(Position)
    result = await session.execute(
        sql_select(table)
        .where(
            core.one_of(session, table.c.user_id, user_ids), table.c.market_id == market_id, table.c.status == "open"
        )
        .order_by(table.c.id)
        .with_for_update()
    )
    return [core.build(Position, row._asdict()) for row in result]


def opened(user_id: int, market: Market, token: str, now: datetime) -> Position:
    """A new open position, empty, to be inserted by ``write``."""
    assert market.id is not None
    return core.build(
        Position,
        {"user_id": user_id, "market_id": market.id, "event_id": market.event_id, "token": token, "created_at": now},
    )


async def write(session: AsyncSession, new: Sequence[Position], changed: Sequence[Position]) -> None:
    """Insert ``new`` (their ids set, in order) and update the rest of ``changed``: two statements."""
    await core.add(session, new)
    fresh = {id(p) for p in new}
    await core.save(session, list({id(p): p for p in changed if id(p) not in fresh}.values()), _MUTABLE)


def put_in(position: Position, units: int, price_cost: int, cost: int, bonus_cost: int, *, use_bonus: bool) -> None:
    """Add ``units`` bought for ``cost`` (of which the price part ``price_cost``, ``bonus_cost`` from
    bonus) to a loaded open row: its costs and average price (``bought``)."""
    for name, value in bought(position, units, price_cost, cost, bonus_cost, use_bonus=use_bonus).items():
        setattr(position, name, value)


def bought(
    position: Position, units: int, price_cost: int, cost: int, bonus_cost: int, *, use_bonus: bool
) -> dict[str, Any]:
    """The columns ``put_in`` sets, without setting them (a writer batch sets a transient row's with
    ``core.put``)."""
    amount = position.amount + units
    price_total = position.price_cost + price_cost
    return {
        "amount": amount,
        "price_cost": price_total,
        "cost": position.cost + cost,
        "bonus_cost": position.bonus_cost + bonus_cost,
        "use_bonus": position.use_bonus or use_bonus,
        "avg_price": price_total * 10000 // amount,
    }


def take_out(position: Position, units: int, proceeds: int, now: datetime | None = None) -> None:
    """Take ``units`` out of a loaded open row for ``proceeds``: its cost shares and realized PnL
    (``sold``)."""
    for name, value in sold(position, units, proceeds, now).items():
        setattr(position, name, value)


def sold(position: Position, units: int, proceeds: int, now: datetime | None = None) -> dict[str, Any]:
    """The columns ``take_out`` sets, without setting them (see ``bought``)."""
    # Selling everything takes the whole cost (total * n // n == total): nothing is left behind.
    cost, price_cost, bonus_cost = (
        _share(total, units, position.amount) for total in (position.cost, position.price_cost, position.bonus_cost)
    )
    values: dict[str, Any] = {
        "amount": position.amount - units,
        "cost": position.cost - cost,
        "price_cost": position.price_cost - price_cost,
        "bonus_cost": position.bonus_cost - bonus_cost,
        "realized_pnl": position.realized_pnl + proceeds - cost,
    }
    if values["amount"] == 0:
        # A closed row shows the units it closed with, as a settled one shows the units it was paid on.
        values.update(amount=units, status="closed", closed_at=now or utcnow())
    return values


async def open_amounts(session: AsyncSession, *, user_id: int, market_id: int) -> dict[str, int]:
    rows = await session.execute(
        select(Position.token, Position.amount).where(
            Position.user_id == user_id, Position.market_id == market_id, Position.status == "open"
        )
    )
    return {token: int(amount) for token, amount in rows}


def no_position() -> NotFound:
    return NotFound("no open position in this market", code="POSITION_NOT_FOUND")


async def held_or_missing(session: AsyncSession, *, user_id: int, market_id: int) -> dict[str, int]:
    """What the user holds in the market, by token; POSITION_NOT_FOUND when nothing (to close)."""
    held = await open_amounts(session, user_id=user_id, market_id=market_id)
    if not any(held.values()):
        raise no_position()
    return held


@dataclass(frozen=True, slots=True)
class PositionView:
    position: Position
    market: Market
    pool: Pool
    event: Event

    @property
    def current_price(self) -> int:
        """The token's own current price, basis points (``prices.market_price``)."""
        return market_price(self.market).of(self.position.token)

    @property
    def unrealized_pnl(self) -> int:
        p = self.position
        return (self.current_price - p.avg_price) * p.amount // 10000


def _views(rows: object) -> list[PositionView]:
    return [PositionView(*row) for row in rows]  # type: ignore[attr-defined]


def _joined() -> object:
    return (
        select(Position, Market, Pool, Event)
        .join(Market, col(Market.id) == Position.market_id)
        .join(Pool, col(Pool.id) == Market.pool_id)
        .join(Event, col(Event.id) == Position.event_id)
    )


async def open_positions(session: AsyncSession, actor: Actor, *, user_id: int | None = None) -> list[PositionView]:
    owner = user_id or actor.require_user()
    query = _joined().where(Position.user_id == owner, Position.status == "open").order_by(col(Position.id))  # type: ignore[attr-defined]
    return _views(await session.execute(query))


async def completed_positions(
    session: AsyncSession,
    actor: Actor,
    *,
    cursor: str | None = None,
    limit: int = 20,
    user_id: int | None = None,
    with_total: bool = False,
) -> Page[PositionView]:
    """Closed positions, most recently closed first, keyset-paginated on (closed_at, id).

    The cursor names the last position of the previous page (``{"id": ...}``, as documented); its
    close time is read back, so rows closed in the same instant are neither skipped nor repeated.
    """
    owner = user_id or actor.require_user()
    if not 1 <= limit <= 100:
        raise InvalidInput("limit must be 1-100")
    query = _joined().where(Position.user_id == owner, Position.status == "closed")  # type: ignore[attr-defined]
    total = await count(session, query) if with_total else None
    before = decode_cursor(cursor) if cursor else None
    if before is not None:
        closed = select(Position.closed_at).where(Position.id == before, Position.user_id == owner).scalar_subquery()
        query = query.where(
            or_(col(Position.closed_at) < closed, and_(col(Position.closed_at) == closed, col(Position.id) < before))
        )
    order = (col(Position.closed_at).desc(), col(Position.id).desc())
    rows = _views(await session.execute(query.order_by(*order).limit(limit + 1)))
    page = page_of(rows, limit, lambda view: view.position.id)
    return Page(page.items, page.next_cursor, page.has_more, cursor is not None, total)


@dataclass(frozen=True, slots=True)
class AfterTrade:
    """What a trade changed for its trader: the market, their open positions in it, their money.

    A mutation returns it so that a normalised client cache needs no refetch.
    """

    market: Market
    positions: list[PositionView]
    balances: ledger.Balances

    def position(self, token: str) -> PositionView | None:
        return next((view for view in self.positions if view.position.token == token), None)


async def after_trade(session: AsyncSession, user_id: int, market_id: int) -> AfterTrade:
    """Read inside the trade's transaction, so it is exactly what the trade left."""
    query = (
        _joined()
        .where(  # type: ignore[attr-defined]
            Position.user_id == user_id, Position.market_id == market_id, Position.status == "open"
        )
        .order_by(col(Position.id))
    )
    market = await session.get(Market, market_id)
    assert market is not None
    return AfterTrade(market, _views(await session.execute(query)), await ledger.balances(session, user_id))


@dataclass(frozen=True, slots=True)
class Summary:
    total_predictions: int
    biggest_win: int


async def summary(session: AsyncSession, user_id: int) -> Summary:
    return (await summaries(session, [user_id]))[user_id]


async def summaries(session: AsyncSession, user_ids: Sequence[int]) -> dict[int, Summary]:
    """Per user: positions ever opened, and the best realized PnL of a closed one (0 when none won);
    one statement for any number of users."""
    rows = await session.execute(
        select(Position.user_id, Position.status, Position.realized_pnl).where(col(Position.user_id).in_(user_ids))
    )
    total, best = dict.fromkeys(user_ids, 0), dict.fromkeys(user_ids, 0)
    for user_id, status, pnl in rows:
        total[user_id] += 1
        if status == "closed":
            best[user_id] = max(best[user_id], int(pnl))
    return {user_id: Summary(total[user_id], best[user_id]) for user_id in user_ids}


PROFILE_CLOSED = 20


@dataclass(frozen=True, slots=True)
class Activity:
    """What a profile shows of a user's trading: UserInfo ``positions``, ``closed_positions`` and aggregates."""

    open: list[PositionView]
    closed: Page[PositionView]
    summary: Summary


async def activity(session: AsyncSession, actor: Actor, *, user: User) -> Activity | None:
    """None when ``profile_hidden`` hides it from this caller (everyone but the user themself)."""
    assert user.id is not None
    if user.profile_hidden and actor.user_id != user.id:
        return None
    return Activity(
        await open_positions(session, actor, user_id=user.id),
        await completed_positions(session, actor, limit=PROFILE_CLOSED, user_id=user.id),
        await summary(session, user.id),
    )
