"""A small local fake of the Bybit v5 public market API, for the exchange connector's tests.

It speaks the same shapes as the real one (only what the connector uses):

- WebSocket ``/v5/public/spot``: ``{"op":"subscribe","args":["tickers.BTCUSDT"]}`` is answered
  ``{"success":true,"ret_msg":"","conn_id":...,"op":"subscribe"}``, ``{"op":"ping"}`` with
  ``{"success":true,"ret_msg":"pong",...,"op":"ping"}``; ``push`` sends a ticker
  ``{"topic":"tickers.BTCUSDT","ts":<ms>,"type":"snapshot","cs":N,"data":{"symbol","lastPrice",...}}``.
- REST ``GET /v5/market/tickers?category=spot&symbol=BTCUSDT``:
  ``{"retCode":0,"retMsg":"OK","result":{"category":"spot","list":[{"symbol","lastPrice",...}]},
  "retExtInfo":{},"time":<ms>}``; an unknown symbol is ``retCode`` 10001.

It also serves a central-bank daily document (``GET /daily_json.js``, the CBR JSON format:
``{"Date", "Valute": {"USD": {"CharCode", "Nominal", "Value"}}}``) from ``cbr``, for the FX source.

The test controls it: ``drop()`` closes every socket, ``refuse`` turns handshakes away (the socket is
"down"), ``silent`` stops answering pings. It listens on 127.0.0.1 only, on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


def _ms() -> int:
    return int(time.time() * 1000)


def _ticker(symbol: str, price: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "lastPrice": price,
        "highPrice24h": price,
        "lowPrice24h": price,
        "prevPrice24h": price,
        "volume24h": "1000",
        "turnover24h": "1000",
        "price24hPcnt": "0",
    }


class FakeBybit:
    def __init__(self) -> None:
        self.prices: dict[str, str] = {}
        self.subscriptions: dict[WebSocket, set[str]] = {}
        self.connections = 0
        self.pings = 0
        self.rest_calls = 0
        self.refuse = False
        self.silent = False
        self.changed = asyncio.Condition()  # notified on every connection, subscription, ping
        self.port = 0
        self.cbr: dict[str, Any] | None = None  # the daily document; None answers 503
        self._cs = 0
        self.app = Starlette(
            routes=[
                WebSocketRoute("/v5/public/spot", self._socket),
                Route("/v5/market/tickers", self._tickers),
                Route("/daily_json.js", self._daily),
            ]
        )

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Any, within: float = 10.0) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(predicate), within)

    async def _socket(self, websocket: WebSocket) -> None:
        if self.refuse:
            await websocket.close(code=1013)
            return
        await websocket.accept()
        self.connections += 1
        await self._notify()
        try:
            while True:
                message = json.loads(await websocket.receive_text())
                reply = {"success": True, "ret_msg": "", "conn_id": f"fake-{self.connections}", "op": message["op"]}
                if message.get("op") == "subscribe":
                    self.subscriptions[websocket] = set(message.get("args", []))
                    await websocket.send_text(json.dumps(reply))
                elif message.get("op") == "ping":
                    self.pings += 1
                    if not self.silent:
                        await websocket.send_text(json.dumps({**reply, "ret_msg": "pong"}))
                await self._notify()
        except WebSocketDisconnect:
            pass
        finally:
            self.subscriptions.pop(websocket, None)
            await self._notify()

    async def push(self, symbol: str, price: str) -> int:
        """A ticker to every socket subscribed to it; how many got it."""
        self.prices[symbol] = price
        self._cs += 1
        frame = json.dumps(
            {
                "topic": f"tickers.{symbol}",
                "ts": _ms(),
                "type": "snapshot",
                "cs": self._cs,
                "data": _ticker(symbol, price),
            }
        )
        sent = 0
        for websocket, topics in list(self.subscriptions.items()):
            if f"tickers.{symbol}" in topics:
                with contextlib.suppress(Exception):
                    await websocket.send_text(frame)
                    sent += 1
        return sent

    async def drop(self) -> None:
        """The exchange drops every connection."""
        for websocket in list(self.subscriptions):
            with contextlib.suppress(Exception):
                await websocket.close(code=1011)
        await self.wait_for(lambda: not self.subscriptions)

    async def _tickers(self, request: Request) -> JSONResponse:
        self.rest_calls += 1
        symbol = request.query_params.get("symbol", "")
        if request.query_params.get("category") != "spot" or symbol not in self.prices:
            return JSONResponse(
                {"retCode": 10001, "retMsg": "Not supported symbols", "result": {}, "retExtInfo": {}, "time": _ms()}
            )
        return JSONResponse(
            {
                "retCode": 0,
                "retMsg": "OK",
                "result": {"category": "spot", "list": [_ticker(symbol, self.prices[symbol])]},
                "retExtInfo": {},
                "time": _ms(),
            }
        )

    async def _daily(self, request: Request) -> JSONResponse:
        if self.cbr is None:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        return JSONResponse(self.cbr)

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/public/spot"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def running_fake() -> AsyncIterator[FakeBybit]:
    """The fake served by uvicorn in this event loop until the block ends."""
    fake = FakeBybit()
    fake.port = _free_port()
    config = uvicorn.Config(
        fake.app, host="127.0.0.1", port=fake.port, log_level="warning", lifespan="off", ws_ping_interval=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:  # uvicorn announces start-up with a flag only
        assert time.monotonic() < deadline and not task.done(), "fake exchange did not start"
        await asyncio.sleep(0.01)
    try:
        yield fake
    finally:
        server.should_exit = True
        await task
