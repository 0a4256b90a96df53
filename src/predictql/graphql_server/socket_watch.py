"""A signed-in WebSocket ends when what signed it in ends (README "How sessions end").

One task per socket signed in on ``connection_init`` watches two things:

- **Its user's access channel** (``topics.user_access_channel``). Sign-out, refresh-token reuse,
  a password reset, an API-token revocation and a role change emit there after they commit, in
  whichever process made them. On such a message, on a bus gap, or on a heartbeat ahead of what
  the watch has seen (a message lost on the way), the socket resolves its token again: the
  database decides, as on connect. A token that no longer resolves closes the socket with 4403
  "session ended"; a role the socket had and lost closes it with 4403 "roles changed" (the
  client reconnects; operations needing the role are then refused and the others resume with
  ``fromSeq``); a role gained takes effect for the socket's next operations.
- **The access token's expiry**: at ``exp`` the socket closes with 4403 "token expired", so a
  client such as ``graphql-ws`` reconnects with a fresh token from its ``connectionParams`` and
  resumes each stream with ``fromSeq``. API tokens do not expire.

4403 is what a refused ``connection_init`` gets too, and ``graphql-ws`` retries it (a fatal code
would make it give up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

from starlette.types import Scope
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected

from predictql import auth
from predictql.auth import Actor
from predictql.schema.context import Context
from predictql.services.sessions import resolve_actor
from predictql.subscriptions import topics
from predictql.subscriptions.bus import Heartbeat, Message
from predictql.ws_guard import SEND_NOW, SendNow

log = logging.getLogger("predictql.sessions")

ENDED = 4403  # graphql-transport-ws "Forbidden": clients reconnect and authenticate again
SCOPE_KEY = "predictql.socket_watch"  # the watch of a socket, on its ASGI scope
ROLES = ("is_creator", "is_stats_viewer", "is_admin", "is_operator")


def lost_roles(before: Actor, now: Actor) -> bool:
    return any(getattr(before, role) and not getattr(now, role) for role in ROLES)


def expires_in(key: str, token: str) -> float | None:
    """Seconds the token is still good for (0: already not); None for API tokens."""
    if token.startswith(auth.API_TOKEN_PREFIX):
        return None
    try:
        return max(auth.decode_token(key, token, "access").expires_at - time.time(), 0.0)
    except auth.TokenError:
        return 0.0


class SocketWatch:
    """Closes ``context``'s socket when its ``token`` stops resolving, loses a role, or expires."""

    def __init__(self, context: Context, token: str) -> None:
        self.context = context
        self.token = token
        ttl = expires_in(context.settings.secret_key, token)
        self.task = asyncio.create_task(self._run(ttl), name="socket watch")

    async def _run(self, ttl: float | None) -> None:
        try:
            async with asyncio.timeout(ttl):
                reason = await self._watched()
        except TimeoutError:
            reason = "token expired"
        await self._close(reason)

    async def _watched(self) -> str:
        """Why the socket must end, once its access channel tells; else this waits (for the expiry)."""
        try:
            reason = await self._follow()
        except Exception:  # the bus is away: the token's expiry still ends the socket
            log.warning("watching a socket's session failed", exc_info=True)
            reason = None
        if reason is None:  # nothing more will be heard: the expiry or the socket's end stops this
            never: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            reason = await never
        return reason

    async def _follow(self) -> str | None:
        """Until the socket must end (the reason) or the bus shuts down (None)."""
        bus, user_id = self.context.bus, self.context.actor.user_id or 0
        channel = topics.user_access_channel(user_id)
        async with bus.subscribe(channel) as subscription:
            last = await self._head(channel)
            due = True  # what committed before the subscription was live: check once now
            while True:
                if due:
                    try:
                        reason = await self._recheck()
                    except Exception:  # the database is away: try again with the next heartbeat
                        log.warning("re-checking a socket's token failed", exc_info=True)
                    else:
                        if reason is not None:
                            return reason
                        due = False
                delivery = await anext(subscription, None)
                if delivery is None:
                    return None
                if isinstance(delivery, Heartbeat):  # ahead of what was seen: a message was lost
                    due = due or delivery.seq > last
                    last = max(last, delivery.seq)
                else:  # a message, or a gap in them
                    due = True
                    last = max(last, delivery.seq if isinstance(delivery, Message) else 0)

    async def _head(self, channel: str) -> int:
        """The channel's latest seq (0 when unknown: the first heartbeat makes the watch check)."""
        try:
            return await self.context.bus.log.head(channel) if self.context.bus.log is not None else 0
        except Exception:
            log.warning("reading the access channel's head failed", exc_info=True)
            return 0

    async def _recheck(self) -> str | None:
        """Resolve the token again: why the socket must end, or None (its actor is refreshed)."""
        context = self.context
        async with context.db.session() as session:
            actor = await resolve_actor(session, context.settings, self.token)
        if not actor.authenticated:
            return "session ended"
        if lost_roles(context.actor, actor):
            return "roles changed"
        context.actor = actor
        return None

    async def _close(self, reason: str) -> None:
        websocket = self.context.response
        if isinstance(websocket, WebSocket) and websocket.application_state is WebSocketState.CONNECTED:
            log.info("closing a socket of user %s: %s", self.context.actor.user_id, reason)
            with contextlib.suppress(Exception):  # the client may be gone already
                await websocket.close(ENDED, reason)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


class ServerClosable(ASGIWebSocketAdapter):
    """Strawberry's socket adapter, quiet once the server closed the socket: an operation that
    runs on until the client's close arrives has nowhere to send (rather than an error logged)."""

    _now: SendNow | bool | None = False  # the scope's ``SEND_NOW`` once looked up (False: not yet)

    async def send_json(self, message: Mapping[str, object]) -> None:
        ws: WebSocket = self.ws
        if ws.application_state is not WebSocketState.DISCONNECTED:
            await super().send_json(message)

    async def send_frame(self, text: str) -> None:
        """An encoded message (``stream_execution``'s fast path), as ``send_json`` would send it.

        Once accepted, straight to the socket's ASGI ``send`` (the gateway's guards), as Starlette's
        ``send_text`` would after its state check: two coroutine layers fewer per delivery."""
        ws: WebSocket = self.ws
        state = ws.application_state
        if state is WebSocketState.DISCONNECTED:
            return
        try:
            if state is WebSocketState.CONNECTED:
                try:
                    await ws._send({"type": "websocket.send", "text": text})
                except OSError:
                    ws.application_state = WebSocketState.DISCONNECTED
                    raise WebSocketDisconnect(code=1006) from None
            else:
                await ws.send_text(text)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    def send_frame_now(self, frame: bytes) -> bool:
        """``send_frame`` of a pre-built WebSocket frame (``ws_protocol.text_frame``) without
        waiting, when the server offers it (``ws_guard.SEND_NOW``): True if done (or dropped, as
        ``send_frame`` drops it), False if the text must go through ``send_frame``."""
        ws: WebSocket = self.ws
        state = ws.application_state
        if state is WebSocketState.DISCONNECTED:
            return True
        if state is not WebSocketState.CONNECTED:
            return False
        now = self._now
        if now is False:  # fixed once connected (the server's, wrapped by the gateway's guards)
            now = self._now = ws.scope.get("extensions", {}).get(SEND_NOW)
        return now is not None and now(frame)  # type: ignore[operator]

    async def close(self, code: int, reason: str) -> None:
        ws: WebSocket = self.ws
        if ws.application_state is not WebSocketState.DISCONNECTED:  # closed already, with its own reason
            await super().close(code, reason)


def watch(context: Context, token: str) -> None:
    """Watch the socket of ``context`` (signed in with ``token``) until ``unwatch``."""
    websocket = context.request
    websocket.scope[SCOPE_KEY] = SocketWatch(context, token)


async def unwatch(scope: Scope) -> None:
    """Stop the socket's watch, if it has one (the socket is over, or signs in again)."""
    found = scope.pop(SCOPE_KEY, None)
    if isinstance(found, SocketWatch):
        await found.stop()
