"""The fan-out baseline of ``bench_fanout.py``: a naive per-subscriber broadcaster loop.

A Starlette app speaking just enough ``graphql-transport-ws`` for one subscription shape
(``marketUpdated``). Every subscriber gets its own ``broadcaster.Broadcast`` subscription (its own
unbounded queue) and, for every message, decodes the JSON itself, builds the response and encodes
it itself: the work is done once per subscriber, not once per channel. No GraphQL execution.

broadcaster's own Redis backend misses every message of the first channel (PITFALLS.md), so the
Broadcast runs on predictql's ``RedisPubSubBackend``: the same Redis connection handling as the
server under test, so the comparison is of the fan-out layer only.

    PREDICTQL_BENCH_BUS_URL=redis://127.0.0.1:6379/0 uvicorn naive_fanout:app --app-dir bench
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from predictql.subscriptions.redis_backend import RedisPubSubBackend

URL = os.environ.get("PREDICTQL_BENCH_BUS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("PREDICTQL_BUS_CHANNEL_PREFIX", "")
broadcast = Broadcast(backend=RedisPubSubBackend(URL))
# broadcaster 0.3.1 races when several subscribers enter a new channel at once: each sees no
# subscriber yet, and each replaces the channel's set of queues with its own, so all but the last
# never receive anything (measured: a third of 1,000 subscribers got nothing). Enter one at a time.
SUBSCRIBING = asyncio.Lock()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await broadcast.connect()
    yield
    await broadcast.disconnect()


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def render(op: str, seq: int, state: dict[str, Any], kind: str) -> str:
    """The frame ``marketUpdated { kind seq data { marketId yesPrice noPrice yesProbability volume at } }``
    gives."""
    data = {
        "marketId": f"mkt_{state['market_id']}",
        "yesPrice": state["yes_price"],
        "noPrice": state["no_price"],
        "yesProbability": state["yes_probability"],
        "volume": state["volume"],
        "at": state["at"],
    }
    message = {"kind": kind, "seq": seq, "data": data}
    return json.dumps({"id": op, "type": "next", "payload": {"data": {"marketUpdated": message}}})


async def follow(websocket: WebSocket, op: str, market_id: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        async with SUBSCRIBING:
            subscriber = await stack.enter_async_context(broadcast.subscribe(PREFIX + f"market:{market_id}"))
        # Live now: the first frame (predictql sends a snapshot here; this baseline has no database).
        placeholder = {
            "market_id": market_id,
            "yes_price": 0,
            "no_price": 0,
            "yes_probability": 0.0,
            "volume": 0,
            "at": None,
        }
        await websocket.send_text(render(op, 0, placeholder, "SNAPSHOT"))
        async for event in subscriber:  # type: ignore[union-attr]
            assert event is not None
            seq, _, payload = event.message.partition("|")  # "{seq}|{json}", as predictql publishes
            await websocket.send_text(render(op, int(seq), json.loads(payload), "LIVE"))


async def graphql_ws(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="graphql-transport-ws")
    tasks: dict[str, asyncio.Task[None]] = {}
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            kind = message.get("type")
            if kind == "connection_init":
                await websocket.send_text(json.dumps({"type": "connection_ack"}))
            elif kind == "ping":
                await websocket.send_text(json.dumps({"type": "pong"}))
            elif kind == "subscribe":
                market_id = message["payload"]["variables"]["id"].removeprefix("mkt_")  # a global id
                tasks[message["id"]] = asyncio.create_task(follow(websocket, message["id"], market_id))
            elif kind == "complete" and message.get("id") in tasks:
                tasks.pop(message["id"]).cancel()
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks.values():
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks.values(), return_exceptions=True)


app = Starlette(routes=[Route("/health", health), WebSocketRoute("/graphql", graphql_ws)], lifespan=lifespan)
