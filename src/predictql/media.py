"""Uploaded files served back at ``/media/avatars``.

Uploads are checked to be images, and every response says ``nosniff`` (the gateway); this adds a
policy that lets a media URL opened as a page run nothing, load nothing and reach no origin, so a
file that still managed to hold markup is inert.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MEDIA_CSP = b"default-src 'none'; style-src 'unsafe-inline'; sandbox"


def media_files(directory: Path) -> ASGIApp:
    files = StaticFiles(directory=directory, check_dir=False)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"content-security-policy", MEDIA_CSP)]
                message = {**message, "headers": headers}
            await send(message)

        await files(scope, receive, with_policy)

    return app
