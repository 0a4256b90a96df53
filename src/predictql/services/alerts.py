"""Price alerts (our extension, README "Price alerts"): a user is told when a market's YES price or
an asset's price crosses a level.

A crossing is a move of the price from one side of the level to the other in the alert's
direction: ``above`` fires when a move goes from below the level to at-or-above it
(``before < level <= after``), ``below`` when it goes from above to at-or-below
(``before > level >= after``). An alert created while the price is already past its level waits
for the price to come back and cross. A one-shot alert fires once and is done (``fired``); a
repeating one stays active and fires again only after the price has gone back across the level
(that move is itself no crossing of its direction), so it fires once per crossing.

Alerts fire inside the transaction that moves the price (``market_price_moved``, called by the
trading services under the market's row lock, so concurrent trades see consecutive prices) and
the firing, the log row and the notification commit or roll back with it. Asset alerts fire from
``asset_price_moved``, called by whoever records an asset price (it must serialize the updates
of one symbol, as the market lock does for markets).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, InvalidInput, NotFound
from predictql.models import AlertFiring, Event, Market, PriceAlert, User
from predictql.pricing.orderbook_types import SCALE
from predictql.services import events, notifications
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.services.prices import market_price

DIRECTIONS = ("above", "below")
SYMBOL = re.compile(r"[A-Z0-9]{2,32}")
MAX_ASSET_LEVEL = Decimal("1e18")
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
MAX_OFFSET = 1_000_000


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """A new alert: exactly one of ``market_id`` (level in basis points, 1..9999) and ``symbol``
    (level a positive asset price)."""

    direction: str
    level: Decimal
    market_id: int | None = None
    symbol: str | None = None
    repeating: bool = False
    level_field: str = "level"  # the input field that carries the level (GraphQL: levelBps or assetLevel)


def parse_level(raw: object, field: str = "level") -> Decimal:
    """A level given as a JSON number or a decimal string; booleans and non-finite values refused."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise InvalidInput("level must be a number", field=field)
    try:
        level = Decimal(str(raw))
    except InvalidOperation:
        raise InvalidInput("level must be a number", field=field) from None
    if not level.is_finite():
        raise InvalidInput("level must be a finite number", field=field)
    return level


def _check(spec: AlertSpec) -> None:
    if spec.direction not in DIRECTIONS:
        raise InvalidInput("direction must be above or below", field="direction")
    if (spec.market_id is None) == (spec.symbol is None):
        raise InvalidInput("give exactly one of market_id and symbol", field="marketId")
    if spec.market_id is not None:
        if spec.level != spec.level.to_integral_value() or not 0 < spec.level < SCALE:
            raise InvalidInput(
                "a market alert's level is basis points, 1-9999", code="INVALID_PRICE", field=spec.level_field
            )
    else:
        if not isinstance(spec.symbol, str) or not SYMBOL.fullmatch(spec.symbol):
            raise InvalidInput("symbol must be 2-32 capital letters or digits, e.g. BTCUSDT", field="symbol")
        if not 0 < spec.level < MAX_ASSET_LEVEL:
            raise InvalidInput(
                "an asset alert's level must be a positive price", code="INVALID_PRICE", field=spec.level_field
            )


async def create(session: AsyncSession, actor: Actor, spec: AlertSpec, *, max_active: int) -> PriceAlert:
    """A new active alert of the caller's, within their limit of active alerts."""
    user_id = actor.require_write()
    _check(spec)
    if spec.market_id is not None:
        market = await session.get(Market, spec.market_id)
        event = await session.get(Event, market.event_id) if market is not None else None
        if market is None or event is None or not events.can_see(actor, event):
            raise NotFound("market not found", code="MARKET_NOT_FOUND", field="marketId")
        if market.resolved:
            raise Conflict("market is resolved", code="MARKET_RESOLVED", field="marketId")
    # The user's row lock serializes their creations: two at once cannot both pass the limit.
    await session.execute(select(User.id).where(col(User.id) == user_id).with_for_update())
    active = await session.scalar(
        select(func.count()).select_from(PriceAlert).where(_mine(user_id), col(PriceAlert.status) == "active")
    )
    if int(active or 0) >= max_active:
        raise Conflict(f"at most {max_active} active alerts", code="ALERT_LIMIT_REACHED")
    alert = PriceAlert(
        user_id=user_id,
        market_id=spec.market_id,
        symbol=spec.symbol,
        direction=spec.direction,
        level=spec.level,
        repeating=spec.repeating,
        created_at=utcnow(),
    )
    session.add(alert)
    await session.flush()
    return alert


def _mine(user_id: int) -> ColumnElement[bool]:
    return col(PriceAlert.user_id) == user_id


async def delete(session: AsyncSession, actor: Actor, *, alert_id: int) -> PriceAlert:
    """Delete one of the caller's alerts (another user's, or one deleted already: not found).
    The row stays, marked deleted, so that the log keeps what it fired."""
    user_id = actor.require_write()
    alert = await session.scalar(
        select(PriceAlert)
        .where(col(PriceAlert.id) == alert_id, _mine(user_id), col(PriceAlert.status) != "deleted")
        .with_for_update()
    )
    if alert is None:
        raise NotFound("alert not found")
    alert.status = "deleted"
    await session.flush()
    return alert


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1-{MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be 0-{MAX_OFFSET}")


def _alerts_of(user_id: int, status: str | None) -> Any:
    query = select(PriceAlert).where(_mine(user_id), col(PriceAlert.status) != "deleted")
    return query.where(col(PriceAlert.status) == status) if status else query


async def list_alerts(
    session: AsyncSession, actor: Actor, *, status: str | None = None, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> list[PriceAlert]:
    """The caller's alerts (active and fired; deleted ones left out), newest first."""
    user_id = actor.require_user()
    check_page(limit, offset)
    query = _alerts_of(user_id, status).order_by(col(PriceAlert.id).desc())
    return list(await session.scalars(query.offset(offset).limit(limit)))


async def page(session: AsyncSession, actor: Actor, args: PageArgs, *, status: str | None = None) -> Page[PriceAlert]:
    user_id = actor.require_user()
    return await keyset_page(session, _alerts_of(user_id, status), col(PriceAlert.id), args)


async def list_firings(
    session: AsyncSession, actor: Actor, *, limit: int = DEFAULT_LIMIT, offset: int = 0
) -> list[AlertFiring]:
    """The caller's alert log, newest first."""
    user_id = actor.require_user()
    check_page(limit, offset)
    query = select(AlertFiring).where(col(AlertFiring.user_id) == user_id).order_by(col(AlertFiring.id).desc())
    return list(await session.scalars(query.offset(offset).limit(limit)))


async def firings_page(session: AsyncSession, actor: Actor, args: PageArgs) -> Page[AlertFiring]:
    user_id = actor.require_user()
    query = select(AlertFiring).where(col(AlertFiring.user_id) == user_id)
    return await keyset_page(session, query, col(AlertFiring.id), args)


# -- firing (inside the transaction that moves the price) ------------------------------------


def crossed(before: Decimal, after: Decimal) -> ColumnElement[bool] | None:
    """The active alerts a move from ``before`` to ``after`` crosses; None when it crosses none."""
    level = col(PriceAlert.level)
    if after > before:
        return and_(col(PriceAlert.direction) == "above", level > before, level <= after)
    if after < before:
        return and_(col(PriceAlert.direction) == "below", level < before, level >= after)
    return None


async def _fire(
    session: AsyncSession,
    subject: ColumnElement[bool],
    before: Decimal,
    after: Decimal,
    describe: Any,
    related: tuple[str, int] | None,
) -> list[AlertFiring]:
    condition = crossed(before, after)
    if condition is None:
        return []
    alerts = list(
        await session.scalars(
            select(PriceAlert)
            .where(subject, col(PriceAlert.status) == "active", condition)
            .order_by(col(PriceAlert.id))
            .with_for_update()
        )
    )
    if not alerts:
        return []
    now = utcnow()
    firings = []
    for alert in alerts:
        firings.append(_fire_one(alert, before, after, now))
    session.add_all(firings)
    await session.flush()
    drafts = [
        notifications.Draft(
            alert.user_id,
            "price_alert",
            "Price Alert",
            describe(alert),
            *(related or (None, None)),
        )
        for alert in alerts
    ]
    await notifications.create_many(session, drafts)
    return firings


def _pct(bps: Decimal) -> str:
    return f"{bps / 100:.2f}%"


async def market_price_moved(session: AsyncSession, market: Market, before: int) -> list[AlertFiring]:
    """The market's YES price moved from ``before`` (basis points) to its price now: fire the
    alerts it crossed. Call with the market row locked, in the transaction that moved it."""
    assert market.id is not None
    after = Decimal(market_price(market).yes)

    def describe(alert: PriceAlert) -> str:
        verb = "rose above" if alert.direction == "above" else "fell below"
        return f"YES of '{market.name}' {verb} {_pct(alert.level)}: now {_pct(after)}"

    subject = col(PriceAlert.market_id) == market.id
    return await _fire(session, subject, Decimal(before), after, describe, ("market", market.id))


def _crosses(alert: PriceAlert, before: Decimal, after: Decimal) -> bool:
    """``crossed`` for one loaded alert."""
    if after > before:
        return alert.direction == "above" and before < alert.level <= after
    if after < before:
        return alert.direction == "below" and after <= alert.level < before
    return False


async def market_moves(
    session: AsyncSession, market: Market, moves: Sequence[tuple[int, int]]
) -> list[list[notifications.Draft]]:
    """``market_price_moved`` for each of one batch's consecutive YES price moves (basis points,
    before and after), in one query: every alert each move crossed fires in that move's turn (a
    one-shot alert once). The firings are added to the session (the caller flushes them); the
    notifications are returned per move, for the caller to insert in order with its own."""
    assert market.id is not None
    drafts: list[list[notifications.Draft]] = [[] for _ in moves]
    prices = [Decimal(price) for move in moves for price in move if move[0] != move[1]]
    if not prices:
        return drafts
    candidates = list(
        await session.scalars(
            select(PriceAlert)
            .where(
                col(PriceAlert.market_id) == market.id,
                col(PriceAlert.status) == "active",
                col(PriceAlert.level) >= min(prices),
                col(PriceAlert.level) <= max(prices),
            )
            .order_by(col(PriceAlert.id))
            .with_for_update()
        )
    )
    if not candidates:
        return drafts
    now = utcnow()
    for index, (before_bps, after_bps) in enumerate(moves):
        before, after = Decimal(before_bps), Decimal(after_bps)
        for alert in candidates:
            if alert.status != "active" or not _crosses(alert, before, after):
                continue
            session.add(_fire_one(alert, before, after, now))
            verb = "rose above" if alert.direction == "above" else "fell below"
            message = f"YES of '{market.name}' {verb} {_pct(alert.level)}: now {_pct(after)}"
            drafts[index].append(
                notifications.Draft(alert.user_id, "price_alert", "Price Alert", message, "market", market.id)
            )
    return drafts


async def markets_moved(session: AsyncSession, markets: Sequence[Market], before: dict[int, int]) -> None:
    """``market_price_moved`` for each of ``markets`` (``before``: YES price by market id)."""
    for market in markets:
        if market.id in before:
            await market_price_moved(session, market, before[market.id])


async def asset_price_moved(
    session: AsyncSession, symbol: str, before: Decimal | None, after: Decimal
) -> list[AlertFiring]:
    """An asset's price moved from ``before`` (None: its first known price, which crosses
    nothing) to ``after``: fire the alerts on ``symbol`` it crossed, in the caller's transaction.
    The caller serializes the updates of one symbol (each move's ``before`` is the previous
    ``after``), so that each crossing is seen once."""
    if before is None:
        return []

    def describe(alert: PriceAlert) -> str:
        verb = "rose above" if alert.direction == "above" else "fell below"
        return f"{symbol} {verb} {alert.level.normalize():f}: now {after.normalize():f}"

    return await _fire(session, col(PriceAlert.symbol) == symbol, before, after, describe, None)


def _fire_one(alert: PriceAlert, before: Decimal, after: Decimal, now: datetime) -> AlertFiring:
    """Count one firing of ``alert`` (a one-shot alert is done) and the row that records it."""
    alert.fire_count += 1
    alert.last_fired_at = now
    if not alert.repeating:
        alert.status = "fired"
    return AlertFiring(
        alert_id=alert.id or 0,
        user_id=alert.user_id,
        market_id=alert.market_id,
        symbol=alert.symbol,
        direction=alert.direction,
        level=alert.level,
        price_before=before,
        price=after,
        created_at=now,
    )
