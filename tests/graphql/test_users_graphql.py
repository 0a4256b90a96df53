"""GraphQL twins of the REST users group: user(id), updateMe, uploadAvatar, myTransactions, setRole."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from predictql.db import Database
from predictql.services import users
from tests.api.test_users import TINY_JPEG, fast_user, new_user, tiny_png
from tests.conftest import make_settings
from tests.support import USER_ERRORS, Kind, failure_code, gid, gql, lifespan_client, ok_payload, row_id

PRIVATE = ("email", "referralCode", "balance", "bonusBalance", "totalBalance", "emailVerified", "isAdmin")
USER = "id name nickname language theme isCreator isStatsViewer " + " ".join(PRIVATE)
UPDATE = f"mutation($input: UpdateMeInput!) {{ updateMe(input: $input) {{ user {{ {USER} }} {USER_ERRORS} }} }}"
UPLOAD = f"mutation($c: String!) {{ uploadAvatar(input: {{contentBase64: $c}}) {{ avatarUrl {USER_ERRORS} }} }}"
SET_ROLE = (
    "mutation($u: ID!, $r: Role!, $v: Boolean!)"
    " { setRole(input: {userId: $u, role: $r, value: $v}) { user { id isCreator isStatsViewer } " + USER_ERRORS + " } }"
)


def code_of(body: dict[str, Any]) -> str:
    """A query's top-level code, or a mutation's (top-level or its first userError's)."""
    return failure_code(body)


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


async def test_user_self_and_public_views(client: httpx.AsyncClient, db: Database) -> None:
    owner_id, owner = await fast_user(db, balance=400)
    async with db.transaction() as session:
        await users.deposit(session, user_id=owner_id, amount=50, bonus=True)
    _, other = await fast_user(db)
    query = f'{{ user(id: "{gid(Kind.USER, owner_id)}") {{ {USER} }} }}'

    mine = (await gql(client, query, token=owner))["data"]["user"]
    assert mine["id"] == gid(Kind.USER, owner_id) and "@example.com" in mine["email"] and mine["referralCode"]
    assert (mine["balance"], mine["bonusBalance"], mine["totalBalance"]) == (400, 50, 450)
    assert mine["emailVerified"] is True and mine["isAdmin"] is False

    for token in (None, other):
        seen = (await gql(client, query, token=token))["data"]["user"]
        assert seen["id"] == gid(Kind.USER, owner_id) and seen["name"] and seen["isCreator"] is False
        assert all(seen[field] is None for field in PRIVATE), seen


async def test_user_lookup_errors(client: httpx.AsyncClient) -> None:
    missing = await gql(client, '{ user(id: "usr_987654321") { id } }')
    assert missing == {"data": {"user": None}}  # nullable: a missing user does not null the response
    for bad in ("abc", "0", "-1", "usr_0", "usr_-1", f"usr_{2**63}", "987", "mkt_5", "USR_5", "usr_05"):
        assert code_of(await gql(client, f'{{ user(id: "{bad}") {{ id }} }}')) == "INVALID_ID", bad


async def test_update_me(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=70)
    first = await gql(client, UPDATE, {"input": {"nickname": "Gql_Trader", "theme": "DARK"}}, token=token)
    me = ok_payload(first)["user"]
    expected = (gid(Kind.USER, user_id), "Gql_Trader", "DARK", "EN")
    assert (me["id"], me["nickname"], me["theme"], me["language"]) == expected
    assert me["balance"] == 70 and me["email"]

    second = await gql(client, UPDATE, {"input": {"language": "RU", "profileHidden": True}}, token=token)
    me = ok_payload(second)["user"]
    assert (me["nickname"], me["theme"], me["language"]) == ("Gql_Trader", "DARK", "RU")
    hidden = await gql(client, f'{{ user(id: "{gid(Kind.USER, user_id)}") {{ profileHidden }} }}')
    assert hidden["data"]["user"]["profileHidden"] is True


async def test_update_me_error_codes(client: httpx.AsyncClient, db: Database) -> None:
    _, owner = await fast_user(db)
    _, token = await fast_user(db)
    ok_payload(await gql(client, UPDATE, {"input": {"nickname": "Taken_Name"}}, token=owner))
    cases = [
        ({"nickname": "no spaces"}, "INVALID_NICKNAME"),
        ({"nickname": "taken_name"}, "NICKNAME_TAKEN"),
        ({"name": "   "}, "INVALID_BODY"),
        # closed sets are enums: a value outside them is refused while the variables are coerced
        ({"language": "fr"}, "BAD_USER_INPUT"),
        ({"theme": "neon"}, "BAD_USER_INPUT"),
        ({"theme": "dark"}, "BAD_USER_INPUT"),
    ]
    for payload, code in cases:
        body = await gql(client, UPDATE, {"input": payload}, token=token)
        assert code_of(body) == code, payload
    wrong_type = await gql(client, UPDATE, {"input": {"nickname": 42}}, token=token)
    assert wrong_type.get("data") is None and code_of(wrong_type)
    anonymous = await gql(client, UPDATE, {"input": {"theme": "DARK"}})
    assert code_of(anonymous) == "UNAUTHORIZED"


async def test_upload_avatar(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db)
    for content, suffix in ((tiny_png(), ".png"), (TINY_JPEG, ".jpg")):
        body = await gql(client, UPLOAD, {"c": b64(content)}, token=token)
        url = ok_payload(body)["avatarUrl"]
        path = urlparse(url).path
        assert path.startswith("/media/avatars/") and path.endswith(suffix)
        served = await client.get(path)
        assert served.status_code == 200 and served.content == content
    profile = await gql(client, f'{{ user(id: "{gid(Kind.USER, user_id)}") {{ avatarUrl }} }}')
    assert profile["data"]["user"]["avatarUrl"] == url

    for bad, code in (
        ("not base64!", "INVALID_FILE_TYPE"),
        (b64(b"hello, world"), "INVALID_FILE_TYPE"),
        ("", "MISSING_FILE"),
    ):
        assert code_of(await gql(client, UPLOAD, {"c": bad}, token=token)) == code, bad
    assert code_of(await gql(client, UPLOAD, {"c": b64(tiny_png())})) == "UNAUTHORIZED"


async def test_upload_avatar_too_large(database_url: str, data_dir: Path, db: Database) -> None:
    async with lifespan_client(make_settings(database_url, data_dir, avatar_max_bytes=100)) as http:
        _, token = await fast_user(db)
        big = tiny_png() + b"\x00" * 100
        assert code_of(await gql(http, UPLOAD, {"c": b64(big)}, token=token)) == "FILE_TOO_LARGE"


async def test_my_transactions(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=2_000)
    async with db.transaction() as session:
        await users.deposit(session, user_id=user_id, amount=30, bonus=True)
        await users.deposit(session, user_id=user_id, amount=500)
    query = "{ myTransactions { nodes { id type amount status createdAt } } }"
    items = (await gql(client, query, token=token))["data"]["myTransactions"]["nodes"]
    assert [(i["type"], i["amount"], i["status"]) for i in items] == [
        ("DEPOSIT", 500, "COMPLETED"),
        ("DEPOSIT", 2_000, "COMPLETED"),
    ]
    assert row_id(items[0]["id"]) > row_id(items[1]["id"]) and items[0]["id"].startswith("txn_")
    assert items[0]["createdAt"]
    assert code_of(await gql(client, query)) == "UNAUTHORIZED"


async def test_set_role(client: httpx.AsyncClient, db: Database) -> None:
    _, viewer = await fast_user(db, is_stats_viewer=True)
    _, admin = await fast_user(db, is_admin=True)
    _, plain = await fast_user(db)
    target = await new_user(db)
    grant = {"u": gid(Kind.USER, target), "r": "CREATOR", "v": True}

    granted = await gql(client, SET_ROLE, grant, token=viewer)
    assert ok_payload(granted)["user"] == {"id": gid(Kind.USER, target), "isCreator": True, "isStatsViewer": False}
    public = await gql(client, f'{{ user(id: "{gid(Kind.USER, target)}") {{ isCreator }} }}')
    assert public["data"]["user"]["isCreator"] is True

    assert code_of(await gql(client, SET_ROLE, grant, token=plain)) == "FORBIDDEN"
    assert code_of(await gql(client, SET_ROLE, grant)) == "UNAUTHORIZED"
    staff = {**grant, "r": "STATS_VIEWER"}
    assert code_of(await gql(client, SET_ROLE, staff, token=viewer)) == "FORBIDDEN"
    by_admin = await gql(client, SET_ROLE, staff, token=admin)
    assert ok_payload(by_admin)["user"]["isStatsViewer"] is True
    assert code_of(await gql(client, SET_ROLE, {**grant, "r": "emperor"}, token=admin)) == "BAD_USER_INPUT"
    assert code_of(await gql(client, SET_ROLE, {**grant, "u": "x"}, token=admin)) == "INVALID_ID"
