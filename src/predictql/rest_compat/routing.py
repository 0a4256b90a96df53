"""How a REST route is declared: ``@endpoint(method, path, auth=...)``.

The wrapper does the same for every route, so handlers stay thin: resolve the caller, enforce the
route's auth level (the level is data, and a test walks every route with it), parse the body, run
the handler, and turn a ``DomainError`` into the envelope with the route's status and code style.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from predictql.auth import ANONYMOUS, Actor, request_token
from predictql.db import Database
from predictql.errors import DomainError, InvalidInput
from predictql.inputs import MAX_PARAM, check_json, check_text, plain_int
from predictql.jsonutil import dumps, loads
from predictql.mail import Mailer
from predictql.outages import unavailable
from predictql.rest_compat.errors import domain_response
from predictql.services import idempotency
from predictql.services.actor_cache import ActorCache
from predictql.services.market_writer import MarketWriter
from predictql.settings import Settings

AuthLevel = Literal["none", "optional", "required", "creator", "stats_viewer", "admin"]
Body = TypeVar("Body", bound=BaseModel)
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
log = logging.getLogger("predictql.rest")


class StrictBody(BaseModel):
    """The base of every REST body model: a field the route does not know answers 400 with the
    route's invalid-body code naming it. Ignoring it would let a legacy client's misspelt or
    unsupported field (``metadata.market_type`` once) look like success while doing nothing."""

    model_config = ConfigDict(extra="forbid")


class Json(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    auth: AuthLevel
    handler: Callable[[ApiRequest], Awaitable[Any]]
    lower_codes: bool = False
    status: int = 200
    overrides: dict[str, int] = field(default_factory=dict)
    invalid_code: str = "INVALID_REQUEST"
    body: type[BaseModel] | None = None  # the JSON body model the handler parses (for OpenAPI)
    upload: str | None = None  # the multipart file field of an upload route (for OpenAPI)
    body_optional: bool = False  # the handler reads ``body`` with ``optional_body``: it may be absent


REGISTRY: list[Endpoint] = []


def endpoint(
    method: str,
    path: str,
    *,
    auth: AuthLevel,
    lower_codes: bool = False,
    status: int = 200,
    overrides: dict[str, int] | None = None,
    invalid_code: str | None = None,
    body: type[BaseModel] | None = None,
    upload: str | None = None,
    body_optional: bool = False,
) -> Callable[[Callable[[ApiRequest], Awaitable[Any]]], Callable[[ApiRequest], Awaitable[Any]]]:
    def register(handler: Callable[[ApiRequest], Awaitable[Any]]) -> Callable[[ApiRequest], Awaitable[Any]]:
        REGISTRY.append(
            Endpoint(
                method,
                path,
                auth,
                handler,
                lower_codes,
                status,
                overrides or {},
                invalid_code or ("invalid_body" if lower_codes else "INVALID_REQUEST"),
                body,
                upload,
                body_optional,
            )
        )
        return handler

    return register


def access_token_of(request: Request) -> str | None:
    return request_token(request.headers.get("authorization"), request.cookies.get("access_token"))


class ApiRequest:
    """What a handler sees: the request, the caller, app resources, and typed parsing helpers."""

    def __init__(self, request: Request, spec: Endpoint, actor: Actor) -> None:
        self.request = request
        self.spec = spec
        self.actor = actor
        self.db: Database = request.state.db
        self.writer: MarketWriter = request.state.writer
        self.settings: Settings = request.state.settings
        self.mailer: Mailer = request.state.mailer
        self.response_headers: list[tuple[str, str]] = []
        self.cookies: list[tuple[str, str, int]] = []  # name, value, max-age (0 deletes)

    def state(self, name: str) -> Any:
        return getattr(self.request.state, name)

    def path_int(self, name: str) -> int:
        value = plain_int(self.request.path_params[name])
        if value is None:
            raise InvalidInput(f"{name} must be an integer", code=self._id_code(name))
        if not 0 < value < 2**63:
            raise InvalidInput(f"{name} out of range", code=self._id_code(name))
        return value

    def _id_code(self, name: str) -> str:
        if not self.spec.lower_codes:
            return self.spec.invalid_code
        return "invalid_id" if name == "id" else f"invalid_{name}"

    def query_int(self, name: str, default: int | None = None, *, lo: int = 0, hi: int = 2**63 - 1) -> int | None:
        given = self.request.query_params.getlist(name)
        if len(given) > 1:  # ambiguous: Starlette would silently take the last one
            raise InvalidInput(f"{name} given more than once", code=self.spec.invalid_code)
        raw = given[0] if given else None
        if raw is None or raw == "":
            return default
        value = plain_int(raw)
        if value is None:
            raise InvalidInput(f"{name} must be an integer", code=self.spec.invalid_code)
        if not lo <= value <= hi:
            raise InvalidInput(f"{name} must be between {lo} and {hi}", code=self.spec.invalid_code)
        return value

    def query_choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        """One of ``choices`` (ASCII words, matched without regard to case), or the route's 400.

        No Unicode case mapping of client text (``"ß".upper()`` is ``"SS"``; other mappings grow or
        change a string): the value is checked as text first, then compared ASCII-only."""
        given = self.request.query_params.getlist(name)
        if len(given) > 1:
            raise InvalidInput(f"{name} given more than once", code=self.spec.invalid_code)
        raw = given[0] if given and given[0] != "" else default
        check_text(raw, f"parameter {name}", code=self.spec.invalid_code)
        for choice in choices:
            if raw.isascii() and raw.upper() == choice.upper():
                return choice
        raise InvalidInput(f"{name} must be one of {', '.join(choices)}", code=self.spec.invalid_code)

    async def json(self) -> Any:
        content_type = self.request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise InvalidInput("Content-Type must be application/json", code="UNSUPPORTED_MEDIA_TYPE")
        raw = await self.request.body()
        try:
            data = loads(raw)
        except ValueError:
            raise InvalidInput("malformed JSON body", code=self.spec.invalid_code) from None
        return check_json(data, "body", code=self.spec.invalid_code)

    async def json_object(self, known: Iterable[str]) -> dict[str, Any]:
        """A body parsed by hand (its fields fail with their own codes): an object of ``known`` keys."""
        data = await self.json()
        if not isinstance(data, dict):
            raise InvalidInput("JSON body must be an object", code=self.spec.invalid_code)
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise InvalidInput(_unknown(unknown), code=self.spec.invalid_code)
        return data

    async def body(self, model: type[Body], *, code: str | None = None) -> Body:
        data = await self.json()
        if not isinstance(data, dict):
            raise InvalidInput("JSON body must be an object", code=code or self.spec.invalid_code)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise InvalidInput(_describe(exc), code=code or self.spec.invalid_code) from None

    async def optional_body(self, model: type[Body]) -> Body:
        """A body that may be absent entirely (no content): validated as ``{}`` then."""
        if not await self.request.body():
            return model.model_validate({})
        return await self.body(model)

    def set_cookie(self, name: str, value: str, max_age: int) -> None:
        self.cookies.append((name, value, max_age))


def _check_params(request: Request, spec: Endpoint) -> None:
    """Query text, for every route at once: no NUL (PostgreSQL refuses it), bounded. (Path ids
    are parsed strictly by ``path_int``, and a text path segment by its service.)"""
    for name, value in request.query_params.multi_items():
        check_text(value, f"parameter {name}", code=spec.invalid_code)
        if len(value) > MAX_PARAM:
            raise InvalidInput(f"parameter {name} is longer than {MAX_PARAM} characters", code=spec.invalid_code)


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    unknown = [".".join(str(p) for p in e["loc"]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return _unknown(unknown)
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def _unknown(names: list[str]) -> str:
    return f"unknown field{'s' if len(names) > 1 else ''}: {', '.join(names)}"


async def _actor_for(request: Request) -> Actor:
    token = access_token_of(request)
    if token is None:
        return ANONYMOUS
    actors: ActorCache = request.state.actors
    return await actors.resolve(request.state.db, request.state.settings, token)


def _authorize(spec: Endpoint, method: str, actor: Actor) -> None:
    if spec.auth in ("none", "optional"):
        return
    actor.require_user()
    if method in WRITE_METHODS:
        actor.require_write()
    # "creator" routes need a signed-in writer here; whether the caller created *that* event (or
    # holds the creator role to make one) is decided by the service, which knows the event.
    if spec.auth == "stats_viewer":
        actor.require_stats_viewer()
    if spec.auth == "admin":
        actor.require_admin()


async def _respond(request: Request, spec: Endpoint, actor: Actor) -> Response:
    api = ApiRequest(request, spec, actor)
    try:
        _check_params(request, spec)
        result = await spec.handler(api)
    except DomainError as error:
        return domain_response(error, lower=spec.lower_codes, overrides=spec.overrides)
    response = result if isinstance(result, Response) else Json(result, status_code=spec.status)
    for name, value in api.response_headers:
        response.headers.append(name, value)
    secure = bool(api.cookies) and request.url.scheme == "https"  # the URL is built only for a cookie
    for name, value, max_age in api.cookies:
        if max_age:
            response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax", secure=secure)
        else:
            response.delete_cookie(name, httponly=True, samesite="lax", secure=secure)
    return response


async def _caller(request: Request, spec: Endpoint) -> Actor:
    try:
        return await _actor_for(request)
    except Exception as exc:
        # A route open to anyone needs no caller: with the database away it still runs (health
        # answers "degraded"; the others fail on their own queries, with the same 503).
        if spec.auth != "none" or unavailable(exc) is None:
            raise
        return ANONYMOUS


async def _run(request: Request, spec: Endpoint) -> Response:
    try:
        actor = await _caller(request, spec)
        _authorize(spec, request.method, actor)
        request.state.actor = actor
        key = request.headers.get("idempotency-key")
        if key is not None and request.method == "POST":
            return await _idempotent(request, spec, actor, key)
    except DomainError as error:
        return domain_response(error, lower=spec.lower_codes, overrides=spec.overrides)
    return await _respond(request, spec, actor)


async def _idempotent(request: Request, spec: Endpoint, actor: Actor, key: str) -> Response:
    """POST with ``Idempotency-Key``: replay a stored response, or run once and store it with the
    work, in the same transaction (``services.idempotency``)."""
    client = request.client.host if request.client else "unknown"
    claim = idempotency.Claim(
        f"user:{actor.user_id}" if actor.user_id is not None else f"ip:{client}",
        "rest:" + idempotency.check_key(key),
        idempotency.request_hash(request.method, request.url.path, request.url.query, await request.body()),
    )
    db: Database = request.state.db
    stored = await idempotency.lookup(db, claim)
    if stored is None:
        async with db.unit() as unit:
            with idempotency.guarding(claim):
                response = await _respond(request, spec, actor)
            stored = await idempotency.settle(db, unit, claim, response.status_code, bytes(response.body).decode())
        if stored is None:
            return response
    return Response(
        stored.body,
        status_code=stored.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def to_route(spec: Endpoint) -> Route:
    return Route(spec.path, handler(spec), methods=[spec.method])


def handler(spec: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of one (method, path): caller, auth, idempotency, then the handler."""

    async def run(request: Request) -> Response:
        try:
            return await _run(request, spec)
        except Exception as exc:
            outage = unavailable(exc)  # the database is out of reach: 503 + Retry-After, not a 500
            if outage is None:
                raise
            log.warning("%s %s: database unavailable (%r)", request.method, request.url.path, exc)
            return domain_response(outage, lower=spec.lower_codes, overrides=spec.overrides)

    run.__name__ = spec.handler.__name__
    return run
