"""Closing (resolving) markets, pools and events, settling positions, and cancelling events.

Exactly once: each market row is locked before its resolved flag is read, so a retried or
concurrent close waits, then sees the market resolved and answers 409, and nobody is paid twice.
A winning unit pays 1 kopeck from the market's own account (rule 3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, InvalidInput, NotFound
from predictql.models import Event, LedgerAccount, Market, Pool, Position, PricePoint
from predictql.services import events, ledger, notifications, order_lifecycle
from predictql.services.ledger import Movement
from predictql.services.prices import market_price
from predictql.subscriptions import topics

SIDES = {"YES": 0, "NO": 1}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the caller said about one scope: a YES/NO side, or the winning outcome's index."""

    won_side: str | None = None
    outcome: int | None = None

    def __post_init__(self) -> None:
        if (self.won_side is None) == (self.outcome is None):
            raise InvalidInput("give won_side (YES or NO) or outcome (0-based index)")
        if self.won_side is not None and self.won_side.upper() not in SIDES:
            raise InvalidInput("won_side must be YES or NO")
        if self.outcome is not None and self.outcome < 0:
            raise InvalidInput("outcome must be a 0-based index")


def _winners(markets: Sequence[Market], verdict: Verdict, outcomes: int) -> dict[int, str]:
    """market id -> winning token, for the still-open ``markets`` of a pool of ``outcomes`` markets.

    ``outcome`` k: the market at outcome index k wins YES, the rest NO. It is read against the whole
    pool, not the open markets, so it keeps its meaning after some markets were closed one by one.
    ``won_side`` on a two-outcome pool is its stored ``won_side`` (routes.yaml: 0 = first outcome,
    YES; 1 = second, NO), so it is outcome 0 or 1; from three outcomes on it names no outcome.
    """
    if verdict.won_side is not None and outcomes == 2:
        verdict = Verdict(outcome=SIDES[verdict.won_side.upper()])
    if verdict.outcome is not None:
        if outcomes == 1:
            if verdict.outcome > 1:
                raise InvalidInput("a single-market pool has outcomes 0 (YES) and 1 (NO)")
            return {m.id or 0: "YES" if verdict.outcome == 0 else "NO" for m in markets}
        if verdict.outcome >= outcomes:
            raise InvalidInput(f"outcome must be below {outcomes}")
        return {m.id or 0: "YES" if m.outcome_index == verdict.outcome else "NO" for m in markets}
    if len(markets) != 1:
        raise InvalidInput(
            f"won_side YES/NO is ambiguous in a pool of {outcomes} outcomes: give outcome, or markets[] with won_side"
        )
    assert verdict.won_side is not None
    return {markets[0].id or 0: verdict.won_side.upper()}


async def _settle(session: AsyncSession, market: Market, winner: str | None) -> set[int]:
    """Pay every open position of a locked market (``winner`` None = refund at purchase price);
    the holders' user ids. A resolution tells each position ``bet_won`` or ``bet_lost``."""
    assert market.id is not None
    source = ledger.market_amm(market.id) if market.market_type == "lmsr" else ledger.market_collateral(market.id)
    movements: list[Movement] = []
    if market.market_type == "orderbook":
        # Resting orders go first: their escrow is released in the same ledger batch as the payouts.
        reason = "market_resolved" if winner is not None else "event_cancelled"
        movements += await order_lifecycle.cancel_resting(session, market, reason)
    rows = await session.scalars(
        select(Position).where(Position.market_id == market.id, Position.status == "open").with_for_update()
    )
    now = utcnow()
    settled: list[tuple[Position, int]] = []
    for position in rows:
        assert position.id is not None
        reference = ("position", position.id)
        if winner is None:
            refund = position.price_cost
            to_bonus = min(position.bonus_cost, refund)
            movements += [
                ledger.transfer(
                    "refund",
                    source,
                    ledger.user_bonus(position.user_id),
                    to_bonus,
                    user_id=position.user_id,
                    reference=reference,
                ),
                ledger.transfer(
                    "refund",
                    source,
                    ledger.user_cash(position.user_id),
                    refund - to_bonus,
                    user_id=position.user_id,
                    reference=reference,
                ),
            ]
            received = refund
        else:
            received = position.amount if position.token == winner else 0
            movements.append(
                ledger.transfer(
                    "payout",
                    source,
                    ledger.user_cash(position.user_id),
                    received,
                    user_id=position.user_id,
                    reference=reference,
                )
            )
            position.won_side = SIDES[winner]
        position.realized_pnl += received - position.cost
        position.status, position.closed_at = "closed", now
        topics.positions_changed(session, [position])
        settled.append((position, received))
    if market.market_type == "orderbook":
        movements.append(await _even_out(session, market.id, movements))
    await ledger.post_many(session, [m for m in movements if m.legs[1][1]])
    market.resolved, market.winning_outcome, market.resolved_at = True, winner, now
    if winner is not None:
        session.add(PricePoint(market_id=market.id, probability=market_price(market).yes_probability, created_at=now))
        await notifications.bets_settled(session, market, settled)
    await topics.markets_changed(session, [market], at=now)
    return {position.user_id for position, _ in settled}


async def _even_out(session: AsyncSession, market_id: int, movements: list[Movement]) -> Movement:
    """Leave an order-book market's collateral account at exactly zero after it settles.

    It holds one kopeck per outstanding pair, but buyers paid rounded-up costs (the rounding went to
    the platform at the fill) and a cancellation refunds those costs, so the refunds can exceed it;
    or positions changed hands below their cost and it holds more. The difference comes from, or
    goes back to, the platform's revenue account: the collateral account never goes negative.
    """
    code = ledger.market_collateral(market_id)
    held = int(await session.scalar(select(LedgerAccount.balance).where(col(LedgerAccount.code) == code)) or 0)
    paid = -sum(amount for m in movements for account, amount in m.legs if account == code)
    return ledger.transfer("settlement_rounding", code, ledger.REVENUE, held - paid, reference=("market", market_id))


async def _outcomes(session: AsyncSession, pool: Pool) -> int:
    return int(await session.scalar(select(func.count()).select_from(Market).where(Market.pool_id == pool.id)) or 0)


async def _lock_markets(session: AsyncSession, where: object) -> list[Market]:
    rows = await session.scalars(
        select(Market).where(where).order_by(col(Market.id)).with_for_update()  # type: ignore[arg-type]
    )
    return list(rows)


async def _close_markets(session: AsyncSession, pool: Pool, markets: list[Market], winners: dict[int, str]) -> None:
    for market in markets:
        if market.resolved:
            raise Conflict("market already resolved")
        await _settle(session, market, winners[market.id or 0])
    await _finish_pool(session, pool)


async def _finish_pool(session: AsyncSession, pool: Pool) -> None:
    """Close the pool once all its markets are resolved; the event once all its pools are."""
    markets = list(await session.scalars(select(Market).where(Market.pool_id == pool.id)))
    if not all(m.resolved for m in markets):
        return
    yes = [m.outcome_index for m in markets if m.winning_outcome == "YES"]
    if len(markets) == 1:
        pool.won_side = SIDES[markets[0].winning_outcome or "NO"]
    else:
        pool.won_side = yes[0] if yes else None
    pool.closed_at = utcnow()
    await session.flush()
    event = await session.get(Event, pool.event_id)
    assert event is not None
    open_pools = await session.scalar(
        select(Pool.id).where(Pool.event_id == event.id, col(Pool.closed_at).is_(None)).limit(1)
    )
    if open_pools is None:
        event.closed_at = utcnow()
        await notifications.event_closed(session, event)


async def _pool_in(session: AsyncSession, event_id: int, pool_id: int) -> Pool:
    pool = await session.get(Pool, pool_id, with_for_update=True)
    if pool is None or pool.event_id != event_id:
        raise NotFound("pool not found")
    return pool


async def close_pool(
    session: AsyncSession,
    actor: Actor,
    event_id: int,
    pool_id: int,
    verdict: Verdict | None = None,
    per_market: Sequence[tuple[int, str]] = (),
) -> Pool:
    event = await events.get_managed(session, actor, event_id, lock=True)
    if event.cancelled_at is not None:
        raise Conflict("event already resolved")
    pool = await _pool_in(session, event_id, pool_id)
    if pool.closed_at is not None:
        raise Conflict("pool already resolved")
    markets = await _lock_markets(session, (col(Market.pool_id) == pool_id) & col(Market.resolved).is_(False))
    if per_market:
        winners = {market_id: side.upper() for market_id, side in per_market}
        if set(winners) != {m.id for m in markets} or not set(winners.values()) <= set(SIDES):
            raise InvalidInput("markets[] must give won_side YES or NO for every open market of the pool")
    elif verdict is not None:
        winners = _winners(markets, verdict, await _outcomes(session, pool))
    else:
        raise InvalidInput("give won_side, outcome or markets[]")
    await _close_markets(session, pool, markets, winners)
    return pool


async def close_market(
    session: AsyncSession, actor: Actor, event_id: int, pool_id: int, market_id: int, verdict: Verdict
) -> Market:
    event = await events.get_managed(session, actor, event_id, lock=True)
    if event.cancelled_at is not None:
        raise Conflict("market already resolved")
    pool = await _pool_in(session, event_id, pool_id)
    markets = await _lock_markets(session, (col(Market.id) == market_id) & (col(Market.pool_id) == pool_id))
    if not markets:
        raise NotFound("market not found")
    winners = (
        _winners(markets, verdict, len(markets))
        if verdict.won_side is not None
        else {market_id: "YES" if verdict.outcome == 0 else "NO"}
    )
    if verdict.outcome is not None and verdict.outcome > 1:
        raise InvalidInput("a market resolves to outcome 0 (YES) or 1 (NO)")
    await _close_markets(session, pool, markets, winners)
    return markets[0]


async def close_event(
    session: AsyncSession,
    actor: Actor,
    event_id: int,
    verdict: Verdict | None = None,
    per_pool: Sequence[tuple[int, Verdict]] = (),
) -> Event:
    event = await events.get_managed(session, actor, event_id, lock=True)
    if event.closed_at is not None or event.cancelled_at is not None:
        raise Conflict("event already resolved")
    pools = list(
        await session.scalars(
            select(Pool)
            .where(Pool.event_id == event_id, col(Pool.closed_at).is_(None))
            .order_by(col(Pool.id))
            .with_for_update()
        )
    )
    if not pools:
        raise Conflict("event has no open pool to resolve")
    if per_pool:
        verdicts = dict(per_pool)
        if set(verdicts) != {p.id for p in pools}:
            raise InvalidInput("pools[] must give a verdict for every open pool of the event")
    elif verdict is not None:
        if len(pools) != 1:
            raise InvalidInput("this event has several open pools: give pools[] with each won_side")
        verdicts = {pools[0].id or 0: verdict}
    else:
        raise InvalidInput("give won_side, outcome or pools[]")
    # Lock every market first (in id order, like trades and cancel_event) before any ledger row:
    # taking them pool by pool while holding ledger locks could deadlock with a concurrent trade.
    locked = await _lock_markets(session, (col(Market.event_id) == event_id) & col(Market.resolved).is_(False))
    for pool in pools:
        markets = [m for m in locked if m.pool_id == pool.id]
        winners = _winners(markets, verdicts[pool.id or 0], await _outcomes(session, pool))
        await _close_markets(session, pool, markets, winners)
    event.closed_at = event.closed_at or utcnow()
    return event


async def cancel_event(session: AsyncSession, actor: Actor, event_id: int) -> Event:
    """Refund every open position at its purchase price (rule 19) and take the event off the feed."""
    event = await events.get_managed(session, actor, event_id, lock=True)
    if event.closed_at is not None or event.cancelled_at is not None:
        raise Conflict("event already resolved")
    markets = await _lock_markets(session, (col(Market.event_id) == event_id) & col(Market.resolved).is_(False))
    holders: set[int] = set()
    for market in markets:
        holders |= await _settle(session, market, None)
    event.cancelled_at = utcnow()
    await notifications.event_cancelled(session, event, holders)
    return event


async def settle_pool(session: AsyncSession, pool: Pool, winner: str | None) -> set[int]:
    """The system settles a whole pool (a loop round, ``services.loops``): every open market to
    ``winner`` (None: cancelled, each position refunded at its purchase price). The caller holds
    the event's row lock; the event stays open (a loop goes on with its next round). The holders;
    on a refund each is told ``loop_round_refunded`` in this transaction."""
    markets = await _lock_markets(session, (col(Market.pool_id) == pool.id) & col(Market.resolved).is_(False))
    holders: set[int] = set()
    for market in markets:
        settled = await _settle(session, market, winner)
        holders |= settled
        if winner is None:  # a refunded round: its holders are told, like an event cancellation
            await notifications.loop_round_refunded(session, pool.name, market, settled)
    pool.won_side = SIDES[winner] if winner is not None else None
    pool.closed_at = utcnow()
    await session.flush()
    return holders
