"""REST group ``events`` (UPPER_SNAKE error codes in the envelope, DECISIONS rule 8): feed, read,
create (a shell, or event + pools + markets at once), update, image, visibility, suggestions and
loop-event lookup. Its closing and cancelling routes are in ``rest_compat/pools.py``."""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, StrictInt, StrictStr
from starlette.datastructures import UploadFile

from predictql.errors import InvalidInput, PayloadTooLarge
from predictql.rest_compat.market_presenters import events_json, feed_json
from predictql.rest_compat.pools import PoolBody
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import event_images, events, feed, pools
from predictql.services.events import EventFields
from predictql.services.feed import FeedQuery

OK = {"status": "ok"}


class EventBody(StrictBody):
    name: StrictStr
    name_ru: StrictStr = ""
    tags: list[StrictStr] | None = None
    versus_names: list[StrictStr] | None = None
    versus_images: list[StrictStr] | None = None
    has_draw: StrictBool = False
    image_url: StrictStr | None = None
    polymarket_event_url: StrictStr | None = None
    loop_interval_minutes: StrictInt = 0
    asset_symbol: StrictStr | None = None

    def fields(self, asset_symbol: str | None = None) -> EventFields:
        data = self.model_dump(include=set(EventFields.__dataclass_fields__))
        return EventFields(**{**data, "asset_symbol": self.asset_symbol or asset_symbol})


class FullEventBody(EventBody):
    main_pool_index: StrictInt | None = None
    pools: list[PoolBody] = Field(min_length=1, max_length=50)


class UpdateBody(StrictBody):
    name: StrictStr | None = None
    name_ru: StrictStr | None = None
    tags: list[StrictStr] | None = None
    versus_names: list[StrictStr] | None = None
    versus_images: list[StrictStr] | None = None
    has_draw: StrictBool | None = None
    main_pool_id: StrictInt | None = None


class ActiveBody(StrictBody):
    is_active: StrictBool


class SuggestBody(StrictBody):
    name: StrictStr
    description: StrictStr = ""
    tags: list[StrictStr] = Field(default_factory=list)


# --- reads --------------------------------------------------------------------------------------


@endpoint("GET", "/events/feed", auth="optional")
async def feed_page(api: ApiRequest) -> dict[str, Any]:
    query = api.request.query_params
    request = FeedQuery(
        limit=api.query_int("limit", 20, lo=1, hi=feed.MAX_LIMIT) or 20,
        cursor=query.get("cursor") or None,
        tags=tuple((query.get("tags") or "").split(",")),
        status=query.get("status") or None,
        search=query.get("q") or None,
    )
    async with api.db.session() as session:
        return await feed_json(session, api.actor, await feed.page(session, api.actor, request))


@endpoint("GET", "/events/{id}", auth="optional")
async def get_event(api: ApiRequest) -> dict[str, Any]:
    event_id = api.path_int("id")
    async with api.db.session() as session:
        (payload,) = await events_json(session, api.actor, [await events.get_visible(session, api.actor, event_id)])
    return payload


@endpoint("GET", "/events/asset-timeframes/{symbol}", auth="none")
async def asset_timeframes(api: ApiRequest) -> list[dict[str, Any]]:
    symbol = api.request.path_params["symbol"]
    async with api.db.session() as session:
        rows = await events.asset_timeframes(session, symbol=symbol)
    return [
        {"event_id": e.id, "loop_interval_minutes": e.loop_interval_minutes, "name": e.name, "name_ru": e.name_ru}
        for e in rows
    ]


# --- writes -------------------------------------------------------------------------------------


@endpoint("POST", "/events", auth="creator", status=201, body=EventBody)
async def create_event(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(EventBody)
    async with api.db.transaction() as session:
        event = await events.create_event(session, api.actor, body.fields())
        (payload,) = await events_json(session, api.actor, [event], watched=False)
    return payload


@endpoint("POST", "/events/create-full", auth="creator", status=201, body=FullEventBody)
async def create_full(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(FullEventBody)
    async with api.db.transaction() as session:
        symbols = [pool.metadata.asset_symbol for pool in body.pools if pool.metadata.asset_symbol]
        event = await pools.create_event_full(
            session,
            api.actor,
            body.fields(symbols[0] if symbols else None),
            [pool.fields() for pool in body.pools],
            main_pool_index=body.main_pool_index,
        )
        (payload,) = await events_json(session, api.actor, [event], watched=False)
    return payload


@endpoint("PUT", "/events/{id}", auth="creator", body=UpdateBody)
async def update_event(api: ApiRequest) -> dict[str, Any]:
    event_id = api.path_int("id")
    body = await api.body(UpdateBody)
    changes = {key: value for key, value in body.model_dump(exclude_unset=True).items() if value is not None}
    async with api.db.transaction() as session:
        event = await events.update_event(session, api.actor, event_id, changes)
        (payload,) = await events_json(session, api.actor, [event], watched=False)
    return payload


@endpoint("POST", "/events/{id}/active", auth="creator", body=ActiveBody)
async def set_active(api: ApiRequest) -> dict[str, str]:
    event_id = api.path_int("id")
    body = await api.body(ActiveBody)
    async with api.db.transaction() as session:
        await events.set_active(session, api.actor, event_id, is_active=body.is_active)
    return OK


@endpoint("POST", "/events/suggest", auth="required", status=201, body=SuggestBody)
async def suggest(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(SuggestBody)
    async with api.db.transaction() as session:
        row = await events.suggest(session, api.actor, name=body.name, description=body.description, tags=body.tags)
    return {"id": row.id, "status": "received"}


# --- image: the service stores it beside the avatars, so the /media/avatars/ mount serves it -----


async def _read_image(api: ApiRequest) -> bytes:
    limit = api.settings.avatar_max_bytes
    if not api.request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("multipart/form-data with an 'image' file is required")
    try:
        form = await api.request.form(max_files=1, max_fields=10, max_part_size=limit + 1)
    except Exception as exc:  # python-multipart refuses oversize parts and bad encodings
        if "size" in str(exc).lower():
            raise PayloadTooLarge(f"image larger than {limit} bytes") from exc
        raise InvalidInput("unreadable multipart body") from exc
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("an 'image' file is required")
    content = await upload.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"image larger than {limit} bytes")
    return content


@endpoint("POST", "/events/{id}/image", auth="creator", upload="image")
async def upload_image(api: ApiRequest) -> dict[str, Any]:
    event_id = api.path_int("id")
    content = await _read_image(api)
    async with api.db.transaction() as session:
        event = await event_images.set_image(
            session,
            api.actor,
            event_id,
            content=content,
            directory=api.settings.avatar_dir,
            base_url=api.settings.public_url,
            max_bytes=api.settings.avatar_max_bytes,
        )
    return {"image_url": event.image_url}


@endpoint("DELETE", "/events/{id}/image", auth="creator")
async def delete_image(api: ApiRequest) -> dict[str, Any]:
    event_id = api.path_int("id")
    async with api.db.transaction() as session:
        await event_images.remove_image(
            session, api.actor, event_id, directory=api.settings.avatar_dir, base_url=api.settings.public_url
        )
    return {}
