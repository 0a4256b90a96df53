"""The documented raw WebSocket feeds (rule 21): thin views of the bus, like the GraphQL streams.

- ``/ws/trades``: ``{"type":"init","trades":[SimpleTrade...]}`` (the 50 newest), then
  ``{"type":"trade","trade":{amount,name,token,event,market,avatar}}`` per trade.
- ``/ws/events/{event_id}/chart``: ``{"type":"init","event_id":N,"ratios":[{timestamp, values}]}``
  (the main pool's chart at the default scale), then ``{"type":"chart_update", ...}`` per change.
- ``/ws/assets/{symbol}/price``: ``{"type":"price_update","symbol":"BTCUSDT","price":84532.17}``,
  the latest recorded price on connect (nothing until there is one), then each newer price. An
  unknown symbol (no price recorded and not followed by the connector) is refused like an event.

Each live frame is encoded once per message for every socket (``Message.view``). After missed
events (slow reader, lost Redis connection) a fresh ``init`` is sent. No client messages are
expected: they are read and ignored, and one larger than the documented cap closes the socket
(1009). Keep-alive is uvicorn's WebSocket ping frames (``predictql serve`` sets every
``PREDICTQL_WS_PING_INTERVAL_SECONDS``; no pong by ``PREDICTQL_WS_READ_DEADLINE_SECONDS`` closes with
1011). Past ``PREDICTQL_WS_MAX_CONNECTIONS`` sockets per process a handshake is closed with 1013;
an unknown event is refused with the 404 envelope (or close code 4404 where the server cannot
send an HTTP response). Frames are text (str), never bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from predictql.auth import ANONYMOUS
from predictql.db import Database
from predictql.errors import NotFound, Unavailable
from predictql.jsonutil import dumps_str
from predictql.outages import unavailable
from predictql.rest_compat.errors import envelope
from predictql.rest_compat.market_presenters import chart_json
from predictql.rest_compat.presenters import feed_trade
from predictql.services import assets, live, lmsr_trading
from predictql.settings import Settings
from predictql.subscriptions import streams, topics
from predictql.subscriptions.payloads import AssetPriceTick, ChartTick, TradeTick

log = logging.getLogger("predictql.ws")
T = TypeVar("T")

TRADES_INBOUND_LIMIT = 512  # bytes, the documented message cap of each feed
CHART_INBOUND_LIMIT = 128
ASSET_INBOUND_LIMIT = 128
GOING_AWAY, MESSAGE_TOO_BIG, INTERNAL_ERROR, TRY_AGAIN_LATER, NOT_FOUND = 1001, 1009, 1011, 1013, 4404


def trade_frame(text: str) -> str:
    return dumps_str({"type": "trade", "trade": TradeTick.from_json(text).simple()})


def chart_frame(text: str) -> tuple[int, str, bool]:
    """(pool id, frame, is init): a socket shows its event's main pool only."""
    tick = ChartTick.from_json(text)
    ratios = [{"timestamp": tick.timestamp, "values": tick.values}]
    return tick.pool_id, dumps_str({"type": "chart_update", "event_id": tick.event_id, "ratios": ratios}), False


def asset_frame(text: str) -> str:
    tick = AssetPriceTick.from_json(text)
    return dumps_str({"type": "price_update", "symbol": tick.symbol, "price": assets.to_float(tick.price_e8)})


def asset_init(db: Database, settings: Settings, symbol: str) -> Callable[[], Awaitable[str]]:
    """The latest price as a first ``price_update``; "" (nothing sent) while none is recorded."""

    async def load() -> str:
        wanted = assets.check_symbol(symbol)
        async with db.session() as session:
            try:
                quote = await assets.get_price(session, symbol=wanted, stale_seconds=settings.price_stale_seconds)
            except NotFound:
                if wanted not in settings.price_symbols:
                    raise
                return ""
        return dumps_str({"type": "price_update", "symbol": wanted, "price": assets.to_float(quote.price_e8)})

    return load


def trades_init(db: Database) -> Callable[[], Awaitable[str]]:
    async def load() -> str:
        async with db.session() as session:
            trades = await lmsr_trading.latest_trades(session)
        return dumps_str({"type": "init", "trades": [feed_trade(item) for item in trades]})

    return load


def chart_init(db: Database, event_id: int) -> Callable[[], Awaitable[tuple[int, str, bool]]]:
    async def load() -> tuple[int, str, bool]:
        if not 0 < event_id < 2**63:
            raise NotFound("event not found")
        async with db.session() as session:
            pool_id, points = await live.chart_history(session, ANONYMOUS, event_id)
        return pool_id or 0, dumps_str({"type": "init", "event_id": event_id, "ratios": chart_json(points)}), True

    return load


async def trades_feed(websocket: WebSocket) -> None:
    db: Database = websocket.state.db
    stream = streams.follow(
        websocket.state.bus, topics.TRADES, live=trade_frame, snapshot=trades_init(db), share="ws.trades", reuse=True
    )
    await _serve(websocket, _values(stream), TRADES_INBOUND_LIMIT)


async def chart_feed(websocket: WebSocket) -> None:
    event_id: int = websocket.path_params["event_id"]
    stream = streams.follow(
        websocket.state.bus,
        topics.event_chart_channel(event_id),
        live=chart_frame,
        snapshot=chart_init(websocket.state.db, event_id),
        share=("ws.chart", event_id),
        reuse=True,
    )
    await _serve(websocket, _main_pool(_values(stream)), CHART_INBOUND_LIMIT)


async def asset_feed(websocket: WebSocket) -> None:
    try:  # a malformed symbol names no channel
        symbol = assets.check_symbol(str(websocket.path_params["symbol"]))
    except NotFound as error:
        await _deny(websocket, error)
        return
    settings: Settings = websocket.state.settings
    stream = streams.follow(
        websocket.state.bus,
        topics.asset_price_channel(symbol),
        live=asset_frame,
        snapshot=asset_init(websocket.state.db, settings, symbol),
        share=("ws.asset", symbol),
        reuse=True,
    )
    await _serve(websocket, _values(stream), ASSET_INBOUND_LIMIT)


async def _values(stream: AsyncGenerator[streams.Item[T], None]) -> AsyncGenerator[T, None]:
    """Snapshots (init frames) and live frames; heartbeats are left out (keep-alive is the
    WebSocket ping), and these feeds have snapshots, so they never see a GAP."""
    async with contextlib.aclosing(stream):
        async for item in stream:
            if item.value is not None:
                yield item.value


async def _main_pool(stream: AsyncGenerator[tuple[int, str, bool], None]) -> AsyncGenerator[str, None]:
    """The frames of the pool the (latest) init showed; before the event has a pool, its first."""
    shown = 0
    async with contextlib.aclosing(stream):
        async for pool_id, frame, is_init in stream:
            if is_init or not shown:
                shown = pool_id
            if pool_id == shown:
                yield frame


async def _serve(websocket: WebSocket, frames: AsyncGenerator[str, None], inbound_limit: int) -> None:
    async with contextlib.aclosing(frames):
        try:  # subscribe and read the snapshot before accepting: an unknown event is refused
            first = await anext(frames)
        except NotFound as error:
            await _deny(websocket, error)
            return
        except StopAsyncIteration:
            return
        except Exception as exc:
            outage = unavailable(exc)  # no snapshot while the database is away: try again later
            if outage is None:
                raise
            await _deny(websocket, outage)
            return
        await websocket.accept()
        await _pump(websocket, first, frames, inbound_limit)


async def _pump(websocket: WebSocket, first: str, frames: AsyncGenerator[str, None], inbound_limit: int) -> None:
    """Send until the stream ends (shutdown: 1001) or the client leaves; read to notice that."""
    sender = asyncio.create_task(_send(websocket, first, frames))
    reader = asyncio.create_task(_read(websocket, inbound_limit))
    done, pending = await asyncio.wait((sender, reader), return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if sender not in done:
        return
    failure = sender.exception()
    if failure is not None:
        log.error("legacy feed %s failed", websocket.url.path, exc_info=failure)
    if failure is not None or sender.result():
        with contextlib.suppress(Exception):
            await websocket.close(INTERNAL_ERROR if failure else GOING_AWAY)


async def _send(websocket: WebSocket, first: str, frames: AsyncGenerator[str, None]) -> bool:
    """True when the stream ended (the bus closed), False when the client went away."""
    frame: str | None = first
    while frame is not None:
        try:
            if frame:  # "" is a snapshot with nothing to show yet
                await websocket.send_text(frame)
        except Exception:  # a closed socket fails the send in several ways (disconnect, OSError)
            return False
        frame = await anext(frames, None)
    return True


async def _read(websocket: WebSocket, limit: int) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        data = message.get("text") or message.get("bytes") or ""
        if len(data) > limit:
            await websocket.close(MESSAGE_TOO_BIG, f"client messages are limited to {limit} bytes")
            return


async def _deny(websocket: WebSocket, error: NotFound | Unavailable) -> None:
    """An unknown event (404 / close 4404), or the database away (503 + Retry-After / close 1013)."""
    away = isinstance(error, Unavailable)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        retry = {"Retry-After": str(error.retry_after)} if isinstance(error, Unavailable) else None
        status, code = (503, error.code) if away else (404, "NOT_FOUND")
        await websocket.send_denial_response(envelope(status, code, error.message, headers=retry))
    else:
        await websocket.accept()
        await websocket.close(TRY_AGAIN_LATER if away else NOT_FOUND, error.message)


def ws_routes() -> list[WebSocketRoute]:
    return [
        WebSocketRoute("/ws/trades", trades_feed),
        WebSocketRoute("/ws/events/{event_id:int}/chart", chart_feed),
        WebSocketRoute("/ws/assets/{symbol}/price", asset_feed),
    ]
