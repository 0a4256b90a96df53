"""Uploads are kept only when the whole file decodes as the image it claims; headers make served
media inert (nosniff everywhere, a restrictive CSP on /media)."""

from __future__ import annotations

import io
import struct
import zlib
from urllib.parse import urlparse

import httpx
import pytest
from PIL import Image

from predictql.db import Database
from predictql.services import images
from tests.api.test_events import make_event
from tests.api.test_users import TINY_GIF, TINY_JPEG, TINY_WEBP, error_code, fast_user, tiny_png
from tests.support import bearer

HTML = b"<html><script>alert(document.cookie)</script></html>"
VALID = {"png": tiny_png(), "jpg": TINY_JPEG, "gif": TINY_GIF, "webp": TINY_WEBP}


def _encoded(fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    frames = [Image.new("RGB", (16, 16), (i * 40, 0, 0)) for i in range(3)]
    frames[0].save(out, format=fmt, **options)
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_format_is_accepted_whole(kind: str) -> None:
    assert images.image_type(VALID[kind]) == kind


def test_progressive_jpeg_and_animated_gif_are_images() -> None:
    assert images.image_type(_encoded("JPEG", progressive=True, quality=80)) == "jpg"
    frames = [Image.new("P", (8, 8), i) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:])
    assert images.image_type(out.getvalue()) == "gif"


@pytest.mark.parametrize("kind", sorted(VALID))
def test_anything_after_the_image_is_refused(kind: str) -> None:
    with pytest.raises(images.NotAnImage, match="after the end"):
        images.image_type(VALID[kind] + HTML)


def test_a_webp_whose_riff_size_hides_html_is_refused() -> None:
    content = TINY_WEBP + HTML
    grown = content[:4] + struct.pack("<I", len(content) - 8) + content[8:]  # the RIFF size covers the HTML
    with pytest.raises(images.NotAnImage):
        images.image_type(grown)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_a_truncated_image_is_refused(kind: str) -> None:
    with pytest.raises(images.NotAnImage):
        images.image_type(VALID[kind][: len(VALID[kind]) // 2])


def test_a_well_formed_png_with_undecodable_pixels_is_refused() -> None:
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    broken = (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"not zlib") + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(images.NotAnImage, match="does not decode"):
        images.image_type(broken)


def test_a_pixel_bomb_is_refused_before_decoding() -> None:
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(images.NotAnImage):
        images.image_type(bomb)


def test_markup_and_unknown_types_are_refused() -> None:
    for content in (HTML, b"", b"GIF89a", b"BM" + b"\0" * 60):
        with pytest.raises(images.NotAnImage):
            images.image_type(content)
    with pytest.raises(images.NotAnImage):
        images.image_type(TINY_GIF, ("jpg", "png", "webp"))


async def test_png_header_followed_by_html_is_not_kept(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db, is_creator=True)
    polyglot = tiny_png() + HTML
    avatar = await client.post(
        "/api/v1/users/me/avatar", files={"avatar": ("a.png", polyglot, "image/png")}, headers=bearer(token)
    )
    assert avatar.status_code == 400 and error_code(avatar) == "invalid_file_type"
    event = await make_event(client, token)
    image = await client.post(
        f"/api/v1/events/{event['id']}/image", files={"image": ("a.png", polyglot, "image/png")}, headers=bearer(token)
    )
    assert image.status_code == 400 and error_code(image) == "INVALID_REQUEST"


async def test_every_response_says_nosniff_and_media_has_a_policy(client: httpx.AsyncClient, db: Database) -> None:
    _, token = await fast_user(db)
    responses = [
        await client.get("/api/v1/health"),
        await client.get("/api/v1/no-such-route"),
        await client.post("/graphql", json={"query": "{ __typename }"}),
        await client.post("/api/v1/auth/sign-in", content=b"{", headers={"content-type": "application/json"}),
    ]
    uploaded = await client.post(
        "/api/v1/users/me/avatar", files={"avatar": ("a.png", tiny_png(), "image/png")}, headers=bearer(token)
    )
    media = await client.get(urlparse(uploaded.json()["avatar_url"]).path)
    missing = await client.get("/media/avatars/none.png")
    for response in [*responses, uploaded, media, missing]:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert media.status_code == 200 and media.headers["content-type"] == "image/png"
    policy = media.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy
