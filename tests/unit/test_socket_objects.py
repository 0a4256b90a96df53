"""The per-socket objects of an idle subscriber (issue 14 point 3): the drain's socket (no task of
its own), the message bound, the lean queue and event of the WebSocket protocol, and the pre-built
frames that go through the guards (``ws_guard.SEND_NOW``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.frames import Frame, Opcode

from predictql.drain import GOING_AWAY, Drain
from predictql.ws_guard import RATE_LIMITED, Bucket, Metered
from predictql.ws_protocol import LeanEvent, LeanQueue, text_frame


class Peer:
    """The server side of one socket: what the app receives, and what it sent."""

    def __init__(self) -> None:
        self.incoming = LeanQueue()
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()  # type: ignore[no-any-return]

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def test_a_drain_interrupts_the_pending_receive_without_a_task_of_its_own() -> None:
    drain, peer = Drain(sockets_timeout=5), Peer()
    socket = drain.open(peer.receive, peer.send)
    await socket.send({"type": "websocket.accept"})
    tasks_before = len(asyncio.all_tasks())
    app = asyncio.create_task(socket.receive())
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == tasks_before + 1  # the app's own task only
    begun = asyncio.create_task(drain.begin())
    assert await asyncio.wait_for(app, 1) == {"type": "websocket.disconnect", "code": GOING_AWAY}
    assert peer.sent[-1]["type"] == "websocket.close" and peer.sent[-1]["code"] == GOING_AWAY
    await socket.send({"type": "websocket.send", "text": "late"})  # dropped: nobody listens
    assert peer.sent[-1]["type"] == "websocket.close"
    assert not begun.done()  # waits for the app to return
    drain.close(socket)
    await asyncio.wait_for(begun, 1)
    assert drain.open_sockets == 0


async def test_a_drain_while_the_app_is_busy_ends_its_next_receive() -> None:
    drain, peer = Drain(sockets_timeout=0.1), Peer()
    socket = drain.open(peer.receive, peer.send)
    await socket.send({"type": "websocket.accept"})
    peer.incoming.put_nowait({"type": "websocket.receive", "text": "hi"})
    await drain.begin()  # bounded: the socket stays open meanwhile
    assert (await socket.receive())["code"] == GOING_AWAY
    assert [m["type"] for m in peer.sent] == ["websocket.accept", "websocket.close"]


async def test_someone_elses_cancel_of_the_receiving_task_is_not_swallowed() -> None:
    drain, peer = Drain(sockets_timeout=5), Peer()
    socket = drain.open(peer.receive, peer.send)
    app = asyncio.create_task(socket.receive())
    await asyncio.sleep(0)
    app.cancel()
    with pytest.raises(asyncio.CancelledError):
        await app
    peer.incoming.put_nowait({"type": "websocket.receive", "text": "next"})
    assert await socket.receive() == {"type": "websocket.receive", "text": "next"}  # nothing lost


async def test_a_socket_past_its_bucket_is_closed_with_4429() -> None:
    peer = Peer()
    socket = Metered(peer.receive, peer.send, Bucket(rate=0.001, burst=1))
    for text in ("one", "two"):
        peer.incoming.put_nowait({"type": "websocket.receive", "text": text})
    assert (await socket.receive())["text"] == "one"
    assert await socket.receive() == {"type": "websocket.disconnect", "code": RATE_LIMITED}
    await socket.send({"type": "websocket.send", "text": "dropped"})
    assert peer.sent == [{"type": "websocket.close", "code": RATE_LIMITED, "reason": "too many messages"}]


async def test_lean_queue_is_fifo_and_a_cancelled_getter_loses_nothing() -> None:
    queue = LeanQueue()
    first, second = asyncio.create_task(queue.get()), asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("a")
    first.cancel()  # woken for "a", cancelled before it ran: "a" goes to the other getter
    assert await asyncio.wait_for(second, 1) == "a"
    with pytest.raises(asyncio.CancelledError):
        await first
    queue.put_nowait("b")
    queue.put_nowait("c")
    assert not queue.empty() and queue.qsize() == 2
    assert [await queue.get(), await queue.get()] == ["b", "c"]
    assert queue.empty()


async def test_lean_event_wakes_every_waiter() -> None:
    event = LeanEvent(is_set=True)
    assert await event.wait()
    event.clear()
    waiters = [asyncio.create_task(event.wait()) for _ in range(2)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters) and not event.is_set()
    event.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True]


@pytest.mark.parametrize("length", [0, 1, 125, 126, 65535, 65536])
def test_a_prebuilt_text_frame_is_what_websockets_sends(length: int) -> None:
    text = ("é" + "x" * length)[:length] if length else ""
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


async def test_the_guards_pass_a_prebuilt_frame_on_until_closed() -> None:
    offered: list[bytes] = []

    def now(frame: bytes) -> bool:
        offered.append(frame)
        return len(offered) == 1  # the first one is taken, the second refused (transport full)

    drain, peer = Drain(sockets_timeout=5), Peer()
    drained = drain.open(peer.receive, peer.send, now)
    socket = Metered(drained.receive, drained.send, Bucket(rate=0.001, burst=1), drained.send_now)
    assert socket.send_now(b"one") is True
    assert socket.send_now(b"two") is False  # the caller sends it through ``send``
    peer.incoming.put_nowait({"type": "websocket.receive", "text": "a"})
    peer.incoming.put_nowait({"type": "websocket.receive", "text": "b"})
    await socket.receive()
    assert (await socket.receive())["type"] == "websocket.disconnect"  # past its bucket: closed
    assert socket.send_now(b"three") is True  # dropped, as ``send`` drops it
    assert offered == [b"one", b"two"]
    assert Metered(peer.receive, peer.send, Bucket(1, 1)).send_now(b"x") is False  # no server support
    closed = drain.open(peer.receive, peer.send, now)
    await closed.send({"type": "websocket.close", "code": 1000})
    assert closed.send_now(b"four") is True and offered == [b"one", b"two"]
