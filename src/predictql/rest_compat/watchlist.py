"""REST group ``watchlist`` (lower_snake codes, as its page writes ``unauthorized``)."""

from __future__ import annotations

from typing import Any

from predictql.rest_compat.market_presenters import events_json
from predictql.rest_compat.routing import ApiRequest, endpoint
from predictql.services import watchlist

OK = {"status": "ok"}


@endpoint("GET", "/users/me/watchlist", auth="required", lower_codes=True)
async def list_watched(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        return await events_json(session, api.actor, await watchlist.watched_events(session, api.actor))


@endpoint("POST", "/users/me/watchlist/{event_id}", auth="required", lower_codes=True)
async def watch(api: ApiRequest) -> dict[str, str]:
    event_id = api.path_int("event_id")
    async with api.db.transaction() as session:
        await watchlist.add(session, api.actor, event_id=event_id)
    return OK


@endpoint("DELETE", "/users/me/watchlist/{event_id}", auth="required", lower_codes=True)
async def unwatch(api: ApiRequest) -> dict[str, str]:
    event_id = api.path_int("event_id")
    async with api.db.transaction() as session:
        await watchlist.remove(session, api.actor, event_id=event_id)
    return OK
