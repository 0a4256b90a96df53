"""REST group ``users``: profiles (self vs public view), settings, avatars, money movements, roles."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from urllib.parse import urlparse

import httpx
from PIL import Image

from predictql.db import Database
from predictql.services import accounts, sessions, users
from predictql.settings import Settings
from tests.conftest import JWT_SECRET, make_settings
from tests.support import bearer, lifespan_client, unique_email, user_with_token

PRIVATE = {
    "email",
    "balance",
    "bonus_balance",
    "total_balance",
    "referral_code",
    "tron_address",
    "bsc_address",
    "polygon_address",
    "ethereum_address",
}


async def fast_user(db: Database, *, balance: int = 0, **roles: bool) -> tuple[int, str]:
    """A verified user and an access token, through the real services but without a password:
    Argon2 costs ~0.3 s per sign-up + sign-in, too slow for the dozens of users these tests need."""
    settings = Settings(jwt_secret=JWT_SECRET, environment="test")
    async with db.transaction() as session:
        user = await accounts.create_user(session, email=unique_email(), password=None, verified=True, **roles)
        assert user.id is not None
        if balance:
            await users.deposit(session, user_id=user.id, amount=balance)
        pair = await sessions.open_session(session, settings, user.id)
    return user.id, pair.access_token


async def new_user(db: Database, *, balance: int = 0, **roles: bool) -> int:
    return (await fast_user(db, balance=balance, **roles))[0]


def tiny_png() -> bytes:
    """A valid 1x1 grey PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b"")
    )


def _encoded(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


# Real files: uploads are decoded, so the magic bytes alone no longer pass.
TINY_JPEG = _encoded("JPEG")
TINY_GIF = _encoded("GIF")
TINY_WEBP = _encoded("WEBP")


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


# --- GET /users/{id} -----------------------------------------------------------------------------


async def test_own_profile_has_private_fields(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await user_with_token(client, db, balance=1500)  # the real sign-in path
    async with db.transaction() as session:
        await users.deposit(session, user_id=user_id, amount=250, bonus=True)
    response = await client.get(f"/api/v1/users/{user_id}", headers=bearer(token))
    assert response.status_code == 200
    body = response.json()
    assert "user" not in body  # unwrapped UserInfo
    assert body["id"] == user_id
    assert set(body) >= PRIVATE
    assert "@example.com" in body["email"] and body["referral_code"]
    assert (body["balance"], body["bonus_balance"], body["total_balance"]) == (1500, 250, 1750)
    assert body["is_creator"] is False and body["is_stats_viewer"] is False


async def test_other_callers_get_the_public_view(client: httpx.AsyncClient, db: Database) -> None:
    owner_id = await new_user(db, balance=900)
    _, other_token = await fast_user(db)
    for headers in ({}, bearer(other_token)):
        response = await client.get(f"/api/v1/users/{owner_id}", headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == owner_id and "name" in body and "is_creator" in body
        assert not PRIVATE & set(body), PRIVATE & set(body)


async def test_bad_token_on_optional_route_still_serves_public_view(client: httpx.AsyncClient, db: Database) -> None:
    owner_id = await new_user(db)
    response = await client.get(f"/api/v1/users/{owner_id}", headers=bearer("not-a-jwt"))
    assert response.status_code == 200
    assert not PRIVATE & set(response.json())


async def test_unknown_and_malformed_user_ids(client: httpx.AsyncClient, db: Database) -> None:
    missing = await client.get("/api/v1/users/987654321")
    assert missing.status_code == 404 and error_code(missing) == "user_not_found"
    for bad in ("abc", "1.5", "-3", "0", str(2**63), "1_0", "+5", "%207", "\u0663", "9" * 5000):
        response = await client.get(f"/api/v1/users/{bad}")
        assert response.status_code == 400, bad
        assert error_code(response) == "invalid_id", bad


# --- PUT /users/me -------------------------------------------------------------------------------


async def test_partial_update_returns_full_user_info(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=300)
    response = await client.put(
        "/api/v1/users/me", json={"nickname": "Trader_1", "theme": "dark"}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == user_id and body["nickname"] == "Trader_1" and body["theme"] == "dark"
    assert body["language"] == "en" and body["balance"] == 300 and set(body) >= PRIVATE

    second = await client.put(
        "/api/v1/users/me",
        json={"language": "ru", "name": "  Ann  ", "profile_hidden": True},
        headers=bearer(token),
    )
    assert second.status_code == 200, second.text
    body = second.json()
    assert (body["nickname"], body["theme"]) == ("Trader_1", "dark")  # untouched fields persist
    assert (body["language"], body["name"], body["profile_hidden"]) == ("ru", "Ann", True)
    again = (await client.get(f"/api/v1/users/{user_id}", headers=bearer(token))).json()
    assert again["language"] == "ru" and again["profile_hidden"] is True


async def test_update_validation_codes(client: httpx.AsyncClient, db: Database) -> None:
    _, owner = await fast_user(db)
    _, token = await fast_user(db)
    taken = await client.put("/api/v1/users/me", json={"nickname": "Shared_Nick"}, headers=bearer(owner))
    assert taken.status_code == 200

    cases = [
        ({"nickname": "a b"}, "invalid_nickname"),
        ({"nickname": "x"}, "invalid_nickname"),
        ({"nickname": "n" * 33}, "invalid_nickname"),
        ({"nickname": "shared_nick"}, "nickname_taken"),
        ({"nickname": "SHARED_NICK"}, "nickname_taken"),
        ({"language": "de"}, "invalid_language"),
        ({"theme": "blue"}, "invalid_theme"),
        ({"colour": "red"}, "invalid_body"),
        ({"profile_hidden": "yes"}, "invalid_body"),
        ({"nickname": 42}, "invalid_body"),
        ({"name": ""}, "invalid_body"),
    ]
    for payload, code in cases:
        response = await client.put("/api/v1/users/me", json=payload, headers=bearer(token))
        assert response.status_code == 400, (payload, response.text)
        assert error_code(response) == code, payload

    malformed = await client.put(
        "/api/v1/users/me",
        content=b'{"nickname": ',
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400 and error_code(malformed) == "invalid_body"
    not_object = await client.put("/api/v1/users/me", json=["nickname"], headers=bearer(token))
    assert not_object.status_code == 400 and error_code(not_object) == "invalid_body"

    # The owner may re-save their own nickname in another case.
    own = await client.put("/api/v1/users/me", json={"nickname": "SHARED_nick"}, headers=bearer(owner))
    assert own.status_code == 200 and own.json()["nickname"] == "SHARED_nick"


async def test_update_me_requires_sign_in(client: httpx.AsyncClient) -> None:
    for headers in ({}, bearer("garbage")):
        response = await client.put("/api/v1/users/me", json={"theme": "dark"}, headers=headers)
        assert response.status_code == 401
        assert error_code(response) == "unauthorized"


# --- POST /users/me/avatar -----------------------------------------------------------------------


async def test_avatar_upload_png_and_jpeg_served_back(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db)
    for name, content, media in (("me.png", tiny_png(), "image/png"), ("me.jpg", TINY_JPEG, "image/jpeg")):
        response = await client.post(
            "/api/v1/users/me/avatar", files={"avatar": (name, content, media)}, headers=bearer(token)
        )
        assert response.status_code == 200, response.text
        url = response.json()["avatar_url"]
        path = urlparse(url).path
        assert path.startswith("/media/avatars/") and path.endswith(Path(name).suffix)
        served = await client.get(path)
        assert served.status_code == 200
        assert served.content == content
        assert served.headers["content-type"] == media
        profile = (await client.get(f"/api/v1/users/{user_id}")).json()
        assert profile["avatar_url"] == url


async def test_avatar_type_is_checked_by_content(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    response = await client.post(
        "/api/v1/users/me/avatar",
        files={"avatar": ("evil.png", b"<svg onload=alert(1)>hello</svg>", "image/png")},
        headers=bearer(token),
    )
    assert response.status_code == 400 and error_code(response) == "invalid_file_type"


async def test_avatar_missing_file(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    wrong_field = await client.post(
        "/api/v1/users/me/avatar", files={"picture": ("a.png", tiny_png(), "image/png")}, headers=bearer(token)
    )
    assert wrong_field.status_code == 400 and error_code(wrong_field) == "missing_file"
    plain_field = await client.post(
        "/api/v1/users/me/avatar", data={"avatar": "not a file"}, files={"x": ("x", b"1")}, headers=bearer(token)
    )
    assert plain_field.status_code == 400 and error_code(plain_field) == "missing_file"
    empty = await client.post(
        "/api/v1/users/me/avatar", files={"avatar": ("a.png", b"", "image/png")}, headers=bearer(token)
    )
    assert empty.status_code == 400 and error_code(empty) == "missing_file"
    as_json = await client.post("/api/v1/users/me/avatar", json={"avatar": "abc"}, headers=bearer(token))
    assert as_json.status_code == 400 and error_code(as_json) == "missing_file"
    no_body = await client.post("/api/v1/users/me/avatar", headers=bearer(token))
    assert no_body.status_code == 400 and error_code(no_body) == "missing_file"
    broken = await client.post(
        "/api/v1/users/me/avatar",
        content=b"--nope\r\ngarbage",
        headers={**bearer(token), "Content-Type": "multipart/form-data; boundary=other"},
    )
    assert broken.status_code == 400 and error_code(broken) == "missing_file"


async def test_avatar_too_large(database_url: str, data_dir: Path, db: Database) -> None:
    settings = make_settings(database_url, data_dir, avatar_max_bytes=200)
    async with lifespan_client(settings) as http:
        _, token = await fast_user(db)
        big = tiny_png() + b"\x00" * 200
        response = await http.post(
            "/api/v1/users/me/avatar", files={"avatar": ("big.png", big, "image/png")}, headers=bearer(token)
        )
        assert response.status_code == 400 and error_code(response) == "file_too_large"
        fits = await http.post(
            "/api/v1/users/me/avatar", files={"avatar": ("ok.png", tiny_png(), "image/png")}, headers=bearer(token)
        )
        assert fits.status_code == 200, fits.text


async def test_avatar_requires_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/users/me/avatar", files={"avatar": ("a.png", tiny_png(), "image/png")})
    assert response.status_code == 401 and error_code(response) == "unauthorized"


# --- GET /users/me/transactions ------------------------------------------------------------------


async def test_transactions_list_deposits_newest_first(client: httpx.AsyncClient, db: Database) -> None:
    user_id, token = await fast_user(db, balance=50_000)
    other_id = await new_user(db, balance=777)
    async with db.transaction() as session:
        await users.deposit(session, user_id=user_id, amount=100, bonus=True)
        later = await users.deposit(session, user_id=user_id, amount=1_234)
        await users.deposit(session, user_id=other_id, amount=5)

    response = await client.get("/api/v1/users/me/transactions", headers=bearer(token))
    assert response.status_code == 200
    items = response.json()
    assert isinstance(items, list) and len(items) == 2, items
    assert [item["amount"] for item in items] == [1_234, 50_000]
    assert items[0]["id"] == later and items[0]["id"] > items[1]["id"]
    for item in items:
        assert set(item) == {"id", "type", "amount", "status", "created_at"}
        assert item["type"] == "deposit" and item["status"] == "completed"
        assert isinstance(item["id"], int) and item["created_at"].endswith("Z")
    assert all(item["amount"] != 100 for item in items)  # bonus credits are not deposits


async def test_transactions_empty_and_anonymous(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    empty = await client.get("/api/v1/users/me/transactions", headers=bearer(token))
    assert empty.status_code == 200 and empty.json() == []
    anonymous = await client.get("/api/v1/users/me/transactions")
    assert anonymous.status_code == 401 and error_code(anonymous) == "unauthorized"


# --- POST /stats/role ----------------------------------------------------------------------------


async def test_stats_viewer_grants_creator(client: httpx.AsyncClient, db: Database) -> None:
    _, viewer = await fast_user(db, is_stats_viewer=True)
    target = await new_user(db)
    response = await client.post(
        "/api/v1/stats/role", json={"user_id": target, "role": "creator"}, headers=bearer(viewer)
    )
    assert response.status_code == 200, response.text
    assert response.json()["is_creator"] is True
    assert (await client.get(f"/api/v1/users/{target}")).json()["is_creator"] is True

    revoked = await client.post(
        "/api/v1/stats/role",
        json={"user_id": target, "role": "creator", "value": False},
        headers=bearer(viewer),
    )
    assert revoked.status_code == 200 and revoked.json()["is_creator"] is False
    assert (await client.get(f"/api/v1/users/{target}")).json()["is_creator"] is False


async def test_only_admins_grant_staff_roles(client: httpx.AsyncClient, db: Database) -> None:
    _, viewer = await fast_user(db, is_stats_viewer=True)
    _, admin = await fast_user(db, is_admin=True)
    target = await new_user(db)
    for role in ("stats_viewer", "admin"):
        refused = await client.post(
            "/api/v1/stats/role", json={"user_id": target, "role": role}, headers=bearer(viewer)
        )
        assert refused.status_code == 403 and error_code(refused) == "FORBIDDEN"
        granted = await client.post("/api/v1/stats/role", json={"user_id": target, "role": role}, headers=bearer(admin))
        assert granted.status_code == 200, granted.text
        assert granted.json()[f"is_{role}"] is True
    assert (await client.get(f"/api/v1/users/{target}")).json()["is_stats_viewer"] is True


async def test_set_role_refusals(client: httpx.AsyncClient, db: Database) -> None:
    _, plain = await fast_user(db)
    admin_id, admin = await fast_user(db, is_admin=True)
    target = await new_user(db)
    body = {"user_id": target, "role": "creator"}

    anonymous = await client.post("/api/v1/stats/role", json=body)
    assert anonymous.status_code == 401 and error_code(anonymous) == "UNAUTHORIZED"
    forbidden = await client.post("/api/v1/stats/role", json=body, headers=bearer(plain))
    assert forbidden.status_code == 403 and error_code(forbidden) == "FORBIDDEN"
    assert (await client.get(f"/api/v1/users/{target}")).json()["is_creator"] is False

    unknown_role = await client.post(
        "/api/v1/stats/role", json={"user_id": target, "role": "king"}, headers=bearer(admin)
    )
    assert unknown_role.status_code == 400 and error_code(unknown_role) == "INVALID_REQUEST"
    unknown_user = await client.post(
        "/api/v1/stats/role", json={"user_id": 987654321, "role": "creator"}, headers=bearer(admin)
    )
    assert unknown_user.status_code == 404
    self_demote = await client.post(
        "/api/v1/stats/role",
        json={"user_id": admin_id, "role": "admin", "value": False},
        headers=bearer(admin),
    )
    assert self_demote.status_code == 409
    bad_body = await client.post("/api/v1/stats/role", json={"user_id": "x"}, headers=bearer(admin))
    assert bad_body.status_code == 400 and error_code(bad_body) == "INVALID_REQUEST"
