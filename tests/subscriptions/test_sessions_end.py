"""A session ends everywhere: signing out, refresh-token reuse, a password reset, revoking an API
token and losing a role end the sockets signed in by it (4403), and so does the access token's
expiry; sockets of the user's other sessions, and role gains, leave them open. In process here
(one app); ``tests/e2e/test_sessions_end_processes.py`` does it across two processes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from predictql import auth as auth_tokens
from predictql.db import Database
from predictql.models import Event
from predictql.services import sessions, users
from predictql.services.sessions import TokenPair
from predictql.settings import Settings
from predictql.subscriptions import stream_log, topics
from predictql.subscriptions.payloads import AccessChange
from tests.api.test_auth import forgot
from tests.api.test_lmsr_api import TRADE
from tests.markets.factories import create_market_setup
from tests.subscriptions.conftest import Live
from tests.subscriptions.test_graphql_subscriptions import MARKET, data
from tests.subscriptions.test_orderbook_streams import MY_BALANCE, MY_FILLS, MY_ORDERS, MY_POSITIONS, auth
from tests.subscriptions.wsclient import AsgiSocket, Closed, GraphQLSocket
from tests.support import Kind, Mailbox, bearer, create_user, gid, gql, unique_email

MY_NOTIFICATIONS = "subscription { myNotifications { kind seq data { id title } } }"
PRIVATE = {
    "myBalance": MY_BALANCE,
    "myOrders": MY_ORDERS,
    "myFills": MY_FILLS,
    "myPositions": MY_POSITIONS,
    "myNotifications": MY_NOTIFICATIONS,
}
SIGN_OUT = "mutation { signOut { userErrors { code } } }"
SET_ROLE = """mutation($u: ID!, $r: Role!, $v: Boolean!) {
  setRole(input: {userId: $u, role: $r, value: $v}) { user { id } } }"""
SIGNED_OUT = {"signOut": {"userErrors": []}}


async def signed_in(
    db: Database, settings: Settings, user_id: int | None = None, **roles: bool
) -> tuple[int, TokenPair]:
    """A user (or another session of ``user_id``) and its token pair, without Argon2."""
    user_id = user_id or await create_user(db, balance=100_000, **roles)
    async with db.transaction() as session:
        return user_id, await sessions.open_session(session, settings, user_id)


async def closed(ws: AsgiSocket, within: float = 5.0) -> Closed:
    """The close that ends ``ws`` (frames before it are skipped: streams may still be talking)."""
    while True:
        try:
            await ws.receive_text(within)
        except Closed as close:
            return close


@asynccontextmanager
async def balance_socket(app: Live, token: str) -> AsyncIterator[GraphQLSocket]:
    """A socket signed in with ``token`` whose myBalance stream has started."""
    async with GraphQLSocket(app.app, params=auth(token)) as ws:
        op = await ws.subscribe(MY_BALANCE)
        assert data(await ws.next(op), "myBalance")["kind"] == "SNAPSHOT"
        yield ws


async def deposit(db: Database, user_id: int, amount: int = 1_000) -> None:
    async with db.transaction() as session:
        await users.deposit(session, user_id=user_id, amount=amount)


async def balance_flows(ws: GraphQLSocket, live: Live, user_id: int) -> None:
    """``ws`` is open and its myBalance stream live: a deposit reaches it."""
    op = await ws.subscribe(MY_BALANCE)
    assert data(await ws.next(op), "myBalance")["kind"] == "SNAPSHOT"
    await deposit(live.db, user_id)
    assert data(await ws.next(op), "myBalance")["kind"] == "LIVE"


@pytest.mark.parametrize("face", ["graphql", "rest"])
async def test_signing_out_ends_every_private_stream_of_that_session_only(
    live: Live, settings: Settings, face: str
) -> None:
    user_id, pair = await signed_in(live.db, settings)
    _, other = await signed_in(live.db, settings, user_id)
    async with (
        GraphQLSocket(live.app, params=auth(pair.access_token)) as ws,
        GraphQLSocket(live.app, params={"token": other.access_token}) as other_ws,
    ):
        ops = {name: await ws.subscribe(query) for name, query in PRIVATE.items()}
        assert data(await ws.next(ops["myBalance"]), "myBalance")["kind"] == "SNAPSHOT"  # streams are live

        if face == "graphql":
            assert (await gql(live.http, SIGN_OUT, token=pair.access_token))["data"] == SIGNED_OUT
        else:
            response = await live.http.delete("/api/v1/auth/logout", headers=bearer(pair.access_token))
            assert response.status_code == 200, response.text

        close = await closed(ws)
        assert (close.code, close.reason) == (4403, "session ended")
        await balance_flows(other_ws, live, user_id)  # the user's other session streams on


async def test_refresh_token_reuse_ends_the_sockets_of_the_family(live: Live, settings: Settings) -> None:
    _, pair = await signed_in(live.db, settings)
    async with balance_socket(live, pair.access_token) as ws:
        refresh = "mutation($t: String) { refreshToken(input: {refreshToken: $t}) { accessToken } }"
        assert "errors" not in await gql(live.http, refresh, {"t": pair.refresh_token})
        await ws.nothing()  # a rotation is not a revocation
        reused = await gql(live.http, refresh, {"t": pair.refresh_token})
        assert reused["errors"][0]["extensions"]["code"] == "TOKEN_EXPIRED"
        close = await closed(ws)
        assert (close.code, close.reason) == (4403, "session ended")


async def test_a_password_reset_ends_every_session_of_the_user(live: Live, settings: Settings) -> None:
    email = unique_email("reset")
    user_id = await create_user(live.db, email=email)
    _, first = await signed_in(live.db, settings, user_id)
    _, second = await signed_in(live.db, settings, user_id)
    async with (
        GraphQLSocket(live.app, params=auth(first.access_token)) as a,
        GraphQLSocket(live.app, params=auth(second.access_token)) as b,
    ):
        for ws in (a, b):
            await ws.subscribe(MY_ORDERS)
        assert live.settings.mail_outbox is not None
        token = await forgot(live.http, Mailbox(live.settings.mail_outbox), email)
        await a.nothing()  # asking for a reset ends nothing
        body = {"token": token, "new_password": "a new password"}
        assert (await live.http.post("/api/v1/auth/reset-password", json=body)).status_code == 200
        for ws in (a, b):
            close = await closed(ws)
            assert (close.code, close.reason) == (4403, "session ended")


async def test_revoking_an_api_token_ends_its_sockets_only(live: Live, settings: Settings) -> None:
    user_id, pair = await signed_in(live.db, settings)
    made = await live.http.post("/api/v1/users/me/api-tokens", json={"name": "bot"}, headers=bearer(pair.access_token))
    assert made.status_code == 201, made.text
    async with (
        GraphQLSocket(live.app, params={"token": made.json()["token"]}) as bot,
        GraphQLSocket(live.app, params=auth(pair.access_token)) as person,
    ):
        op = await bot.subscribe(MY_FILLS)
        path = f"/api/v1/users/me/api-tokens/{made.json()['id']}"
        revoke = await live.http.delete(path, headers=bearer(pair.access_token))
        assert revoke.status_code == 200, revoke.text
        close = await closed(bot)
        assert (close.code, close.reason) == (4403, "session ended")
        assert op not in bot.pending  # the stream ended with the socket, not with a message
        await balance_flows(person, live, user_id)


async def test_an_expired_access_token_closes_its_socket(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
) -> None:
    async with live_with(access_token_ttl_seconds=2) as app:
        _, pair = await signed_in(app.db, app.settings)
        async with balance_socket(app, pair.access_token) as ws:
            close = await closed(ws, within=8.0)
            assert (close.code, close.reason) == (4403, "token expired")
        async with AsgiSocket(app.app, "/graphql", subprotocols=("graphql-transport-ws",)) as again:
            await again.send_json({"type": "connection_init", "payload": auth(pair.access_token)})
            with pytest.raises(Closed) as refused:  # the same close as a socket whose token expires while open
                await again.receive_json()
            assert (refused.value.code, refused.value.reason) == (4403, "token expired")
        async with AsgiSocket(app.app, "/graphql", subprotocols=("graphql-transport-ws",)) as forged:
            await forged.send_json({"type": "connection_init", "payload": auth(pair.access_token[:-4] + "AAAA")})
            with pytest.raises(Closed) as refused:  # an invalid token is not told apart as expired
                await forged.receive_json()
            assert (refused.value.code, refused.value.reason) == (4403, "Forbidden")
        async with AsgiSocket(app.app, "/graphql", subprotocols=("graphql-ws",)) as legacy:
            await legacy.send_json({"type": "connection_init", "payload": auth(pair.access_token)})
            assert await legacy.receive_json() == {"type": "connection_error", "payload": {"code": "TOKEN_EXPIRED"}}


async def test_losing_a_role_ends_the_socket_and_what_needed_the_role(live: Live, settings: Settings) -> None:
    _, boss = await signed_in(live.db, settings, is_admin=True)
    watcher_id, pair = await signed_in(live.db, settings, is_admin=True)
    _, _, (market,) = await create_market_setup(live.db)
    hidden_event = market.event_id
    async with live.db.transaction() as session:
        row = await session.get(Event, hidden_event)
        assert row is not None
        row.is_active = False  # hidden: only its creator and admins see it
    variables = {"m": gid(Kind.MARKET, market.id)}

    async with GraphQLSocket(live.app, params=auth(pair.access_token)) as ws:
        op = await ws.subscribe(MARKET, variables)
        assert data(await ws.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
        watcher = gid(Kind.USER, watcher_id)
        grant = await gql(live.http, SET_ROLE, {"u": watcher, "r": "CREATOR", "v": True}, boss.access_token)
        assert "errors" not in grant, grant
        await ws.nothing(0.3)  # a role gained ends nothing
        lose = await gql(live.http, SET_ROLE, {"u": watcher, "r": "ADMIN", "v": False}, boss.access_token)
        assert "errors" not in lose, lose
        close = await closed(ws)
        assert (close.code, close.reason) == (4403, "roles changed")

    async with GraphQLSocket(live.app, params=auth(pair.access_token)) as ws:  # the session itself lives on
        op = await ws.subscribe(MARKET, variables)
        refused = await ws.next(op)
        assert refused["errors"][0]["extensions"]["code"] == "market_not_found", refused


async def test_a_lost_revocation_message_is_repaired_by_the_heartbeat(
    live_with: Callable[..., AbstractAsyncContextManager[Live]],
) -> None:
    async with live_with(stream_heartbeat_seconds=0.1) as app:
        user_id, pair = await signed_in(app.db, app.settings)
        async with balance_socket(app, pair.access_token) as ws:
            # Sign out through a writer whose messages are numbered but never published (as if the
            # publish failed after the commit): only the channel's head tells that something happened.
            silent = Database(app.db.engine)
            silent.commit_hooks.append(stream_log.sequence)
            async with silent.transaction() as session:
                sid = auth_tokens.decode_token(app.settings.secret_key, pair.access_token, "access").session_id
                await sessions.revoke(session, sid, reason="logout")
            close = await closed(ws)
            assert (close.code, close.reason) == (4403, "session ended")
        channel = topics.user_access_channel(user_id)
        assert await stream_log.StreamLog(app.db).heads([channel]) == {channel: 1}


def test_access_change_payload_round_trips() -> None:
    change = AccessChange(7, "logout")
    assert AccessChange.from_json(change.to_json()) == change


async def test_streams_still_running_after_the_close_send_nothing_and_log_no_error(
    live: Live, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    _, pair = await signed_in(live.db, settings)
    _, _, (market,) = await create_market_setup(live.db)
    variables = {"m": gid(Kind.MARKET, market.id)}
    async with GraphQLSocket(live.app, params=auth(pair.access_token)) as ws, GraphQLSocket(live.app) as other:
        ops = [await sock.subscribe(MARKET, variables) for sock in (ws, other)]
        for sock, op in zip((ws, other), ops, strict=True):
            assert data(await sock.next(op), "marketUpdated")["kind"] == "SNAPSHOT"
        assert (await gql(live.http, SIGN_OUT, token=pair.access_token))["data"] == SIGNED_OUT
        assert (await closed(ws)).code == 4403
        # The client has not answered the close yet, so ws's stream still runs: a trade reaches it.
        trade = {"market_id": market.id, "side": "buy_yes", "amount_type": "spend", "amount": 1_000}
        _, buyer = await signed_in(live.db, settings)
        assert (await live.http.post(TRADE, json=trade, headers=bearer(buyer.access_token))).status_code == 200
        assert data(await other.next(ops[1]), "marketUpdated")["kind"] == "LIVE"  # ws's stream had it too
        await ws.nothing(0.05)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text


async def test_a_legacy_socket_signed_in_again_follows_its_latest_session(live: Live, settings: Settings) -> None:
    user_id, first = await signed_in(live.db, settings)
    _, second = await signed_in(live.db, settings, user_id)
    async with AsgiSocket(live.app, "/graphql", subprotocols=("graphql-ws",)) as ws:
        for pair in (first, second):  # graphql-ws (legacy) lets a client send connection_init again
            await ws.send_json({"type": "connection_init", "payload": auth(pair.access_token)})
            assert (await ws.receive_json())["type"] == "connection_ack"
            assert (await ws.receive_json())["type"] == "ka"  # its keep-alive starts with one
        assert (await gql(live.http, SIGN_OUT, token=first.access_token))["data"] == SIGNED_OUT
        await ws.nothing(0.3)  # no longer signed in by the first session
        assert (await gql(live.http, SIGN_OUT, token=second.access_token))["data"] == SIGNED_OUT
        close = await closed(ws)
        assert (close.code, close.reason) == (4403, "session ended")
