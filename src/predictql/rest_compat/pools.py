"""REST groups ``pools`` and ``markets`` (lower_snake error codes, as their pages document):
create a pool, re-target its prices, read pools and markets, and their charts; and the ``events``
group's routes that resolve them (close event / pool / market, cancel; UPPER_SNAKE codes)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import Field, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from predictql.errors import InvalidInput
from predictql.jsonutil import as_utc
from predictql.rest_compat.market_presenters import chart_json, market_chart_json, market_json, pools_json
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import charts, pools, resolution
from predictql.services.pools import PoolFields
from predictql.services.resolution import Verdict

Number = StrictInt | StrictFloat
MAX_BATCH = 100
OK = {"status": "ok"}
DIGITS = re.compile(r"[0-9]{1,19}")
# PoolMetadata keys kept as given (the guide's extras); the ones the service prices with are typed.
EXTRA_METADATA = (
    "volume_min_kopecks",
    "volume_max_kopecks",
    "polymarket_token_ids",
    "asset_symbol",
    "asset_base_price",
)


class PoolMetadataBody(StrictBody):
    market_names: list[StrictStr] = Field(max_length=pools.MAX_OUTCOMES)
    market_probabilities: list[Number] = Field(max_length=pools.MAX_OUTCOMES)
    lmsr_b_kopecks: StrictInt | None = None
    volume_min_kopecks: StrictInt | None = None
    volume_max_kopecks: StrictInt | None = None
    polymarket_token_ids: list[StrictStr] | None = Field(default=None, max_length=pools.MAX_OUTCOMES)
    asset_symbol: StrictStr | None = Field(default=None, max_length=20)
    asset_base_price: Number | None = None
    market_type: StrictStr = "lmsr"  # our extension: "lmsr" or "orderbook" (the service checks it)


class PoolBody(StrictBody):
    """POST /events/{id}/pools, and each item of create-full's ``pools``."""

    name: StrictStr = ""  # the service names an unnamed pool "Main Pool"
    name_ru: StrictStr = ""
    margin: Number = 0
    finish_at: datetime
    live_at: datetime | None = None
    rules: StrictStr = ""
    rules_ru: StrictStr = ""
    metadata: PoolMetadataBody

    @model_validator(mode="before")
    @classmethod
    def _guide_shape(cls, data: Any) -> Any:
        """The managing-pools guide sends the metadata keys at the top level, without ``metadata``."""
        if isinstance(data, dict) and "metadata" not in data and "market_names" in data:
            keys = set(PoolMetadataBody.model_fields)
            metadata = {key: value for key, value in data.items() if key in keys}
            return {**{key: value for key, value in data.items() if key not in keys}, "metadata": metadata}
        return data

    @field_validator("finish_at", "live_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """A timestamp without an offset is read as UTC (rule 11), not refused."""
        return None if value is None else as_utc(value)

    def fields(self) -> PoolFields:
        meta = self.metadata
        extra = {key: getattr(meta, key) for key in EXTRA_METADATA if getattr(meta, key) is not None}
        return PoolFields(
            name=self.name,
            name_ru=self.name_ru,
            finish_at=self.finish_at,
            live_at=self.live_at,
            rules=self.rules,
            rules_ru=self.rules_ru,
            margin=float(self.margin),
            market_names=meta.market_names,
            market_probabilities=[float(p) for p in meta.market_probabilities],
            lmsr_b_kopecks=meta.lmsr_b_kopecks,
            market_type=meta.market_type,
            extra_metadata=extra,
        )


class ProbabilitiesBody(StrictBody):
    probabilities: list[Number] = Field(min_length=1, max_length=pools.MAX_OUTCOMES)


class _VerdictBody(StrictBody):
    """Rule 17: ``{"won_side": "YES"|"NO"}`` or ``{"outcome": <0-based int>}``."""

    won_side: StrictStr | None = None
    outcome: StrictInt | None = None

    def verdict(self) -> Verdict | None:
        return None if self.won_side is None and self.outcome is None else Verdict(self.won_side, self.outcome)


def _one_shape(body: Any, items: str) -> Any:
    """A body names the winner one way: ``won_side``, ``outcome`` or the per-item array."""
    named = isinstance(body, dict) and (body.get("won_side"), body.get("outcome")) != (None, None)
    if named and body.get(items) is not None:
        raise ValueError(f"give won_side, outcome or {items}[], not several")
    return body


class PoolVerdict(_VerdictBody):
    pool_id: StrictInt


class CloseEventBody(_VerdictBody):
    pools: list[PoolVerdict] | None = Field(default=None, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, body: Any) -> Any:
        return _one_shape(body, "pools")


class MarketVerdict(StrictBody):
    market_id: StrictInt
    won_side: StrictStr


class ClosePoolBody(_VerdictBody):
    markets: list[MarketVerdict] | None = Field(default=None, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, body: Any) -> Any:
        return _one_shape(body, "markets")


def batch_ids(raw: str | None) -> list[int]:
    """``ids=1,2,3``: 1-100 positive integers (empty items ignored, repeats once); ``invalid_ids``."""
    items = [item.strip() for item in (raw or "").split(",") if item.strip()]
    bad = InvalidInput(f"ids must be 1-{MAX_BATCH} comma-separated positive integers", code="invalid_ids")
    if not items or len(items) > MAX_BATCH or not all(DIGITS.fullmatch(item) for item in items):
        raise bad
    ids = list(dict.fromkeys(int(item) for item in items))
    if not all(0 < value < 2**63 for value in ids):
        raise bad
    return ids


@endpoint("POST", "/events/{id}/pools", auth="creator", lower_codes=True, status=201, body=PoolBody)
async def create_pool(api: ApiRequest) -> dict[str, Any]:
    event_id = api.path_int("id")
    body = await api.body(PoolBody)
    async with api.db.transaction() as session:
        pool = await pools.create_pool(session, api.actor, event_id, body.fields())
        (payload,) = await pools_json(session, [pool])
    return payload


@endpoint(
    "PUT",
    "/events/{id}/pools/{pool_id}/probabilities",
    auth="creator",
    lower_codes=True,
    invalid_code="invalid_probabilities",
    body=ProbabilitiesBody,
)
async def set_probabilities(api: ApiRequest) -> dict[str, Any]:
    event_id, pool_id = api.path_int("id"), api.path_int("pool_id")
    body = await api.body(ProbabilitiesBody)
    async with api.db.transaction() as session:
        await pools.set_probabilities(session, api.actor, event_id, pool_id, [float(p) for p in body.probabilities])
    return {"message": "probabilities updated"}


@endpoint("GET", "/pools/batch", auth="optional", lower_codes=True)
async def get_pools(api: ApiRequest) -> list[dict[str, Any]]:
    ids = batch_ids(api.request.query_params.get("ids"))
    async with api.db.session() as session:
        found = {pool.id: pool for pool in await pools.get_pools(session, ids, actor=api.actor)}
        return await pools_json(session, [found[pool_id] for pool_id in ids if pool_id in found])


@endpoint("GET", "/pools/{pool_id}", auth="optional", lower_codes=True)
async def get_pool(api: ApiRequest) -> dict[str, Any]:
    pool_id = api.path_int("pool_id")
    async with api.db.session() as session:
        pool = await pools.get_pool(session, pool_id, actor=api.actor)
        (payload,) = await pools_json(session, [pool])
    return payload


@endpoint("GET", "/pools/{pool_id}/ratio/chart", auth="optional", lower_codes=True)
async def pool_chart(api: ApiRequest) -> list[dict[str, Any]]:
    pool_id = api.path_int("pool_id")
    scale = api.request.query_params.get("scale")
    async with api.db.session() as session:
        points = await charts.pool_chart(session, api.actor, pool_id, scale=scale)
    return chart_json(points)


@endpoint("GET", "/pools/{pool_id}/charts", auth="optional", lower_codes=True)
async def pool_charts(api: ApiRequest) -> dict[str, list[dict[str, Any]]]:
    pool_id = api.path_int("pool_id")
    async with api.db.session() as session:
        found = await charts.pool_charts(session, api.actor, pool_id)
    return {scale: chart_json(points) for scale, points in found.items()}


@endpoint("GET", "/markets/{market_id}", auth="optional", lower_codes=True)
async def get_market(api: ApiRequest) -> dict[str, Any]:
    market_id = api.path_int("market_id")
    async with api.db.session() as session:
        market = await pools.get_market(session, market_id, actor=api.actor)
    return market_json(market)


@endpoint("GET", "/markets/{market_id}/chart", auth="optional", lower_codes=True)
async def market_chart(api: ApiRequest) -> list[dict[str, Any]]:
    market_id = api.path_int("market_id")
    async with api.db.session() as session:
        points = await charts.market_chart(session, api.actor, market_id)
    return market_chart_json(points)


# --- closing (rule 17) and cancelling (rule 19) -------------------------------------------------


@endpoint("POST", "/events/{id}/close", auth="creator", body=CloseEventBody)
async def close_event(api: ApiRequest) -> dict[str, str]:
    event_id = api.path_int("id")
    body = await api.body(CloseEventBody)
    per_pool = [(item.pool_id, item.verdict() or Verdict()) for item in body.pools or ()]
    async with api.db.transaction() as session:
        await resolution.close_event(session, api.actor, event_id, body.verdict(), per_pool)
    return OK


@endpoint("POST", "/events/{id}/pools/{pool_id}/close", auth="creator", body=ClosePoolBody)
async def close_pool(api: ApiRequest) -> dict[str, str]:
    event_id, pool_id = api.path_int("id"), api.path_int("pool_id")
    body = await api.body(ClosePoolBody)
    per_market = [(item.market_id, item.won_side) for item in body.markets or ()]
    async with api.db.transaction() as session:
        await resolution.close_pool(session, api.actor, event_id, pool_id, body.verdict(), per_market)
    return OK


@endpoint("POST", "/events/{id}/pools/{pool_id}/markets/{market_id}/close", auth="creator", body=_VerdictBody)
async def close_market(api: ApiRequest) -> dict[str, str]:
    event_id, pool_id, market_id = api.path_int("id"), api.path_int("pool_id"), api.path_int("market_id")
    body = await api.body(_VerdictBody)
    async with api.db.transaction() as session:
        await resolution.close_market(session, api.actor, event_id, pool_id, market_id, body.verdict() or Verdict())
    return OK


@endpoint("POST", "/events/{id}/cancel", auth="creator")
async def cancel_event(api: ApiRequest) -> dict[str, str]:
    event_id = api.path_int("id")
    async with api.db.transaction() as session:
        await resolution.cancel_event(session, api.actor, event_id)
    return OK
