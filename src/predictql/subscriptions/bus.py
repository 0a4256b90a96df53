"""The event bus over broadcaster: ``memory://`` embedded, ``redis://`` across processes.

Messages are strings (the Redis backend accepts nothing else), serialized once by the publisher.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from broadcaster import Broadcast


class Bus:
    def __init__(self, url: str) -> None:
        self.url = url
        self._broadcast = Broadcast(url)

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    async def publish(self, channel: str, message: str) -> None:
        await self._broadcast.publish(channel=channel, message=message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[str]]:
        async with self._broadcast.subscribe(channel=channel) as subscriber:

            async def messages() -> AsyncIterator[str]:
                async for event in subscriber:  # type: ignore[union-attr]
                    if event is not None:
                        yield event.message

            yield messages()
