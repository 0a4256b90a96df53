"""``predictql``: serve | migrate | user create | user credit | ledger check | schema | backoffice |
prices set | fx set."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from predictql import migrate
from predictql.db import Database, make_engine
from predictql.errors import DomainError
from predictql.settings import ConfigError, Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="predictql", description="Prediction-market server.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve HTTP and WebSocket")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="processes (PostgreSQL only)")

    commands.add_parser("migrate", help="upgrade the database to the latest schema")
    commands.add_parser("schema", help="print the GraphQL SDL")
    openapi = commands.add_parser("openapi", help="print the REST API's OpenAPI 3.1 document")
    openapi.add_argument("--contract", help="routes.yaml (default: shared/api/routes.yaml beside the checkout)")

    user = commands.add_parser("user", help="manage users").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a verified user")
    create.add_argument("email")
    create.add_argument("--password", required=True)
    create.add_argument("--creator", action="store_true")
    create.add_argument("--stats-viewer", action="store_true")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--operator", action="store_true", help="back office: card orders, withdrawals, disputes, chat")
    credit = user.add_parser("credit", help="deposit kopecks through the ledger")
    credit.add_argument("email")
    credit.add_argument("amount", type=int, help="kopecks")
    credit.add_argument("--bonus", action="store_true", help="credit the bonus balance")

    ledger = commands.add_parser("ledger", help="audit the ledger").add_subparsers(dest="ledger_command", required=True)
    check = ledger.add_parser(
        "check", help="trial balance, floors, twins, book level counts; exit 1 on any violation (for cron)"
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")

    # -- back office (operators): each domain adds its commands to this group, each with its own ``run``
    backoffice = commands.add_parser("backoffice", help="operator work: disputes, card orders, withdrawals")
    office = backoffice.add_subparsers(dest="backoffice_command", required=True)
    backoffice.pq_commands = office  # type: ignore[attr-defined]  # cli_backoffice adds to the same group
    from predictql import cli_backoffice, p2p_cli

    p2p_cli.add_commands(office)
    cli_backoffice.add_parsers(commands)  # card orders and crypto withdrawals
    prices = commands.add_parser("prices", help="the operator price feed").add_subparsers(
        dest="prices_command", required=True
    )
    price_set = prices.add_parser("set", help="record an asset price now (source: operator)")
    price_set.add_argument("symbol", help="e.g. BTCUSDT")
    price_set.add_argument("price", help="a positive decimal in USD, e.g. 84532.17")
    fx = commands.add_parser("fx", help="the operator FX feed").add_subparsers(dest="fx_command", required=True)
    fx_set = fx.add_parser("set", help="record an exchange rate now (source: operator)")
    fx_set.add_argument("base", help="the currency sold, e.g. USD")
    fx_set.add_argument("quote", help="the currency bought, e.g. RUB")
    fx_set.add_argument("rate", help="units of QUOTE per BASE, e.g. 92.45")
    return parser


async def _with_db(settings: Settings, work: Callable[[Database], Awaitable[Any]]) -> Any:
    settings.check()
    engine = make_engine(settings.resolved_database_url)
    try:
        await migrate.upgrade(engine)
        return await work(Database(engine))
    finally:
        await engine.dispose()


async def _create_user(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    from predictql.services import accounts

    accounts.check_password(args.password)
    async with db.transaction() as session:
        user = await accounts.create_user(
            session,
            email=args.email,
            password=args.password,
            verified=True,
            is_creator=args.creator,
            is_stats_viewer=args.stats_viewer,
            is_admin=args.admin,
            is_operator=args.operator,
        )
    return {
        "id": user.id,
        "email": user.email,
        "is_creator": user.is_creator,
        "is_admin": user.is_admin,
        "is_operator": user.is_operator,
    }


async def _credit(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    from predictql.services import accounts, ledger, users

    async with db.transaction() as session:
        user = await accounts.user_by_email(session, accounts.normalize_email(args.email))
        user_id = user.id if user is not None else None
        if user_id is None:
            raise DomainError(f"no user with email {args.email}", code="user_not_found")
        txn = await users.deposit(session, user_id=user_id, amount=args.amount, bonus=args.bonus)
        money = await ledger.balances(session, user_id)
    return {"user_id": user_id, "transaction_id": txn, "balance": money.cash, "bonus_balance": money.bonus}


async def _ledger_check(db: Database, args: argparse.Namespace, settings: Settings) -> bool:
    from predictql import metrics
    from predictql.services import ledger_check

    async with db.session() as session:
        report = await ledger_check.check(session)
    print(json.dumps(report.to_json()) if args.json else "\n".join(report.lines()))
    metrics.record_ledger_check(settings, report.ok, len(report.violations))  # for /metrics
    return report.ok


async def _set_price(db: Database, args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from predictql.services import assets

    async with db.transaction() as session:
        asset = await assets.set_price(
            session, None, symbol=args.symbol, price=args.price, record_seconds=settings.price_record_seconds
        )
    assert asset.price_e8 is not None and asset.price_updated_at is not None
    return {
        "symbol": asset.symbol,
        "price": assets.to_text(asset.price_e8),
        "source": asset.source,
        "as_of": asset.price_updated_at.isoformat(),
    }


async def _set_rate(db: Database, args: argparse.Namespace) -> dict[str, Any]:
    from predictql.services import assets

    async with db.transaction() as session:
        row = await assets.set_rate(session, None, base=args.base, quote=args.quote, rate=args.rate)
    return {
        "from": row.base,
        "to": row.quote,
        "rate": assets.to_text(row.rate_e8),
        "source": row.source,
        "as_of": row.as_of.isoformat(),
    }


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    if args.workers > 1 and settings.is_sqlite:
        raise ConfigError("--workers > 1 needs PostgreSQL (SQLite is single-process); see README 'Scaling out'")
    settings.check()
    engine = make_engine(settings.resolved_database_url)

    async def upgrade() -> None:
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(upgrade())
    if args.workers > 1:
        _share_metrics()
    relay_dir = _writer_relay_dir(settings, args.workers)
    print(f"predictql serving on http://{args.host}:{args.port} (GraphQL /graphql, REST /api/v1)", file=sys.stderr)
    try:
        _run_uvicorn(settings, args)
    finally:
        if relay_dir is not None:
            shutil.rmtree(relay_dir, ignore_errors=True)


def _run_uvicorn(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from predictql.ws_protocol import DroppingWebSocketProtocol

    uvicorn.run(
        "predictql.app:app_for_serve",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        ws=DroppingWebSocketProtocol,  # a reader that stopped reading is dropped at its read deadline
        ws_per_message_deflate=False,  # ~20 % CPU on fan-out for tiny frames (PITFALLS)
        # WebSocket ping frames (heartbeat); a pong overdue past the read deadline closes the socket.
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_pong_timeout,
        # The gateway reads X-Forwarded-For/-Proto itself, from PREDICTQL_TRUSTED_PROXIES only
        # (predictql.clientip); uvicorn's own FORWARDED_ALLOW_IPS would trust 127.0.0.1.
        proxy_headers=False,
        access_log=False,  # the gateway writes a structured access log with the request id
        log_level=settings.log_level.lower(),
    )


def _writer_relay_dir(settings: Settings, workers: int) -> str | None:
    """Market affinity (``services.writer_relay``): a private runtime directory (0700) where the
    workers claim their index and listen for each other's writer items; named, with N, in the
    environment the workers inherit. None with one worker or ``PREDICTQL_WRITER_AFFINITY`` off."""
    import tempfile

    from predictql.services import writer_relay

    os.environ.pop(writer_relay.RELAY_DIR_ENV, None)  # never a parent's
    os.environ.pop(writer_relay.WORKERS_ENV, None)
    if workers < 2 or not settings.writer_affinity:
        return None
    directory = tempfile.mkdtemp(prefix="predictql-writers-")  # mode 0700
    os.environ[writer_relay.RELAY_DIR_ENV] = directory
    os.environ[writer_relay.WORKERS_ENV] = str(workers)
    print(f"market affinity: market m's writes on worker m % {workers} (relay in {directory})", file=sys.stderr)
    return directory


def _share_metrics() -> None:
    """Workers count into one directory, so a scrape of any of them sees all (prometheus-client's
    multiprocess mode); a directory given in PROMETHEUS_MULTIPROC_DIR is emptied of a previous run's
    files first, else a fresh one is made. Set before the workers start (they read it at import)."""
    import tempfile

    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="predictql-metrics-")


def _openapi(contract: str | None) -> str:
    import yaml

    from predictql.rest_compat import openapi, routes
    from predictql.rest_compat.routing import REGISTRY

    del routes  # imported for its side effect: every REST module registers its endpoints
    path = Path(contract) if contract else openapi.DEFAULT_CONTRACT
    if not path.is_file():
        raise ConfigError(f"contract not found: {path} (pass --contract)")
    return openapi.render(openapi.document(REGISTRY, yaml.safe_load(path.read_text())))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        if args.command == "serve":
            _serve(settings, args)
        elif args.command == "migrate":
            asyncio.run(_with_db(settings, lambda db: asyncio.sleep(0)))
            print(json.dumps({"migrated": True}))
        elif args.command == "schema":
            from predictql.graphql_server.root import build_schema

            print(build_schema(settings).as_str())
        elif args.command == "ledger":
            return 0 if asyncio.run(_with_db(settings, lambda db: _ledger_check(db, args, settings))) else 1
        elif getattr(args, "money_out", None):
            from predictql import cli_backoffice

            rows = asyncio.run(_with_db(settings, lambda db: cli_backoffice.run(db, args, settings)))
            cli_backoffice.print_lines(rows)
        elif args.command == "openapi":
            print(_openapi(args.contract), end="")
        elif args.command == "backoffice":
            print(json.dumps(asyncio.run(_with_db(settings, lambda db: args.run(db, args)))))
        elif args.command == "prices":
            print(json.dumps(asyncio.run(_with_db(settings, lambda db: _set_price(db, args, settings)))))
        elif args.command == "fx":
            print(json.dumps(asyncio.run(_with_db(settings, lambda db: _set_rate(db, args)))))
        elif args.user_command == "create":
            print(json.dumps(asyncio.run(_with_db(settings, lambda db: _create_user(db, args)))))
        else:
            print(json.dumps(asyncio.run(_with_db(settings, lambda db: _credit(db, args)))))
    except (ConfigError, DomainError) as exc:
        print(f"predictql: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
