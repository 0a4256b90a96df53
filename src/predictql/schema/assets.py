"""GraphQL types of asset prices and FX rates (``assetPrice``, ``currencyRate``, the live stream)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from predictql.models import AssetPricePoint as PointRow
from predictql.schema.context import Info
from predictql.schema.ids import Kind
from predictql.schema.node import Node, gid
from predictql.schema.pagination import BOUNDS, After, Before, Connection, First, Last, connection, page_args
from predictql.schema.payloads import MutationPayload
from predictql.services import assets
from predictql.services.assets import FxQuote, Quote
from predictql.subscriptions.payloads import AssetPriceTick


@strawberry.enum(description="Where a price or rate came from.")
class PriceSource(Enum):
    OPERATOR = strawberry.enum_value("operator", description="Set by an operator (CLI or setAssetPrice).")
    BYBIT = strawberry.enum_value("bybit", description="The Bybit v5 public market feed.")
    CBR = strawberry.enum_value("cbr", description="The central bank's daily rates (FX only).")
    IDENTITY = strawberry.enum_value("identity", description="A currency against itself (rate 1).")


@strawberry.type(description="One recorded price of an asset (a chart point).")
class AssetPricePoint:
    price: float = strawberry.field(description="Price in USD (the quote currency), as a float.")
    price_decimal: str = strawberry.field(description='The exact price as a decimal string, e.g. "84532.17".')
    source: PriceSource = strawberry.field(description="Where the price came from.")
    as_of: datetime = strawberry.field(description="The start of the recording period the price belongs to.")

    @classmethod
    def from_row(cls, row: PointRow) -> AssetPricePoint:
        return cls(
            price=assets.to_float(row.price_e8),
            price_decimal=assets.to_text(row.price_e8),
            source=PriceSource(row.source),
            as_of=row.as_of,
        )


@strawberry.type(description="A crypto pair and its latest recorded price.")
class AssetPrice(Node):
    id: strawberry.ID = strawberry.field(description="The asset's global id (ast_...).")
    symbol: str = strawberry.field(description="Bybit symbol, e.g. BTCUSDT.")
    name: str = strawberry.field(description='Display name, e.g. "Bitcoin".')
    asset_type: str = strawberry.field(description='Kind of asset: "crypto".')
    price: float = strawberry.field(description="Latest price in USD (the quote currency), as a float.")
    price_decimal: str = strawberry.field(description='The exact latest price as a decimal string, e.g. "84532.17".')
    source: PriceSource = strawberry.field(description="Where the latest price came from.")
    as_of: datetime = strawberry.field(description="When the source quoted it (RFC 3339, UTC).")
    stale: bool = strawberry.field(description="Older than PREDICTQL_PRICE_STALE_SECONDS: do not trust it as current.")
    asset_id: strawberry.Private[int]

    @classmethod
    def from_quote(cls, quote: Quote) -> AssetPrice:
        asset = quote.asset
        return cls(
            id=gid(Kind.ASSET, asset.id),
            symbol=asset.symbol,
            name=asset.name,
            asset_type=asset.asset_type,
            price=assets.to_float(quote.price_e8),
            price_decimal=assets.to_text(quote.price_e8),
            source=PriceSource(quote.source),
            as_of=quote.as_of,
            stale=quote.stale,
            asset_id=asset.id or 0,
        )

    @strawberry.field(description=f"Recorded prices, newest first (chart points); pages of {BOUNDS}.")
    async def history(
        self, info: Info, first: First = None, after: After = None, last: Last = None, before: Before = None
    ) -> Connection[AssetPricePoint]:
        args = page_args(info, first, after, last, before)
        async with info.context.db.session() as session:
            page = await assets.history(session, asset_id=self.asset_id, args=args)
        return connection(page, AssetPricePoint.from_row, lambda row: row.id)


@strawberry.type(description="An asset's price as it was recorded (a message of the assetPrice stream).")
class AssetPriceUpdate:
    asset_id: strawberry.ID = strawberry.field(description="The asset's global id (ast_...).")
    symbol: str = strawberry.field(description="Bybit symbol, e.g. BTCUSDT.")
    price: float = strawberry.field(description="Price in USD (the quote currency), as a float.")
    price_decimal: str = strawberry.field(description='The exact price as a decimal string, e.g. "84532.17".')
    source: PriceSource = strawberry.field(description="Where the price came from.")
    as_of: datetime = strawberry.field(description="When the source quoted it (RFC 3339, UTC).")

    @classmethod
    def of(cls, tick: AssetPriceTick) -> AssetPriceUpdate:
        return cls(
            asset_id=gid(Kind.ASSET, tick.asset_id),
            symbol=tick.symbol,
            price=assets.to_float(tick.price_e8),
            price_decimal=assets.to_text(tick.price_e8),
            source=PriceSource(tick.source),
            as_of=tick.as_of,
        )

    @classmethod
    def from_quote(cls, quote: Quote) -> AssetPriceUpdate:
        asset = quote.asset
        assert asset.id is not None
        return cls.of(AssetPriceTick(asset.id, asset.symbol, asset.name, quote.price_e8, quote.source, quote.as_of))

    @staticmethod
    def live(text: str) -> AssetPriceUpdate:
        return AssetPriceUpdate.of(AssetPriceTick.from_json(text))


@strawberry.type(description="A fiat exchange rate: how many `to` units one `from` unit buys.")
class CurrencyRate:
    from_currency: str = strawberry.field(name="from", description="The currency sold, e.g. USD.")
    to_currency: str = strawberry.field(name="to", description="The currency bought, e.g. RUB.")
    rate: float = strawberry.field(description="Units of `to` per unit of `from`, e.g. 92.45.")
    source: PriceSource = strawberry.field(description="Where the rate came from (crossed rates: the first leg's).")
    as_of: datetime = strawberry.field(description="When the source published it (crossed: the older leg).")
    stale: bool = strawberry.field(description="Older than PREDICTQL_FX_STALE_SECONDS.")

    @classmethod
    def of(cls, quote: FxQuote) -> CurrencyRate:
        return cls(
            from_currency=quote.base,
            to_currency=quote.quote,
            rate=quote.rate,
            source=PriceSource(quote.source),
            as_of=quote.as_of,
            stale=quote.stale,
        )


@strawberry.input(description="An operator price for an asset (admins only).")
class SetAssetPriceInput:
    symbol: str = strawberry.field(description="Bybit symbol, e.g. BTCUSDT (created on first price).")
    price: str = strawberry.field(description='The price as a positive decimal string, e.g. "84532.17".')


@strawberry.type(description="What setAssetPrice changed.")
class SetAssetPricePayload(MutationPayload):
    asset_price: AssetPrice | None = strawberry.field(default=None, description="The asset with its new price.")


@strawberry.input(description="An operator FX rate (admins only).")
class SetCurrencyRateInput:
    from_currency: str = strawberry.field(name="from", description="The currency sold, e.g. USD.")
    to_currency: str = strawberry.field(name="to", description="The currency bought, e.g. RUB.")
    rate: str = strawberry.field(description='Units of `to` per unit of `from`, a positive decimal, e.g. "92.45".')


@strawberry.type(description="What setCurrencyRate changed.")
class SetCurrencyRatePayload(MutationPayload):
    currency_rate: CurrencyRate | None = strawberry.field(default=None, description="The rate as now stored.")
