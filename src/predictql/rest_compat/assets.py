"""REST group ``assets`` (lower_snake codes): the latest price of a crypto pair and fiat FX rates.

The documented shapes, plus our fields ``source``, ``stale`` (and ``as_of`` for rates): every price
says where it came from and whether it is older than ``PREDICTQL_PRICE_STALE_SECONDS``. Prices are
USD floats and rates floats, as the API pages show them (DECISIONS rule 1).
"""

from __future__ import annotations

from typing import Any

from predictql.errors import InvalidInput
from predictql.jsonutil import rfc3339
from predictql.rest_compat.routing import ApiRequest, endpoint
from predictql.services import assets


@endpoint("GET", "/assets/{symbol}/price", auth="none", lower_codes=True)
async def asset_price(api: ApiRequest) -> dict[str, Any]:
    symbol = api.request.path_params["symbol"]
    async with api.db.session() as session:
        quote = await assets.get_price(session, symbol=symbol, stale_seconds=api.settings.price_stale_seconds)
    asset = quote.asset
    return {
        "id": asset.id,
        "symbol": asset.symbol,
        "name": asset.name,
        "asset_type": asset.asset_type,
        "price": assets.to_float(quote.price_e8),
        "price_updated_at": rfc3339(quote.as_of),
        "created_at": rfc3339(asset.created_at),
        "source": quote.source,
        "stale": quote.stale,
    }


@endpoint("GET", "/currency/rate", auth="none", lower_codes=True, invalid_code="bad_request")
async def currency_rate(api: ApiRequest) -> dict[str, Any]:
    query = api.request.query_params
    try:
        async with api.db.session() as session:
            rate = await assets.get_rate(
                session,
                base=query.get("from", ""),
                quote=query.get("to", ""),
                stale_seconds=api.settings.fx_stale_seconds,
            )
    except InvalidInput as error:  # this page spells its codes in lower case (``bad_request``)
        raise InvalidInput(error.message, code=error.code.lower()) from None
    return {
        "from": rate.base,
        "to": rate.quote,
        "rate": rate.rate,
        "source": rate.source,
        "as_of": rfc3339(rate.as_of),
        "stale": rate.stale,
    }
