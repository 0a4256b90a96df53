"""The exchange connector: Bybit v5 public spot market data.

WebSocket first (``PREDICTQL_BYBIT_WS_URL``): subscribe ``tickers.<SYMBOL>`` for every followed
symbol, send ``{"op":"ping"}`` every ``PREDICTQL_BYBIT_PING_SECONDS``, and treat a socket silent for
two ping periods as dropped. While the socket is down the connector polls the REST tickers
(``GET /v5/market/tickers?category=spot&symbol=...`` on ``PREDICTQL_BYBIT_REST_URL``) and retries
the socket with a doubling back-off (1/8 of ``PREDICTQL_BYBIT_RECONNECT_MAX_SECONDS`` up to it).

Tickers arrive many times a second; the latest per symbol is recorded once per
``PREDICTQL_PRICE_RECORD_SECONDS`` (``services.assets.record_price``), stamped with the exchange's
own time (``ts``), so a price is never older than it looks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from predictql.db import Database, utcnow
from predictql.errors import DomainError
from predictql.services import assets
from predictql.settings import Settings

log = logging.getLogger("predictql.prices")

Observer = Callable[[str, int, str], None]  # symbol, price x 10^8, "ws" | "rest": after it was recorded


def _time(ms: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(ms) / 1000, UTC)
    except (TypeError, ValueError, OverflowError):
        return utcnow()


class BybitFeed:
    def __init__(self, db: Database, settings: Settings, *, observer: Observer | None = None) -> None:
        self.db = db
        self.settings = settings
        self.symbols = [symbol.upper() for symbol in settings.price_symbols]
        self.observer = observer
        self.pending: dict[str, tuple[int, datetime, str]] = {}
        self.connected = asyncio.Event()  # set while the socket is subscribed (tests and logs)
        self.sessions = 0

    async def run(self) -> None:
        recorder = asyncio.create_task(self._record_forever(), name="bybit recorder")
        first = self.settings.bybit_reconnect_max_seconds / 8
        delay = first
        try:
            while True:
                heard = await self._socket_session()
                delay = first if heard else min(delay * 2, self.settings.bybit_reconnect_max_seconds)
                await self._poll_rest_for(delay)
        finally:
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recorder

    # -- WebSocket ------------------------------------------------------------------------------

    async def _socket_session(self) -> bool:
        """One connection, until it drops; True when it delivered at least one ticker."""
        heard = False
        try:
            async with connect(self.settings.bybit_ws_url, ping_interval=None, open_timeout=5) as ws:
                args = [f"tickers.{symbol}" for symbol in self.symbols]
                await ws.send(json.dumps({"op": "subscribe", "args": args}))
                pinger = asyncio.create_task(self._ping(ws))
                try:
                    heard = await self._read(ws)
                finally:
                    pinger.cancel()
                    self.connected.clear()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("bybit socket down (%s): REST fallback", exc)
        return heard

    async def _ping(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.settings.bybit_ping_seconds)
            await ws.send(json.dumps({"op": "ping"}))

    async def _read(self, ws: ClientConnection) -> bool:
        heard = False
        deadline = 2 * self.settings.bybit_ping_seconds  # a pong or a ticker at least this often
        while True:
            try:
                async with asyncio.timeout(deadline):  # not wait_for: it can swallow a cancellation (3.11)
                    raw = await ws.recv()
            except TimeoutError:
                log.warning("bybit socket silent for %.1fs: reconnecting", deadline)
                return heard
            message = json.loads(raw)
            if message.get("op") == "subscribe":
                if not message.get("success", False):
                    raise ConnectionError(f"subscribe refused: {message.get('ret_msg')}")
                self.sessions += 1
                self.connected.set()
                continue
            data = message.get("data")
            if str(message.get("topic", "")).startswith("tickers.") and isinstance(data, dict):
                heard = self._heard(data.get("symbol"), data.get("lastPrice"), _time(message.get("ts")), "ws") or heard

    # -- REST fallback --------------------------------------------------------------------------

    async def _poll_rest_for(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        async with httpx.AsyncClient(base_url=self.settings.bybit_rest_url, timeout=5) as http:
            while True:
                for symbol in self.symbols:
                    await self._poll_one(http, symbol)
                left = until - loop.time()
                if left <= 0:
                    return
                await asyncio.sleep(min(self.settings.bybit_rest_poll_seconds, left))

    async def _poll_one(self, http: httpx.AsyncClient, symbol: str) -> None:
        try:
            response = await http.get("/v5/market/tickers", params={"category": "spot", "symbol": symbol})
            body = response.json()
            if response.status_code != 200 or body.get("retCode") != 0:
                raise ValueError(f"HTTP {response.status_code}, retCode {body.get('retCode')}")
            for item in body["result"]["list"]:
                self._heard(item.get("symbol"), item.get("lastPrice"), _time(body.get("time")), "rest")
        except Exception as exc:
            log.warning("bybit REST tickers for %s failed: %s", symbol, exc)

    # -- recording ------------------------------------------------------------------------------

    def _heard(self, symbol: Any, price: Any, as_of: datetime, via: str) -> bool:
        if not isinstance(symbol, str) or symbol.upper() not in self.symbols:
            return False
        try:
            price_e8 = assets.parse_e8(str(price))
        except DomainError:
            log.warning("bybit sent an unusable price for %s: %r", symbol, price)
            return False
        self.pending[symbol.upper()] = (price_e8, as_of, via)
        return True

    async def _record_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.price_record_seconds)
            try:
                await self.flush()
            except Exception:
                log.exception("recording prices failed")

    async def flush(self) -> None:
        """Record the latest price heard per symbol since the last flush."""
        pending, self.pending = self.pending, {}
        for symbol, (price_e8, as_of, via) in sorted(pending.items()):
            async with self.db.transaction() as session:
                await assets.record_price(
                    session,
                    symbol=symbol,
                    price_e8=price_e8,
                    source="bybit",
                    as_of=as_of,
                    record_seconds=self.settings.price_record_seconds,
                )
            if self.observer is not None:
                self.observer(symbol, price_e8, via)
