"""Pre-built frames straight to the transport (``ws_protocol``'s ``SEND_NOW``): real uvicorn, real
sockets. Taken only when an ordinary ``websocket.send`` would go out without waiting; refused
otherwise (the transport above its high-water mark, a close sent), and order is kept."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from starlette.types import Receive, Scope, Send

from predictql.ws_guard import SEND_NOW
from predictql.ws_protocol import text_frame
from tests.e2e.conftest import uvicorn_serving

pytestmark = pytest.mark.e2e

BIG = "y" * 70_000  # a 64-bit length


async def test_prebuilt_frames_go_out_in_order_and_only_when_a_send_would_not_wait() -> None:
    verdicts: dict[str, bool] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "websocket"
        now = scope["extensions"][SEND_NOW]
        await receive()
        await send({"type": "websocket.accept"})
        verdicts["open"] = now(text_frame("one"))
        await send({"type": "websocket.send", "text": "two"})
        verdicts["big"] = now(text_frame(BIG))
        protocol = now.__self__  # the connection's protocol: play a transport above its high-water mark
        protocol.pause_writing()
        verdicts["paused"] = now(text_frame("lost"))
        protocol.resume_writing()
        verdicts["resumed"] = now(text_frame("three"))
        await receive()  # the client's "bye"
        await send({"type": "websocket.close", "code": 1000})
        verdicts["closed"] = now(text_frame("late"))

    async with uvicorn_serving(app) as port:  # noqa: SIM117 - the client needs the port
        async with websockets.connect(f"ws://127.0.0.1:{port}/", compression=None, max_size=None) as ws:
            received = [await asyncio.wait_for(ws.recv(), 10) for _ in range(4)]
            await ws.send("bye")
            with pytest.raises(websockets.ConnectionClosedOK):
                await asyncio.wait_for(ws.recv(), 10)
    assert received == ["one", "two", BIG, "three"]
    assert verdicts == {"open": True, "big": True, "paused": False, "resumed": True, "closed": False}


async def test_the_handshake_request_is_let_go_once_accepted() -> None:
    """websockets' parser keeps the handshake's Request as long as the connection: its headers are
    dropped once the response is sent (the app has them in its scope); the socket works on."""
    seen: dict[str, object] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        protocol = scope["extensions"][SEND_NOW].__self__
        await receive()
        seen["before"] = len(protocol.request.headers)
        await send({"type": "websocket.accept"})
        seen["request"] = protocol.request
        seen["parsed"] = dict(protocol.conn.parser.gi_frame.f_locals["request"].headers)
        seen["scope"] = dict(scope["headers"]).get(b"x-kept")
        message = await receive()
        await send({"type": "websocket.send", "text": "echo " + message["text"]})
        await receive()

    async with uvicorn_serving(app) as port:  # noqa: SIM117 - the client needs the port
        async with websockets.connect(f"ws://127.0.0.1:{port}/", additional_headers={"X-Kept": "yes"}) as ws:
            await ws.send("hi")
            assert await asyncio.wait_for(ws.recv(), 10) == "echo hi"
    assert seen == {"before": seen["before"], "request": None, "parsed": {}, "scope": b"yes"}
    assert isinstance(seen["before"], int) and seen["before"] >= 6
