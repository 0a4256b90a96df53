"""Asset prices and FX rates: record (from a source), read (with staleness), history.

One rule for every source: a price is recorded with its source and its own ``as_of`` time, and
only a newer ``as_of`` replaces the current one (row lock on the asset), so processes that each
hear the exchange agree on the stored price. History keeps one point per symbol per recording
period (``PREDICTQL_PRICE_RECORD_SECONDS``, unique per period: written once whoever hears it).
Changes go out on ``asset:{SYMBOL}:price`` after commit. Prices are exact decimals x 10^8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from predictql.auth import Actor
from predictql.db import utcnow
from predictql.errors import InvalidInput, NotFound
from predictql.models import Asset, AssetPricePoint, FxRate
from predictql.services import alerts, audit
from predictql.services.cursors import Page, PageArgs, keyset_page
from predictql.subscriptions import topics

SCALE = 10**8
MAX_E8 = 2**63 - 1
MAX_VALUE = Decimal(MAX_E8) / SCALE
SYMBOL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
SOURCES = ("operator", "bybit")
FX_SOURCES = ("operator", "cbr")
NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "TON": "Toncoin", "XRP": "XRP", "DOGE": "Dogecoin"}
PIVOT = "RUB"  # central-bank rates are quoted against it; other pairs are crossed through it


def parse_e8(value: str | Decimal | float | int, what: str = "price") -> int:
    """A positive decimal as an integer x 10^8 (rounded half-even); ``bad_request`` otherwise."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{what} must be a positive decimal number", code="BAD_REQUEST", field=what) from None
    if not number.is_finite() or number <= 0:
        raise InvalidInput(f"{what} must be a positive decimal number", code="BAD_REQUEST", field=what)
    if number > MAX_VALUE:  # before int(): "1e999999999" would build a billion-digit integer
        raise InvalidInput(f"{what} is out of range", code="BAD_REQUEST", field=what)
    scaled = int((number * SCALE).to_integral_value())
    if not 0 < scaled <= MAX_E8:
        raise InvalidInput(f"{what} is out of range", code="BAD_REQUEST", field=what)
    return scaled


def to_float(e8: int) -> float:
    return e8 / SCALE


def to_text(e8: int) -> str:
    """The exact decimal, without trailing zeros ("84532.17")."""
    text = format(Decimal(e8) / SCALE, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def check_symbol(symbol: str) -> str:
    """Upper-case Bybit-style symbol (e.g. BTCUSDT): a malformed one is as unknown as a missing one."""
    value = symbol.strip().upper() if symbol.isascii() else ""
    if not value or len(value) > 20 or not set(value) <= SYMBOL_CHARS:
        raise NotFound("asset not found")
    return value


def asset_name(symbol: str) -> str:
    base = symbol.removesuffix("USDT").removesuffix("USD") or symbol
    return NAMES.get(base, base)


@dataclass(frozen=True, slots=True)
class Quote:
    """An asset's current price as every face shows it."""

    asset: Asset
    price_e8: int
    source: str
    as_of: datetime
    stale: bool


def _insert_ignore(session: AsyncSession, model: Any, values: dict[str, Any]) -> Any:
    insert = sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert  # type: ignore[union-attr]
    return insert(model).values(**values).on_conflict_do_nothing()


async def _asset_locked(session: AsyncSession, symbol: str) -> Asset:
    """The asset row, created on first sight (concurrently: once), locked for this transaction."""
    query = select(Asset).where(col(Asset.symbol) == symbol).with_for_update()
    asset = await session.scalar(query)
    if asset is None:
        values = {"symbol": symbol, "name": asset_name(symbol), "asset_type": "crypto", "created_at": utcnow()}
        await session.execute(_insert_ignore(session, Asset, values))
        asset = await session.scalar(query.execution_options(populate_existing=True))
    assert asset is not None and asset.id is not None
    return asset


def period_start(at: datetime, seconds: float) -> datetime:
    stamp = math.floor(at.timestamp() / seconds) * seconds
    return datetime.fromtimestamp(stamp, UTC)


async def record_price(
    session: AsyncSession, *, symbol: str, price_e8: int, source: str, as_of: datetime, record_seconds: float
) -> bool:
    """Store a price heard from ``source``; True when it became the current price (it is newer)."""
    symbol = check_symbol(symbol)
    asset = await _asset_locked(session, symbol)
    await session.execute(
        _insert_ignore(
            session,
            AssetPricePoint,
            {
                "asset_id": asset.id,
                "price_e8": price_e8,
                "source": source,
                "as_of": period_start(as_of, record_seconds),
            },
        )
    )
    if asset.price_updated_at is not None and asset.price_updated_at >= as_of:
        return False
    before = asset.price_e8
    asset.price_e8, asset.source, asset.price_updated_at = price_e8, source, as_of
    await session.flush()
    topics.asset_price_changed(session, asset)
    # Price alerts on this symbol fire here, once per crossing: the row lock above orders the moves.
    previous = Decimal(before) / SCALE if before is not None else None
    await alerts.asset_price_moved(session, symbol, previous, Decimal(price_e8) / SCALE)
    return True


async def set_price(
    session: AsyncSession, actor: Actor | None, *, symbol: str, price: str, record_seconds: float
) -> Asset:
    """The operator feed: an admin sets a price now (``actor`` None: the CLI, run by the system)."""
    if actor is not None:
        actor.require_admin()
    symbol = _valid_symbol(symbol)
    price_e8 = parse_e8(price)
    await record_price(
        session, symbol=symbol, price_e8=price_e8, source="operator", as_of=utcnow(), record_seconds=record_seconds
    )
    asset = await _asset_locked(session, symbol)
    assert asset.id is not None
    await audit.record(
        session, actor, "asset_price.set", "asset", asset.id, after={"symbol": symbol, "price": to_text(price_e8)}
    )
    return asset


def _valid_symbol(symbol: str) -> str:
    try:
        return check_symbol(symbol)
    except NotFound:
        raise InvalidInput(
            "symbol must be 1-20 letters or digits, e.g. BTCUSDT", code="BAD_REQUEST", field="symbol"
        ) from None


def _quote(asset: Asset, stale_seconds: float, now: datetime | None = None) -> Quote:
    if asset.price_e8 is None or asset.price_updated_at is None or asset.source is None:
        raise NotFound(f"no price recorded for {asset.symbol}")
    age = (now or utcnow()) - asset.price_updated_at
    return Quote(asset, asset.price_e8, asset.source, asset.price_updated_at, age > timedelta(seconds=stale_seconds))


async def get_price(session: AsyncSession, *, symbol: str, stale_seconds: float) -> Quote:
    """The latest recorded price of ``symbol`` (``not_found`` when none), marked stale past its age."""
    asset = await session.scalar(select(Asset).where(col(Asset.symbol) == check_symbol(symbol)))
    if asset is None:
        raise NotFound("asset not found")
    return _quote(asset, stale_seconds)


def quote_of(asset: Asset, stale_seconds: float) -> Quote:
    return _quote(asset, stale_seconds)


async def history(session: AsyncSession, *, asset_id: int, args: PageArgs) -> Page[AssetPricePoint]:
    """The asset's recorded prices, newest first (a chart's points)."""
    query = select(AssetPricePoint).where(col(AssetPricePoint.asset_id) == asset_id)
    return await keyset_page(session, query, col(AssetPricePoint.id), args)


async def price_at(session: AsyncSession, symbol: str, at: datetime, *, stale_seconds: float) -> int | None:
    """The recorded price of ``symbol`` at ``at``: the last one as of then, if it is not stale then."""
    asset_id = await session.scalar(select(Asset.id).where(col(Asset.symbol) == symbol))
    if asset_id is None:
        return None
    point = await session.scalar(
        select(AssetPricePoint)
        .where(
            col(AssetPricePoint.asset_id) == asset_id,
            col(AssetPricePoint.as_of) <= at,
            col(AssetPricePoint.as_of) >= at - timedelta(seconds=stale_seconds),
        )
        .order_by(col(AssetPricePoint.as_of).desc())
        .limit(1)
    )
    return None if point is None else point.price_e8


# -- FX -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FxQuote:
    base: str
    quote: str
    rate: float
    source: str
    as_of: datetime
    stale: bool


def check_currency(code: str, field: str) -> str:
    value = code.strip().upper() if code.isascii() else ""
    if len(value) != 3 or not value.isalpha():
        raise InvalidInput(f"{field} must be a 3-letter currency code, e.g. USD", code="BAD_REQUEST", field=field)
    return value


async def record_rate(
    session: AsyncSession, *, base: str, quote: str, rate_e8: int, source: str, as_of: datetime
) -> bool:
    """Store a rate; True when it replaced an older one (or was the first)."""
    await session.execute(
        _insert_ignore(
            session,
            FxRate,
            {
                "base": base,
                "quote": quote,
                "rate_e8": rate_e8,
                "source": source,
                "as_of": as_of,
                "updated_at": utcnow(),
            },
        )
    )
    row = await session.scalar(
        select(FxRate)
        .where(col(FxRate.base) == base, col(FxRate.quote) == quote)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    if row.as_of > as_of:
        return False
    row.rate_e8, row.source, row.as_of, row.updated_at = rate_e8, source, as_of, utcnow()
    await session.flush()
    return True


async def set_rate(session: AsyncSession, actor: Actor | None, *, base: str, quote: str, rate: str) -> FxRate:
    """The operator feed for FX: an admin (``actor`` None: the CLI, run by the system) sets a rate now."""
    if actor is not None:
        actor.require_admin()
    base, quote = check_currency(base, "from"), check_currency(quote, "to")
    if base == quote:
        raise InvalidInput("from and to must differ", code="BAD_REQUEST", field="to")
    rate_e8 = parse_e8(rate, "rate")
    await record_rate(session, base=base, quote=quote, rate_e8=rate_e8, source="operator", as_of=utcnow())
    row = await session.scalar(select(FxRate).where(col(FxRate.base) == base, col(FxRate.quote) == quote))
    assert row is not None and row.id is not None
    await audit.record(
        session, actor, "fx_rate.set", "fx_rate", row.id, after={"from": base, "to": quote, "rate": to_text(rate_e8)}
    )
    return row


async def get_rate(session: AsyncSession, *, base: str, quote: str, stale_seconds: float) -> FxQuote:
    """``base`` -> ``quote``: the stored pair, its inverse, or crossed through RUB; ``not_found``."""
    base, quote = check_currency(base, "from"), check_currency(quote, "to")
    now = utcnow()
    if base == quote:
        return FxQuote(base, quote, 1.0, "identity", now, False)
    codes = [base, quote, PIVOT]
    found = await session.scalars(select(FxRate).where(col(FxRate.base).in_(codes), col(FxRate.quote).in_(codes)))
    rows = {(row.base, row.quote): row for row in found}
    legs = _legs(rows, base, quote)
    if legs is None:
        raise NotFound(f"no rate for {base}/{quote}")
    rate = 1.0
    for row, inverse in legs:
        rate = rate / to_float(row.rate_e8) if inverse else rate * to_float(row.rate_e8)
    oldest = min(row.as_of for row, _ in legs)
    source = legs[0][0].source
    return FxQuote(base, quote, rate, source, oldest, now - oldest > timedelta(seconds=stale_seconds))


def _legs(rows: dict[tuple[str, str], FxRate], base: str, quote: str) -> list[tuple[FxRate, bool]] | None:
    def leg(a: str, b: str) -> tuple[FxRate, bool] | None:
        if (a, b) in rows:
            return rows[(a, b)], False
        if (b, a) in rows:
            return rows[(b, a)], True
        return None

    direct = leg(base, quote)
    if direct is not None:
        return [direct]
    first, second = leg(base, PIVOT), leg(PIVOT, quote)
    return [first, second] if first is not None and second is not None else None
