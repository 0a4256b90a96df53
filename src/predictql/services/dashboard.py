"""The operator dashboard's figures (issue 15 point 6): one read, for GraphQL ``operatorDashboard``.

Process figures (open WebSockets, active subscriptions by stream, bus publish-to-delivery lag) are
read from this process's ``metrics.py`` collectors: with ``--workers N`` each process answers for
itself (``/metrics`` aggregates them all). Back-office queue sizes are counted from the tables that
exist: add a ``Queue`` to ``QUEUES`` to show another one. The last ledger check is what
``predictql ledger check`` recorded in the data directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.metrics import MetricWrapperBase
from sqlalchemy import bindparam, inspect, text
from sqlalchemy.ext.asyncio import AsyncSession

from predictql import metrics
from predictql.auth import Actor


@dataclass(frozen=True)
class Queue:
    """One back-office queue: rows of ``table`` whose ``status`` is one of ``open_statuses``."""

    name: str
    table: str
    open_statuses: tuple[str, ...]


QUEUES: tuple[Queue, ...] = (
    Queue("card_orders", "card_orders", ("pending", "paid_by_user")),
    Queue("withdrawals", "withdrawals", ("pending",)),
    Queue("p2p_disputes", "p2p_orders", ("dispute",)),
    Queue("support_chats", "chat_sessions", ("escalated",)),
)


@dataclass(frozen=True)
class LedgerCheck:
    ok: bool
    violations: int
    at: datetime


@dataclass(frozen=True)
class Figures:
    websockets: int
    subscriptions: dict[str, int]
    bus_lag_count: int
    bus_lag_mean_seconds: float | None
    queues: dict[str, int]
    ledger_check: LedgerCheck | None


def _samples(metric: MetricWrapperBase, suffix: str = "") -> list[tuple[dict[str, str], float]]:
    """This process's samples of one collector (the public ``collect()``, not its private values)."""
    return [
        (dict(sample.labels), sample.value)
        for family in metric.collect()
        for sample in family.samples
        if sample.name == family.name + suffix
    ]


def process_figures() -> tuple[int, dict[str, int], int, float | None]:
    websockets = int(sum(value for _, value in _samples(metrics.WEBSOCKETS)))
    subscriptions = {
        labels.get("stream", ""): int(value) for labels, value in _samples(metrics.SUBSCRIPTIONS) if value > 0
    }
    count = int(sum(value for _, value in _samples(metrics.BUS_LAG, "_count")))
    total = sum(value for _, value in _samples(metrics.BUS_LAG, "_sum"))
    return websockets, subscriptions, count, (total / count if count else None)


def last_ledger_check(data_dir: Path) -> LedgerCheck | None:
    found = metrics._ledger_check(data_dir)
    if found is None:
        return None
    return LedgerCheck(
        ok=bool(found.get("ok")),
        violations=int(found.get("violations", 0)),
        at=datetime.fromtimestamp(float(found.get("at", 0)), UTC),
    )


async def queue_sizes(session: AsyncSession) -> dict[str, int]:
    """Open items per back-office queue whose table exists in this database."""
    connection = await session.connection()
    tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    sizes: dict[str, int] = {}
    for queue in QUEUES:
        if queue.table not in tables:
            continue
        # The table name is one of QUEUES' constants, never input; the statuses are bound.
        statement = text(f"SELECT count(*) FROM {queue.table} WHERE status IN :statuses").bindparams(
            bindparam("statuses", expanding=True)
        )
        params = {"statuses": list(queue.open_statuses)}
        sizes[queue.name] = int((await session.execute(statement, params)).scalar_one())
    return sizes


async def figures(session: AsyncSession, actor: Actor, data_dir: Path) -> Figures:
    """Operators and admins only (FORBIDDEN otherwise)."""
    actor.require_operator()
    websockets, subscriptions, lag_count, lag_mean = process_figures()
    return Figures(
        websockets=websockets,
        subscriptions=subscriptions,
        bus_lag_count=lag_count,
        bus_lag_mean_seconds=lag_mean,
        queues=await queue_sizes(session),
        ledger_check=last_ledger_check(data_dir),
    )
