"""GraphQL types of the operator dashboard (``operatorDashboard``; services/dashboard.py)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from predictql.services import dashboard


@strawberry.type(description="Active subscriptions to one kind of stream, in this process.")
class StreamSubscriptions:
    stream: str = strawberry.field(description="The stream (its bus channel with ids left out, e.g. market:trades).")
    count: int = strawberry.field(description="Subscriptions following it now.")


@strawberry.type(description="One back-office queue and how many of its items are open.")
class BackOfficeQueueSize:
    name: str = strawberry.field(
        description="The queue: card_orders, withdrawals, p2p_disputes or support_chats (those whose table exists)."
    )
    open: int = strawberry.field(description="Items waiting for an operator.")


@strawberry.type(description="What the last `predictql ledger check` found.")
class LedgerCheckResult:
    ok: bool = strawberry.field(description="True when it found no violation.")
    violations: int = strawberry.field(description="How many violations it found.")
    checked_at: datetime = strawberry.field(description="When it ran (RFC 3339, UTC).")


@strawberry.type(description="Live figures for the operator page of /dashboard (operators and admins).")
class OperatorDashboard:
    websockets: int = strawberry.field(description="WebSockets open on this process now.")
    subscriptions: list[StreamSubscriptions] = strawberry.field(
        description="Active subscriptions on this process, by stream (streams with none left out)."
    )
    bus_deliveries: int = strawberry.field(
        description="Bus messages delivered to subscribers by this process since it started."
    )
    bus_lag_mean_seconds: float | None = strawberry.field(
        description="Mean bus lag: from a message's publish (after its commit, in whichever process) to its "
        "delivery to each subscriber of this process; null before the first."
    )
    back_office_queues: list[BackOfficeQueueSize] = strawberry.field(
        description="Open items per back-office queue whose table exists."
    )
    last_ledger_check: LedgerCheckResult | None = strawberry.field(
        description="The last `predictql ledger check` run against this data directory; null if none was recorded."
    )

    @classmethod
    def from_figures(cls, figures: dashboard.Figures) -> OperatorDashboard:
        check = figures.ledger_check
        return cls(
            websockets=figures.websockets,
            subscriptions=[StreamSubscriptions(stream=s, count=c) for s, c in sorted(figures.subscriptions.items())],
            bus_deliveries=figures.bus_lag_count,
            bus_lag_mean_seconds=figures.bus_lag_mean_seconds,
            back_office_queues=[BackOfficeQueueSize(name=n, open=c) for n, c in figures.queues.items()],
            last_ledger_check=None
            if check is None
            else LedgerCheckResult(ok=check.ok, violations=check.violations, checked_at=check.at),
        )
