"""An event's image: stored beside the avatars (the /media/avatars/ mount serves it), replaced or
removed by the event's creator or an admin. REST (multipart) and GraphQL (base64) both call it.

The file is written before the row points at it; the file a replaced or removed URL named is
deleted only after the commit, so a rollback never leaves the event pointing at nothing.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.db import after_commit
from predictql.errors import InvalidInput, PayloadTooLarge
from predictql.models import Event
from predictql.services import events, images

EVENT_IMAGE_TYPES = ("jpg", "png", "webp")


def _url(base_url: str, name: str) -> str:
    return f"{base_url.rstrip('/')}/media/avatars/{name}"


def _forget(session: AsyncSession, directory: Path, base_url: str, event_id: int, url: str | None) -> None:
    prefix = _url(base_url, f"event_{event_id}_")
    if url and url.startswith(prefix) and "/" not in url[len(prefix) :]:
        path = directory / url.rsplit("/", 1)[1]
        after_commit(session, lambda: asyncio.to_thread(path.unlink, missing_ok=True))


def _write(directory: Path, name: str, content: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(content)


async def image_type(content: bytes) -> str:
    """The extension of a JPEG, PNG or WebP file (decoded whole); INVALID_REQUEST otherwise."""
    try:
        return await asyncio.to_thread(images.image_type, content, EVENT_IMAGE_TYPES)
    except images.NotAnImage as exc:
        raise InvalidInput(f"image must be a JPEG, PNG or WebP file ({exc})") from None


async def set_image(
    session: AsyncSession,
    actor: Actor,
    event_id: int,
    *,
    content: bytes,
    directory: Path,
    base_url: str,
    max_bytes: int,
) -> Event:
    """Store ``content`` (a JPEG, PNG or WebP file of at most ``max_bytes``) as the event's image."""
    if len(content) > max_bytes:
        raise PayloadTooLarge(f"image larger than {max_bytes} bytes")
    extension = await image_type(content)
    previous = (await events.get_managed(session, actor, event_id)).image_url  # 404/403 before any write
    name = f"event_{event_id}_{time.time_ns()}.{extension}"
    await asyncio.to_thread(_write, directory, name, content)
    event = await events.set_image(session, actor, event_id, url=_url(base_url, name))
    _forget(session, directory, base_url, event_id, previous)
    return event


async def remove_image(session: AsyncSession, actor: Actor, event_id: int, *, directory: Path, base_url: str) -> Event:
    previous = (await events.get_managed(session, actor, event_id)).image_url
    event = await events.set_image(session, actor, event_id, url=None)
    _forget(session, directory, base_url, event_id, previous)
    return event
