"""GraphQL twins of the REST auth group, through POST /graphql on the in-process app.

Errors carry the REST code in ``extensions.code`` (DECISIONS rule 8).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from predictql import auth
from predictql.db import Database, utcnow
from predictql.models import PasswordReset
from predictql.settings import Settings
from tests.api.test_auth import (
    PASSWORD,
    assert_cleared,
    assert_session_cookies,
    user_row,
    with_cookies,
)
from tests.api.test_auth import signed_in as service_session
from tests.support import (
    USER_ERRORS,
    Kind,
    Mailbox,
    bearer,
    create_user,
    failure_code,
    gid,
    ok_payload,
    row_id,
    unique_email,
)

SESSION = "user { id email emailVerified } accessToken refreshToken " + USER_ERRORS
SIGN_UP = f"""mutation($email: String!, $password: String!, $ref: String) {{
  signUp(input: {{email: $email, password: $password, referralCode: $ref}}) {{ userId message {USER_ERRORS} }} }}"""
VERIFY_BY_ID = f"""mutation($id: ID!, $code: String!) {{
  verifyEmail(input: {{userId: $id, code: $code}}) {{ {SESSION} }} }}"""
VERIFY_BY_EMAIL = f"""mutation($email: String!, $code: String!) {{
  verifyEmail(input: {{email: $email, code: $code}}) {{ {SESSION} }} }}"""
SIGN_IN = f"""mutation($email: String!, $password: String!) {{
  signIn(input: {{email: $email, password: $password}}) {{ {SESSION} }} }}"""
REFRESH = f"mutation($token: String) {{ refreshToken(input: {{refreshToken: $token}}) {{ {SESSION} }} }}"
SIGN_OUT = f"mutation {{ signOut {{ {USER_ERRORS} }} }}"
FORGOT = f"mutation($email: String!) {{ forgotPassword(input: {{email: $email}}) {{ {USER_ERRORS} }} }}"
RESET = f"""mutation($token: String!, $password: String!) {{
  resetPassword(input: {{token: $token, newPassword: $password}}) {{ {USER_ERRORS} }} }}"""
ME = "{ me { id email balance } }"


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[httpx.Response, dict[str, Any]]:
    sent = {**(bearer(token) if token else {}), **(headers or {})}
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=sent)
    client.cookies.clear()
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return response, body


def data(body: dict[str, Any]) -> Any:
    assert "errors" not in body, body["errors"]
    return body["data"]


def error_code(body: dict[str, Any]) -> str:
    """A top-level error's code (then data is null), or a mutation's first userError's."""
    if not body.get("errors"):
        return failure_code(body)
    assert body.get("data") is None, body
    [error] = body["errors"]
    code: str = error["extensions"]["code"]
    return code


async def me(client: httpx.AsyncClient, token: str) -> Any:
    return data((await post(client, ME, token=token))[1])["me"]


async def signed_in(client: httpx.AsyncClient, mailbox: Mailbox) -> tuple[str, dict[str, Any]]:
    """A new user signed in through signUp + verifyEmail (one Argon2 hash): email and the session payload."""
    email = unique_email("gql")
    await post(client, SIGN_UP, {"email": email, "password": PASSWORD})
    _, body = await post(client, VERIFY_BY_EMAIL, {"email": email, "code": mailbox.code(email)})
    return email, data(body)["verifyEmail"]


async def session_of_new_user(db: Database, settings: Settings) -> dict[str, Any]:
    """A session-payload-shaped session made by the services: for tests of what follows sign-in."""
    signed = await service_session(db, settings)
    return {
        "user": {"id": gid(Kind.USER, signed.user_id), "email": signed.email, "emailVerified": True},
        "accessToken": signed.access,
        "refreshToken": signed.refresh,
    }


# --- sign-up and verification --------------------------------------------------------------------


async def test_sign_up_then_verify_by_user_id(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("gqlsignup")
    response, body = await post(client, SIGN_UP, {"email": email, "password": PASSWORD})
    signed_up = data(body)["signUp"]
    assert signed_up["message"] and row_id(signed_up["userId"]) > 0 and signed_up["userId"].startswith("usr_")
    assert "set-cookie" not in response.headers
    assert (await user_row(db, row_id(signed_up["userId"]))).email_verified is False

    response, body = await post(client, VERIFY_BY_ID, {"id": signed_up["userId"], "code": mailbox.code(email)})
    verified = data(body)["verifyEmail"]
    assert verified["user"] == {"id": signed_up["userId"], "email": email, "emailVerified": True}
    access, refresh = assert_session_cookies(response)
    assert (verified["accessToken"], verified["refreshToken"]) == (access, refresh)
    assert (await me(client, access))["email"] == email


async def test_verify_by_email(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("gqlverify")
    _, body = await post(client, SIGN_UP, {"email": email, "password": PASSWORD})
    user_id = data(body)["signUp"]["userId"]
    response, body = await post(client, VERIFY_BY_EMAIL, {"email": email, "code": mailbox.code(email)})
    assert data(body)["verifyEmail"]["user"]["id"] == user_id
    assert_session_cookies(response)


async def test_sign_up_and_verify_errors_carry_rest_codes(
    client: httpx.AsyncClient, db: Database, mailbox: Mailbox
) -> None:
    email = unique_email("gqlerr")
    _, body = await post(client, SIGN_UP, {"email": email, "password": PASSWORD})
    user_id = data(body)["signUp"]["userId"]
    _, body = await post(client, SIGN_UP, {"email": email.upper(), "password": PASSWORD})
    assert error_code(body) == "EMAIL_EXISTS"
    _, body = await post(client, SIGN_UP, {"email": unique_email(), "password": "short"})
    assert error_code(body) == "INVALID_REQUEST"
    _, body = await post(client, SIGN_UP, {"email": unique_email(), "password": PASSWORD, "ref": "NOPE0000"})
    assert error_code(body) == "INVALID_REQUEST"

    wrong = f"{(int(mailbox.code(email)) + 1) % 10**6:06d}"
    _, body = await post(client, VERIFY_BY_ID, {"id": user_id, "code": wrong})
    assert error_code(body) == "INVALID_CODE"
    _, body = await post(client, VERIFY_BY_EMAIL, {"email": email, "code": wrong})
    assert error_code(body) == "INVALID_CODE"
    no_user = 'mutation { verifyEmail(input: {code: "123456"}) { accessToken userErrors { code } } }'
    _, body = await post(client, no_user)
    assert error_code(body) == "MISSING_FIELDS"
    _, body = await post(client, VERIFY_BY_ID, {"id": user_id, "code": " "})
    assert error_code(body) == "MISSING_FIELDS"
    _, body = await post(client, VERIFY_BY_ID, {"id": "abc", "code": wrong})
    assert error_code(body) == "INVALID_ID"
    assert body["data"]["verifyEmail"]["userErrors"][0]["field"] == ["input", "userId"]


# --- sign-in -------------------------------------------------------------------------------------


async def test_sign_in_sets_cookies_and_returns_tokens(client: httpx.AsyncClient, db: Database) -> None:
    email = unique_email("gqlsignin")
    user_id = await create_user(db, email=email)
    response, body = await post(client, SIGN_IN, {"email": email.upper(), "password": PASSWORD})
    session = data(body)["signIn"]
    assert session["user"] == {"id": gid(Kind.USER, user_id), "email": email, "emailVerified": True}
    access, refresh = assert_session_cookies(response)
    assert (session["accessToken"], session["refreshToken"]) == (access, refresh)
    assert await me(client, access) == {"id": gid(Kind.USER, user_id), "email": email, "balance": 0}
    # The cookie alone authenticates GraphQL too.
    _, body = await post(client, ME, headers=with_cookies(access_token=access))
    assert data(body)["me"]["id"] == gid(Kind.USER, user_id)


async def test_sign_in_errors_do_not_reveal_accounts(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("gqlcreds")
    await create_user(db, email=email)
    _, wrong = await post(client, SIGN_IN, {"email": email, "password": "wrong-password"})
    _, unknown = await post(client, SIGN_IN, {"email": unique_email("nobody"), "password": PASSWORD})
    assert error_code(wrong) == error_code(unknown) == "INVALID_CREDENTIALS"
    # Wrong credentials are the sign-in's own input: userErrors, identical for both.
    assert wrong["data"]["signIn"]["userErrors"] == unknown["data"]["signIn"]["userErrors"]

    unverified = unique_email("gqlunverified")
    await post(client, SIGN_UP, {"email": unverified, "password": PASSWORD})
    response, body = await post(client, SIGN_IN, {"email": unverified, "password": PASSWORD})
    assert error_code(body) == "EMAIL_NOT_VERIFIED"
    assert "set-cookie" not in response.headers
    assert len(mailbox.messages(unverified)) == 2  # a fresh code was mailed


# --- refresh and sign-out ------------------------------------------------------------------------


async def test_refresh_token_rotates_and_detects_reuse(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    first = await session_of_new_user(db, settings)
    response, body = await post(client, REFRESH, {"token": first["refreshToken"]})
    second = data(body)["refreshToken"]
    assert second["user"]["id"] == first["user"]["id"]
    access, refresh = assert_session_cookies(response)
    assert (second["accessToken"], second["refreshToken"]) == (access, refresh)
    assert refresh != first["refreshToken"] and access != first["accessToken"]
    assert (await me(client, access))["id"] == first["user"]["id"]

    _, body = await post(client, REFRESH, {"token": first["refreshToken"]})
    assert error_code(body) == "TOKEN_EXPIRED"
    # Reuse revoked the whole family.
    _, body = await post(client, REFRESH, {"token": second["refreshToken"]})
    assert error_code(body) == "TOKEN_EXPIRED"
    assert await me(client, second["accessToken"]) is None
    assert await me(client, first["accessToken"]) is None


async def test_refresh_token_from_the_cookie(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    session = await session_of_new_user(db, settings)
    response, body = await post(client, REFRESH, headers=with_cookies(refresh_token=session["refreshToken"]))
    assert data(body)["refreshToken"]["user"]["id"] == session["user"]["id"]
    assert_session_cookies(response)
    _, body = await post(client, REFRESH)
    assert error_code(body) == "TOKEN_EXPIRED"
    _, body = await post(client, REFRESH, {"token": session["accessToken"]})
    assert error_code(body) == "TOKEN_EXPIRED"


async def test_sign_out_revokes_the_session(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    session = await session_of_new_user(db, settings)
    response, body = await post(client, SIGN_OUT, token=session["accessToken"])
    assert data(body) == {"signOut": {"userErrors": []}}
    assert_cleared(response, "access_token", "refresh_token")
    assert await me(client, session["accessToken"]) is None
    _, body = await post(client, REFRESH, {"token": session["refreshToken"]})
    assert error_code(body) == "TOKEN_EXPIRED"
    _, body = await post(client, SIGN_OUT, token=session["accessToken"])
    assert error_code(body) == "UNAUTHORIZED"
    _, body = await post(client, SIGN_OUT)
    assert error_code(body) == "UNAUTHORIZED"


async def test_me_is_null_when_anonymous(client: httpx.AsyncClient, db: Database) -> None:
    assert data((await post(client, ME))[1]) == {"me": None}
    assert await me(client, "garbage") is None


# --- password reset ------------------------------------------------------------------------------


async def test_forgot_and_reset_password(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email, session = await signed_in(client, mailbox)
    before = len(mailbox.messages(email))
    for address in (email, unique_email("nobody"), "not-an-email"):
        assert data((await post(client, FORGOT, {"email": address}))[1]) == {"forgotPassword": {"userErrors": []}}
    await mailbox.wait_for(email, before + 1)  # mailed after the answer
    token = mailbox.reset_token(email)

    _, body = await post(client, RESET, {"token": token, "password": "short"})
    assert error_code(body) == "INVALID_REQUEST"
    _, body = await post(client, RESET, {"token": token, "password": "brand-new-password"})
    assert data(body) == {"resetPassword": {"userErrors": []}}
    _, body = await post(client, RESET, {"token": token, "password": "another-password"})
    assert error_code(body) == "INVALID_TOKEN"
    _, body = await post(client, RESET, {"token": "garbage", "password": "another-password"})
    assert error_code(body) == "INVALID_TOKEN"

    assert await me(client, session["accessToken"]) is None  # every session was signed out
    _, body = await post(client, SIGN_IN, {"email": email, "password": PASSWORD})
    assert error_code(body) == "INVALID_CREDENTIALS"
    _, body = await post(client, SIGN_IN, {"email": email, "password": "brand-new-password"})
    assert data(body)["signIn"]["user"]["email"] == email


async def test_expired_reset_token(client: httpx.AsyncClient, db: Database, mailbox: Mailbox) -> None:
    email = unique_email("gqlexpired")
    await create_user(db, email=email)
    await post(client, FORGOT, {"email": email})
    await mailbox.wait_for(email)  # mailed after the answer
    token = mailbox.reset_token(email)
    async with db.transaction() as session:
        await session.execute(
            update(PasswordReset)
            .where(PasswordReset.token_hash == auth.sha256(token))  # type: ignore[arg-type]
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _, body = await post(client, RESET, {"token": token, "password": "brand-new-password"})
    assert error_code(body) == "TOKEN_EXPIRED"


# --- API tokens ----------------------------------------------------------------------------------

CREATE_TOKEN = f"""mutation($name: String!, $write: Boolean!) {{
  createApiToken(input: {{name: $name, canWrite: $write}}) {{
  token apiToken {{ id name prefix canWrite createdAt }} {USER_ERRORS} }} }}"""
LIST_TOKENS = "{ apiTokens { nodes { id name prefix canWrite } } }"
REVOKE_TOKEN = f"mutation($id: ID!) {{ revokeApiToken(input: {{id: $id}}) {{ revokedApiTokenId {USER_ERRORS} }} }}"


async def test_create_and_list_api_tokens(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    session = await session_of_new_user(db, settings)
    access = session["accessToken"]
    _, body = await post(client, CREATE_TOKEN, {"name": "bot", "write": False}, token=access)
    created = data(body)["createApiToken"]
    secret, row = created["token"], created["apiToken"]
    assert secret.startswith("pq_") and row["prefix"] == secret[:10]
    assert row["name"] == "bot" and row["canWrite"] is False and row["createdAt"].endswith("Z")

    _, body = await post(client, LIST_TOKENS, token=access)
    assert data(body)["apiTokens"]["nodes"] == [{k: row[k] for k in ("id", "name", "prefix", "canWrite")}]
    assert (await me(client, secret))["id"] == session["user"]["id"]
    _, body = await post(client, 'mutation { updateMe(input: {name: "Robot"}) { user { name } } }', token=secret)
    assert error_code(body) == "token_read_only"


async def test_revoke_api_token(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    session = await session_of_new_user(db, settings)
    access = session["accessToken"]
    response = await client.post(
        "/api/v1/users/me/api-tokens", json={"name": "bot", "write": True}, headers=bearer(access)
    )
    assert response.status_code == 201
    created = response.json()
    assert (await me(client, created["token"]))["id"] == session["user"]["id"]

    _, body = await post(client, REVOKE_TOKEN, {"id": gid(Kind.API_TOKEN, created["id"])}, token=access)
    assert ok_payload(body)["revokedApiTokenId"] == f"tok_{created['id']}"
    assert await me(client, created["token"]) is None
    assert data((await post(client, LIST_TOKENS, token=access))[1]) == {"apiTokens": {"nodes": []}}
    _, body = await post(client, REVOKE_TOKEN, {"id": gid(Kind.API_TOKEN, created["id"])}, token=access)
    assert error_code(body) == "NOT_FOUND"


async def test_api_tokens_need_a_signed_in_user(client: httpx.AsyncClient, db: Database) -> None:
    _, body = await post(client, LIST_TOKENS)
    assert error_code(body) == "UNAUTHORIZED"
    _, body = await post(client, CREATE_TOKEN, {"name": "bot", "write": True})
    assert error_code(body) == "UNAUTHORIZED"
    _, body = await post(client, REVOKE_TOKEN, {"id": "tok_1"})
    assert error_code(body) == "UNAUTHORIZED"


async def test_mutations_are_refused_over_get(client: httpx.AsyncClient, db: Database, settings: Settings) -> None:
    """SameSite=Lax cookies ride along on cross-site top-level GETs: no mutation may run on a GET."""
    session = await session_of_new_user(db, settings)
    response = await client.get(
        "/graphql",
        params={"query": SIGN_OUT},
        headers={**with_cookies(access_token=session["accessToken"]), "Accept": "application/json"},
    )
    client.cookies.clear()
    assert response.status_code >= 400
    assert await me(client, session["accessToken"]) is not None
