"""Pools and their markets: one binary market per outcome, LMSR initialised from the prior.

``market_type`` (pool metadata) picks each market's mechanism: "lmsr" (the market maker, default)
or "orderbook" (price-time order book; ``services.orderbook_trading``). An order-book market also
gets a collateral account: one kopeck per minted YES+NO pair, out of which winners are paid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import Conflict, InvalidInput, NotFound
from predictql.inputs import check_stored_json
from predictql.models import Event, Market, Pool, PricePoint
from predictql.pricing import lmsr
from predictql.services import alerts, events, ledger
from predictql.services.prices import market_price
from predictql.subscriptions import topics

DEFAULT_B = 1_000_000
MIN_B, MAX_B = 1_000, 100_000_000_000
MAX_OUTCOMES = 50
MARKET_TYPES = ("lmsr", "orderbook")


@dataclass(frozen=True, slots=True)
class PoolFields:
    name: str
    finish_at: datetime
    market_names: Sequence[str]
    market_probabilities: Sequence[float]
    name_ru: str = ""
    live_at: datetime | None = None
    rules: str = ""
    rules_ru: str = ""
    margin: float = 0.0
    lmsr_b_kopecks: int | None = None
    market_type: str = "lmsr"
    extra_metadata: dict[str, Any] | None = None


def check_probabilities(values: Sequence[float], count: int | None = None) -> list[float]:
    """Each strictly inside (0, 1), summing to 1 within 1e-6 (rule 6); ``invalid_probabilities``."""
    probabilities = [float(v) for v in values]
    bad = InvalidInput("probabilities must each be in (0, 1) and sum to 1", code="invalid_probabilities")
    if not probabilities or (count is not None and len(probabilities) != count):
        raise bad
    if any(not math.isfinite(p) or not 0.0 < p < 1.0 for p in probabilities):
        raise bad
    if abs(math.fsum(probabilities) - 1.0) > 1e-6:
        raise bad
    return probabilities


def _check(fields: PoolFields) -> tuple[list[str], list[float], int, datetime]:
    names = [name.strip() for name in fields.market_names]
    if not names or len(names) > MAX_OUTCOMES or any(not 1 <= len(n) <= 300 for n in names):
        raise InvalidInput(f"metadata.market_names: 1-{MAX_OUTCOMES} names of 1-300 characters", code="invalid_body")
    if len(names) == 1:
        # A single-outcome pool is one YES/NO market: its probability is free in (0, 1).
        probabilities = [float(fields.market_probabilities[0])] if len(fields.market_probabilities) == 1 else []
        if not probabilities or not 0.0 < probabilities[0] < 1.0 or not math.isfinite(probabilities[0]):
            raise InvalidInput("market_probabilities must have one value in (0, 1)", code="invalid_probabilities")
    else:
        probabilities = check_probabilities(fields.market_probabilities, len(names))
    b = DEFAULT_B if fields.lmsr_b_kopecks is None else fields.lmsr_b_kopecks
    if not MIN_B <= b <= MAX_B:
        raise InvalidInput(f"lmsr_b_kopecks must be between {MIN_B} and {MAX_B}", code="invalid_body")
    if fields.market_type not in MARKET_TYPES:
        raise InvalidInput(f"market_type must be one of {', '.join(MARKET_TYPES)}", code="invalid_body")
    live_at = fields.live_at or utcnow()
    if fields.finish_at <= live_at:
        raise InvalidInput("finish_at must be after live_at", code="invalid_body")
    if not 0.0 <= fields.margin < 1.0:
        raise InvalidInput("margin must be a fraction in [0, 1)", code="invalid_body")
    # Stored and served to every reader of the event: bounded, or one pool breaks the feed.
    check_stored_json(fields.extra_metadata or {}, "metadata", code="invalid_body")
    return names, probabilities, b, live_at


async def create_pool(session: AsyncSession, actor: Actor, event_id: int, fields: PoolFields) -> Pool:
    event = await events.get_managed(session, actor, event_id, lock=True)
    if event.closed_at is not None or event.cancelled_at is not None:
        raise Conflict("event already resolved", code="CONFLICT")
    names, probabilities, b, live_at = _check(fields)
    metadata = {
        **(fields.extra_metadata or {}),
        "market_names": names,
        "market_probabilities": probabilities,
        "lmsr_b_kopecks": b,
        "market_type": fields.market_type,
    }
    pool = Pool(
        event_id=event_id,
        name=fields.name.strip()[:300] or "Main Pool",
        name_ru=fields.name_ru.strip()[:300],
        rules=fields.rules[:10000],
        rules_ru=fields.rules_ru[:10000],
        margin=fields.margin,
        live_at=live_at,
        finish_at=fields.finish_at,
        meta=metadata,
    )
    session.add(pool)
    await session.flush()
    assert pool.id is not None
    markets = [
        Market(
            pool_id=pool.id,
            event_id=event_id,
            name=name,
            outcome_index=index,
            market_type=fields.market_type,
            lmsr_b=b,
            p0=probability,
        )
        for index, (name, probability) in enumerate(zip(names, probabilities, strict=True))
    ]
    session.add_all(markets)
    await session.flush()
    for market in markets:
        assert market.id is not None
        await ledger.open_account(session, ledger.market_amm(market.id), "amm", allow_negative=True)
        if market.market_type == "orderbook":
            # Never negative: it holds exactly the outstanding pairs, and settlement takes what refunds
            # at purchase cost need beyond that from the platform (``resolution._even_out``).
            await ledger.open_account(session, ledger.market_collateral(market.id), "collateral", allow_negative=False)
        session.add(PricePoint(market_id=market.id, probability=market.p0))
    if event.main_pool_id is None:
        event.main_pool_id = pool.id
    await session.flush()
    return pool


def state_of(market: Market) -> lmsr.MarketState:
    return lmsr.MarketState(market.q_yes, market.q_no, market.lmsr_b, market.p0)


async def set_probabilities(
    session: AsyncSession, actor: Actor, event_id: int, pool_id: int, probabilities: Sequence[float]
) -> list[Market]:
    """Re-target the pool's LMSR markets: each market's prior moves so its price is the target now.

    The market maker's quotes move; positions, q and cash do not.
    """
    await events.get_managed(session, actor, event_id)
    pool = await session.get(Pool, pool_id)
    if pool is None or pool.event_id != event_id:
        raise NotFound("pool not found", code="pool_not_found")
    rows = await session.scalars(
        select(Market).where(Market.pool_id == pool_id).order_by(col(Market.outcome_index)).with_for_update()
    )
    markets = list(rows)
    targets = (
        check_probabilities(probabilities, len(markets)) if len(markets) > 1 else [float(p) for p in probabilities]
    )
    if len(targets) != len(markets) or not all(0.0 < p < 1.0 for p in targets):
        raise InvalidInput("one probability in (0, 1) per market", code="invalid_probabilities")
    if pool.closed_at is not None or any(m.resolved for m in markets):
        raise Conflict("pool already resolved")
    before = {market.id: market_price(market).yes for market in markets if market.id is not None}
    for market, target in zip(markets, targets, strict=True):
        shift = (market.q_yes - market.q_no) / market.lmsr_b
        logit = math.log(target / (1.0 - target)) - shift
        market.p0 = min(max(1.0 / (1.0 + math.exp(-logit)), 1e-9), 1.0 - 1e-9)
        assert market.id is not None
        session.add(PricePoint(market_id=market.id, probability=market_price(market).yes_probability))
    await topics.markets_changed(session, markets)
    await session.flush()
    await alerts.markets_moved(session, markets, before)
    return markets


async def _hidden(session: AsyncSession, actor: Actor | None, event_ids: Sequence[int]) -> set[int]:
    """Events (of ``event_ids``) that ``actor`` may not see; none when no actor is given."""
    if actor is None or not event_ids:
        return set()
    rows = await session.scalars(select(Event).where(col(Event.id).in_(set(event_ids))))
    return {event.id for event in rows if event.id is not None and not events.can_see(actor, event)}


async def get_pool(session: AsyncSession, pool_id: int, *, actor: Actor | None = None) -> Pool:
    """With ``actor``, a pool of an event hidden from the caller is as missing as an unknown one."""
    pool = await session.get(Pool, pool_id)
    if pool is None or await _hidden(session, actor, [pool.event_id]):
        raise NotFound("pool not found", code="pool_not_found")
    return pool


async def get_pools(session: AsyncSession, pool_ids: Sequence[int], *, actor: Actor | None = None) -> list[Pool]:
    """Found pools by id; with ``actor``, pools of events hidden from the caller are left out."""
    rows = list(await session.scalars(select(Pool).where(col(Pool.id).in_(pool_ids)).order_by(col(Pool.id))))
    hidden = await _hidden(session, actor, [pool.event_id for pool in rows])
    return [pool for pool in rows if pool.event_id not in hidden]


async def get_market(session: AsyncSession, market_id: int, *, actor: Actor | None = None) -> Market:
    """With ``actor``, a market of an event hidden from the caller is as missing as an unknown one."""
    market = await session.get(Market, market_id)
    if market is None or await _hidden(session, actor, [market.event_id]):
        raise NotFound("market not found", code="market_not_found")
    return market


async def event_of(session: AsyncSession, pool: Pool) -> Event:
    event = await session.get(Event, pool.event_id)
    assert event is not None
    return event


async def create_event_full(
    session: AsyncSession,
    actor: Actor,
    fields: events.EventFields,
    pool_fields: Sequence[PoolFields],
    *,
    main_pool_index: int | None = None,
) -> Event:
    """An event with its pools and their markets, in the caller's one transaction."""
    if not pool_fields:
        raise InvalidInput("pools must not be empty")
    if main_pool_index is not None and not 0 <= main_pool_index < len(pool_fields):
        raise InvalidInput("main_pool_index must index into pools")
    event = await events.create_event(session, actor, fields)
    assert event.id is not None
    created = [await create_pool(session, actor, event.id, spec) for spec in pool_fields]
    if main_pool_index is not None:
        event.main_pool_id = created[main_pool_index].id
        await session.flush()
    return event
