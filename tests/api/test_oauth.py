"""Google sign-in against a small local OAuth2 / OpenID Connect provider served by uvicorn."""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from predictql.db import Database
from predictql.models import User
from tests.api.test_auth import (
    PASSWORD,
    assert_error,
    assert_session_cookies,
    cookie_attrs,
    cookie_value,
    set_cookies,
    sign_in,
    sign_up,
    with_cookies,
)
from tests.conftest import make_settings
from tests.support import bearer, create_user, lifespan_client, unique_email

CLIENT_ID = "predictql-test-client"
CLIENT_SECRET = "s3cret-" + "z" * 20
CALLBACK = "http://127.0.0.1:8000/api/v1/auth/google/callback"  # public_url default + route


class Provider:
    """Authorization-code flow: /authorize, /token (checks the client and the code), /userinfo."""

    def __init__(self) -> None:
        self.base = ""
        self.identity: dict[str, Any] = {}
        self.userinfo_override: Any = None
        self.codes: dict[str, tuple[str, dict[str, Any]]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo),
            ]
        )

    async def authorize(self, request: Request) -> Response:
        query = request.query_params
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = (query["redirect_uri"], dict(self.identity))
        back = urlencode({"code": code, "state": query["state"]})
        return RedirectResponse(f"{query['redirect_uri']}?{back}", status_code=302)

    async def token(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        self.token_requests.append(form)
        issued = self.codes.pop(form.get("code", ""), None)  # codes are one-time
        if (
            issued is None
            or form.get("grant_type") != "authorization_code"
            or form.get("client_id") != CLIENT_ID
            or form.get("client_secret") != CLIENT_SECRET
            or form.get("redirect_uri") != issued[0]
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        access = secrets.token_urlsafe(16)
        self.tokens[access] = issued[1]
        return JSONResponse({"access_token": access, "token_type": "Bearer", "expires_in": 3600})

    async def userinfo(self, request: Request) -> Response:
        identity = self.tokens.get(request.headers.get("authorization", "").removeprefix("Bearer "))
        if identity is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        if self.userinfo_override is not None:
            return JSONResponse(self.userinfo_override)
        return JSONResponse(identity)


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    local = Provider()
    config = uvicorn.Config(local.app(), host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "provider did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    local.base = f"http://127.0.0.1:{port}"
    yield local
    server.should_exit = True
    thread.join(10)


@pytest.fixture(autouse=True)
def fresh_provider(provider: Provider) -> None:
    provider.userinfo_override = None
    provider.identity = identity()


def identity(email: str | None = None, *, verified: bool = True) -> dict[str, Any]:
    return {
        "sub": secrets.token_hex(8),
        "email": email or unique_email("google"),
        "email_verified": verified,
        "name": "Goo Gler",
    }


def oauth_settings(database_url: str, data_dir: Path, base: str, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "oauth_google_client_id": CLIENT_ID,
        "oauth_google_client_secret": CLIENT_SECRET,
        "oauth_google_authorize_url": f"{base}/authorize",
        "oauth_google_token_url": f"{base}/token",
        "oauth_google_userinfo_url": f"{base}/userinfo",
    }
    values.update(overrides)
    return make_settings(database_url, data_dir, **values)


@pytest.fixture
async def app(database_url: str, data_dir: Path, db: Database, provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    async with lifespan_client(oauth_settings(database_url, data_dir, provider.base)) as http:
        yield http


async def start(app: httpx.AsyncClient) -> tuple[str, str]:
    """GET /auth/google: the provider URL and the state cookie."""
    response = await app.get("/api/v1/auth/google")
    app.cookies.clear()
    assert response.status_code == 302, response.text
    return response.headers["location"], cookie_value(set_cookies(response)["oauth_state"])


async def consent(location: str) -> tuple[str, dict[str, str]]:
    """What the browser does at the provider: follow /authorize, come back with code and state."""
    async with httpx.AsyncClient() as browser:
        response = await browser.get(location)
    assert response.status_code == 302, response.text
    back = urlsplit(response.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == CALLBACK
    return back.path, {key: values[0] for key, values in parse_qs(back.query).items()}


async def callback(app: httpx.AsyncClient, path: str, params: dict[str, str], state: str | None) -> httpx.Response:
    headers = with_cookies(oauth_state=state) if state is not None else {}
    response = await app.get(f"{path}?{urlencode(params)}", headers=headers)
    app.cookies.clear()
    return response


async def google_sign_in(app: httpx.AsyncClient) -> httpx.Response:
    location, state = await start(app)
    path, params = await consent(location)
    return await callback(app, path, params, state)


async def users_with_email(db: Database, email: str) -> list[User]:
    async with db.session() as session:
        rows = await session.scalars(select(User).where(func.lower(User.email) == email.lower()))
        return list(rows)


async def test_start_redirects_to_the_provider_with_state(app: httpx.AsyncClient, provider: Provider) -> None:
    response = await app.get("/api/v1/auth/google")
    app.cookies.clear()
    assert response.status_code == 302
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{provider.base}/authorize"
    query = {key: values[0] for key, values in parse_qs(location.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert {"openid", "email"} <= set(query["scope"].split())
    cookie = set_cookies(response)["oauth_state"]
    assert len(query["state"]) >= 16 and cookie_value(cookie) == query["state"]
    attrs = cookie_attrs(cookie)
    assert "httponly" in attrs and attrs["samesite"].lower() == "lax" and attrs["max-age"] == "600"
    # A fresh state every time.
    assert (await start(app))[1] != query["state"]


async def test_callback_creates_a_verified_user_and_signs_in(
    app: httpx.AsyncClient, db: Database, provider: Provider
) -> None:
    email = provider.identity["email"]
    response = await google_sign_in(app)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"user"}
    assert body["user"]["email"] == email and body["user"]["name"] == "Goo Gler"
    assert body["user"]["balance"] == 0
    access, refresh = assert_session_cookies(response)
    assert cookie_value(set_cookies(response)["oauth_state"]) == ""  # state cookie cleared

    [user] = await users_with_email(db, email)
    assert user.id == body["user"]["id"]
    assert user.email_verified is True and user.password_hash is None
    assert (user.oauth_provider, user.oauth_id) == ("google", provider.identity["sub"])
    # The provider was asked with our client credentials and the registered redirect URI.
    grant = provider.token_requests[-1]
    assert grant["client_id"] == CLIENT_ID and grant["client_secret"] == CLIENT_SECRET
    assert grant["redirect_uri"] == CALLBACK and grant["grant_type"] == "authorization_code"

    me = await app.get("/api/v1/auth/me", headers=bearer(access))
    assert me.status_code == 200 and me.json()["user"]["id"] == user.id
    refreshed = await app.post("/api/v1/auth/refresh", headers=with_cookies(refresh_token=refresh))
    app.cookies.clear()
    assert refreshed.status_code == 200
    # No password was set, so password sign-in fails like any wrong password.
    assert_error(await sign_in(app, email, PASSWORD), 401, "INVALID_CREDENTIALS")


async def test_second_sign_in_finds_the_same_user(app: httpx.AsyncClient, db: Database, provider: Provider) -> None:
    first = await google_sign_in(app)
    assert first.status_code == 200, first.text
    # Even when the provider's address changed since, the subject identifies the user.
    second_identity = {**provider.identity, "email": unique_email("renamed")}
    provider.identity = second_identity
    second = await google_sign_in(app)
    assert second.status_code == 200, second.text
    assert second.json()["user"]["id"] == first.json()["user"]["id"]
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 1
    first_access, _ = assert_session_cookies(first)
    second_access, _ = assert_session_cookies(second)
    assert first_access != second_access


async def test_wrong_or_missing_state_is_400(app: httpx.AsyncClient, db: Database, provider: Provider) -> None:
    location, state = await start(app)
    path, params = await consent(location)
    asked = len(provider.token_requests)
    forged = await callback(app, path, {**params, "state": "forged-" + state}, state)
    assert_error(forged, 400, "INVALID_REQUEST")
    no_cookie = await callback(app, path, params, None)
    assert_error(no_cookie, 400, "INVALID_REQUEST")
    other_cookie = await callback(app, path, params, "another-state")
    assert_error(other_cookie, 400, "INVALID_REQUEST")
    no_code = await callback(app, path, {"state": params["state"]}, state)
    assert_error(no_code, 400, "INVALID_REQUEST")
    for response in (forged, no_cookie, other_cookie, no_code):
        assert "access_token" not in set_cookies(response)
    assert len(provider.token_requests) == asked  # the code never reached the provider
    assert await users_with_email(db, provider.identity["email"]) == []
    # The untouched code and state still complete the flow.
    assert (await callback(app, path, params, state)).status_code == 200


async def test_not_configured_is_503(client: httpx.AsyncClient, db: Database) -> None:
    assert_error(await client.get("/api/v1/auth/google"), 503, "SERVICE_UNAVAILABLE")
    response = await client.get(
        "/api/v1/auth/google/callback?code=abc&state=xyz", headers=with_cookies(oauth_state="xyz")
    )
    assert_error(response, 503, "SERVICE_UNAVAILABLE")


async def test_provider_token_error_is_401_oauth_failed(
    app: httpx.AsyncClient, db: Database, provider: Provider
) -> None:
    location, state = await start(app)
    path, params = await consent(location)
    bogus = await callback(app, path, {**params, "code": "not-a-code"}, state)
    assert_error(bogus, 401, "OAUTH_FAILED")
    assert provider.token_requests[-1]["code"] == "not-a-code"
    # The real code, once: a replay is refused by the provider.
    assert (await callback(app, path, params, state)).status_code == 200
    assert_error(await callback(app, path, params, state), 401, "OAUTH_FAILED")


async def test_wrong_client_secret_or_unreachable_provider_is_401(
    database_url: str, data_dir: Path, db: Database, provider: Provider
) -> None:
    wrong = oauth_settings(database_url, data_dir, provider.base, oauth_google_client_secret="wrong-secret")
    async with lifespan_client(wrong) as app:
        assert_error(await google_sign_in(app), 401, "OAUTH_FAILED")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: refused
        down = oauth_settings(database_url, data_dir, provider.base, oauth_google_token_url=f"{dead}/token")
        async with lifespan_client(down) as app:
            assert_error(await google_sign_in(app), 401, "OAUTH_FAILED")
    assert await users_with_email(db, provider.identity["email"]) == []


async def test_unusable_userinfo_is_401_not_500(app: httpx.AsyncClient, db: Database, provider: Provider) -> None:
    for answer in (["not", "an", "object"], {"email": "no-subject@example.com"}, {"sub": "only-a-subject"}):
        provider.userinfo_override = answer
        assert_error(await google_sign_in(app), 401, "OAUTH_FAILED")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_unverified_provider_email_is_refused(app: httpx.AsyncClient, db: Database, provider: Provider) -> None:
    provider.identity = identity(verified=False)
    assert_error(await google_sign_in(app), 401, "OAUTH_FAILED")
    assert await users_with_email(db, provider.identity["email"]) == []


async def test_links_an_existing_account_by_email_case_insensitively(
    app: httpx.AsyncClient, db: Database, provider: Provider
) -> None:
    local, domain = unique_email("linked").split("@")
    user_id = await create_user(db, email=f"{local.capitalize()}@{domain}")
    provider.identity = identity(f"{local}@{domain.upper()}")
    response = await google_sign_in(app)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == user_id
    [user] = await users_with_email(db, f"{local}@{domain}")
    assert (user.oauth_provider, user.oauth_id) == ("google", provider.identity["sub"])
    # A verified owner keeps their password.
    assert (await sign_in(app, f"{local}@{domain}", PASSWORD)).status_code == 200


async def test_claiming_an_unverified_squatted_account_drops_its_password(
    app: httpx.AsyncClient, db: Database, provider: Provider
) -> None:
    email = unique_email("squatted")
    squatter_id = await sign_up(app, email)  # never verified: nobody proved owning the address
    provider.identity = identity(email)
    response = await google_sign_in(app)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == squatter_id
    [user] = await users_with_email(db, email)
    assert user.email_verified is True and user.password_hash is None
    assert_error(await sign_in(app, email, PASSWORD), 401, "INVALID_CREDENTIALS")
