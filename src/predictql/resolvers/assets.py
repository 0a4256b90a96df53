"""GraphQL root fields of asset prices and FX: parse -> one service call -> wrap (REST twins in
``rest_compat/assets.py``; the raw feed is ``/ws/assets/{symbol}/price`` in ``rest_compat/ws_feeds``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable
from typing import Annotated, cast

import strawberry

from predictql.errors import NotFound
from predictql.resolvers.common import INPUT, user_errors
from predictql.resolvers.subscriptions import FROM_SEQ, messages
from predictql.schema.assets import (
    AssetPrice,
    AssetPriceUpdate,
    CurrencyRate,
    SetAssetPriceInput,
    SetAssetPricePayload,
    SetCurrencyRateInput,
    SetCurrencyRatePayload,
)
from predictql.schema.context import Context, Info
from predictql.schema.scalars import Long
from predictql.schema.subscriptions import StreamMessage
from predictql.services import assets
from predictql.subscriptions import streams, topics

SYMBOL = strawberry.argument(description="Bybit symbol, e.g. BTCUSDT (case does not matter).")


async def _quote(context: Context, symbol: str) -> assets.Quote:
    async with context.db.session() as session:
        return await assets.get_price(session, symbol=symbol, stale_seconds=context.settings.price_stale_seconds)


async def _update(context: Context, symbol: str) -> AssetPriceUpdate | None:
    """The snapshot: the latest price; null while a followed symbol has none (NOT_FOUND otherwise)."""
    try:
        return AssetPriceUpdate.from_quote(await _quote(context, symbol))
    except NotFound:
        if symbol not in context.settings.price_symbols:
            raise
        return None


@strawberry.type
class AssetsQuery:
    @strawberry.field(description="An asset's latest recorded price, its source and staleness; null when none.")
    async def asset_price(self, info: Info, symbol: Annotated[str, SYMBOL]) -> AssetPrice | None:
        try:
            return AssetPrice.from_quote(await _quote(info.context, symbol))
        except NotFound:
            return None

    @strawberry.field(
        description="A fiat exchange rate (direct, inverted, or crossed through RUB); null when unknown. "
        "A code that is not three letters is BAD_REQUEST."
    )
    async def currency_rate(
        self,
        info: Info,
        from_currency: Annotated[str, strawberry.argument(name="from", description="The currency sold, e.g. USD.")],
        to_currency: Annotated[str, strawberry.argument(name="to", description="The currency bought, e.g. RUB.")],
    ) -> CurrencyRate | None:
        async with info.context.db.session() as session:
            try:
                quote = await assets.get_rate(
                    session, base=from_currency, quote=to_currency, stale_seconds=info.context.settings.fx_stale_seconds
                )
            except NotFound:
                return None
        return CurrencyRate.of(quote)


@strawberry.type
class AssetsMutation:
    @strawberry.mutation(description="Set an asset's price by hand, the operator feed (admins only).")
    @user_errors
    async def set_asset_price(self, info: Info, input: Annotated[SetAssetPriceInput, INPUT]) -> SetAssetPricePayload:
        context = info.context
        async with context.db.transaction() as session:
            asset = await assets.set_price(
                session,
                context.actor,
                symbol=input.symbol,
                price=input.price,
                record_seconds=context.settings.price_record_seconds,
            )
        return SetAssetPricePayload(
            asset_price=AssetPrice.from_quote(assets.quote_of(asset, context.settings.price_stale_seconds))
        )

    @strawberry.mutation(description="Set a fiat exchange rate by hand, the operator feed (admins only).")
    @user_errors
    async def set_currency_rate(
        self, info: Info, input: Annotated[SetCurrencyRateInput, INPUT]
    ) -> SetCurrencyRatePayload:
        context = info.context
        async with context.db.transaction() as session:
            row = await assets.set_rate(
                session, context.actor, base=input.from_currency, quote=input.to_currency, rate=input.rate
            )
            quote = await assets.get_rate(
                session, base=row.base, quote=row.quote, stale_seconds=context.settings.fx_stale_seconds
            )
        return SetCurrencyRatePayload(currency_rate=CurrencyRate.of(quote))


@strawberry.type
class AssetsSubscription:
    @strawberry.subscription(
        description="An asset's latest price (SNAPSHOT; data null while a followed symbol has none yet), then "
        "each newer recorded price. An unknown symbol is NOT_FOUND."
    )
    async def asset_price(
        self, info: Info, symbol: Annotated[str, SYMBOL], from_seq: Annotated[Long | None, FROM_SEQ] = None
    ) -> AsyncGenerator[StreamMessage[AssetPriceUpdate], None]:
        context = info.context
        wanted = assets.check_symbol(symbol)
        stream = streams.follow(
            context.bus,
            topics.asset_price_channel(wanted),
            live=AssetPriceUpdate.live,
            snapshot=lambda: cast(Awaitable[AssetPriceUpdate], _update(context, wanted)),
            share=("asset", wanted),
            from_seq=from_seq,
            reuse=True,
        )
        return messages(context, stream, check=lambda: _update(context, wanted))
