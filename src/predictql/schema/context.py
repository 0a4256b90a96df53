"""The typed GraphQL context and the one ``Info`` alias every resolver takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import strawberry
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from predictql.auth import ANONYMOUS, Actor
from predictql.db import Database
from predictql.mail import Mailer
from predictql.schema.loaders import Loaders
from predictql.services.market_writer import MarketWriter
from predictql.settings import Settings
from predictql.subscriptions.bus import Bus


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket
    db: Database
    settings: Settings
    mailer: Mailer
    http: httpx.AsyncClient
    bus: Bus
    actor: Actor = ANONYMOUS
    # Strawberry writes the connection_init payload here; without the attribute it is dropped.
    connection_params: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    writer: MarketWriter | None = None  # the app's (view.py); a context built without one gets its own
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    @property
    def loaders(self) -> Loaders:
        """This request's DataLoaders, built on first use (after the actor is known)."""
        if self._loaders is None:
            self._loaders = Loaders(self.db, self.actor, self.settings)
        return self._loaders

    @property
    def market_writer(self) -> MarketWriter:
        """The app's per-market writer (``services.market_writer``)."""
        if self.writer is None:
            self.writer = MarketWriter(self.db)
        return self.writer

    def reset_loaders(self) -> None:
        """Forget cached rows: after a write, and per event on a long-lived WebSocket."""
        self._loaders = None

    @property
    def http_response(self) -> Response | None:
        return self.response if isinstance(self.response, Response) else None

    def set_cookie(self, name: str, value: str, max_age: int) -> None:
        response = self.http_response
        if response is None:
            return
        secure = self.request.url.scheme == "https"
        if max_age:
            response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure)
        else:
            response.delete_cookie(name, httponly=True, samesite="lax", secure=secure)


Info = strawberry.Info[Context, None]
