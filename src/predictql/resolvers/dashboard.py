"""GraphQL root field of the operator dashboard: ``operatorDashboard`` (operators and admins)."""

from __future__ import annotations

import strawberry

from predictql.schema.context import Info
from predictql.schema.dashboard import OperatorDashboard
from predictql.services import dashboard


@strawberry.type
class DashboardQuery:
    @strawberry.field(
        description="Operators and admins (FORBIDDEN otherwise): this process's connections, subscriptions "
        "and bus lag, the back-office queue sizes and the last ledger check, for /dashboard/#/operator."
    )
    async def operator_dashboard(self, info: Info) -> OperatorDashboard:
        context = info.context
        async with context.db.session() as session:
            figures = await dashboard.figures(session, context.actor, context.settings.data_dir)
        return OperatorDashboard.from_figures(figures)
