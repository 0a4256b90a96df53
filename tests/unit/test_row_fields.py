"""``schema/row_fields.py``: a type built ``lazy`` answers exactly what ``from_row`` answers, field by
field and through the inline leaf executor; the price memo and the JSON column decoder the executed
feed relies on give what they replaced."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from predictql.graphql_server.leaf_fields import LeafFieldsExecutor, leaf_plans
from predictql.jsonutil import loads_column
from predictql.models import Event as EventRow
from predictql.models import Market as MarketRow
from predictql.models import Pool as PoolRow
from predictql.schema.markets import Event, Market, Pool
from predictql.schema.row_fields import Fields, RowFields
from predictql.schema.scalars import SCALARS
from predictql.services import prices

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def _markets() -> list[MarketRow]:
    base: dict[str, Any] = {"pool_id": 7, "event_id": 3, "name": "A", "lmsr_b": 10_000, "p0": 0.3}
    return [
        MarketRow(id=11, **base),
        MarketRow(id=12, **{**base, "q_yes": 4_000, "q_no": 1_000, "volume": 2_500, "paused": True}),
        MarketRow(id=13, **{**base, "resolved": True, "winning_outcome": "NO", "resolved_at": NOW}),
        MarketRow(id=14, **{**base, "market_type": "orderbook", "last_price": 6_130, "name_ru": "Б"}),
    ]


def _pool() -> PoolRow:
    return PoolRow(
        id=7, event_id=3, name="P", live_at=NOW, finish_at=NOW, won_side=1, meta={"market_names": ["A"]}, margin=0.02
    )


def _event() -> EventRow:
    return EventRow(
        id=3, creator_id=2, name="E", tags=["x", "y"], versus_names=["a", "b"], main_pool_id=7, created_at=NOW
    )


@pytest.mark.parametrize("kind", [Market, Pool, Event])
def test_fields_list_every_field_of_the_type(kind: type[RowFields]) -> None:
    declared = {field.name for field in dataclasses.fields(kind) if field.init} - {"row"}  # type: ignore[arg-type]
    assert set(kind.FIELDS) == declared


@pytest.mark.parametrize(
    ("kind", "rows"),
    [(Market, _markets()), (Pool, [_pool()]), (Event, [_event()])],
    ids=["market", "pool", "event"],
)
def test_lazy_answers_what_from_row_answers(kind: type[RowFields], rows: list[Any]) -> None:
    for row in rows:
        eager, lazy = kind.from_row(row), kind.lazy(row)
        assert "name" not in lazy.__dict__  # nothing computed yet
        for name in kind.FIELDS:
            assert getattr(lazy, name) == getattr(eager, name), name
        assert eager == lazy


def test_from_row_keeps_the_values_of_its_moment() -> None:
    row = _markets()[0]
    eager = Market.from_row(row)
    row.q_yes, row.volume = 5_000, 900
    assert (eager.yes_price, eager.volume) == (3_000, 0)
    lazy = Market.lazy(row)
    assert lazy.volume == 900 and lazy.yes_price > 3_000


@strawberry.type
class Box(RowFields):
    name: str
    size: int
    label: str | None
    row: strawberry.Private[dict[str, Any]]
    FIELDS: ClassVar[Fields] = {
        "name": lambda row: row["name"],
        "size": lambda row: row["size"] * 2,
        "label": lambda row: row.get("label"),
    }


@strawberry.type
class Query:
    @strawberry.field
    def boxes(self) -> list[Box]:
        rows = [{"name": "a", "size": 1}, {"name": "b", "size": 2, "label": "x"}]
        lazy = [Box.lazy(row) for row in rows]
        lazy[1].name = "set on the instance"  # a value on the instance wins over the row
        return [*lazy, *(Box.from_row(row) for row in rows)]


def _run(executor: type[StrawberryGraphQLCoreExecutionContext]) -> dict[str, Any]:
    schema = strawberry.Schema(
        query=Query, config=StrawberryConfig(scalar_map=SCALARS), execution_context_class=executor
    )
    result = asyncio.run(schema.execute("{ boxes { name size label again: size } }"))
    return {"data": result.data, "errors": [error.formatted for error in result.errors or []]}


def test_inline_leaves_of_lazy_objects_answer_as_graphql_core_does() -> None:
    ours, theirs = _run(LeafFieldsExecutor), _run(StrawberryGraphQLCoreExecutionContext)
    assert ours == theirs
    assert ours["data"]["boxes"] == [
        {"name": "a", "size": 2, "label": None, "again": 2},
        {"name": "set on the instance", "size": 4, "label": "x", "again": 4},
        {"name": "a", "size": 2, "label": None, "again": 2},
        {"name": "b", "size": 4, "label": "x", "again": 4},
    ]
    schema = strawberry.Schema(query=Query, config=StrawberryConfig(scalar_map=SCALARS))
    plans = leaf_plans(schema._schema.type_map["Box"])  # type: ignore[arg-type]
    assert all(plan[3] is Box.FIELDS[plan[0]] for plan in plans.values())


def test_price_memo_gives_the_computed_price_and_follows_the_state() -> None:
    for row in _markets():
        memo = prices.market_price(row)
        computed = prices._price.__wrapped__(  # the function before memoizing
            row.resolved, row.winning_outcome, row.market_type, row.last_price, row.q_yes, row.q_no, row.lmsr_b, row.p0
        )
        assert memo == computed
    row = _markets()[0]
    before = prices.market_price(row)
    row.q_yes += 1_000
    assert prices.market_price(row).yes > before.yes
    row.q_yes = 1.5  # type: ignore[assignment]  # not an int: refused, not served from the memo
    with pytest.raises(ValueError, match="must be an int"):
        prices.market_price(row)


def test_json_columns_decode_as_the_standard_library_did() -> None:
    for text in ['{"a": [1, 2.5, "\\u00e9", null, true]}', "[]", '"x"', f'{{"big": {2**70}}}', '{"n": NaN}']:
        decoded, expected = loads_column(text), json.loads(text)
        if text.endswith("NaN}"):
            assert math.isnan(decoded["n"]) and math.isnan(expected["n"])
        else:
            assert decoded == expected
    assert loads_column(b'{"a": 1}') == {"a": 1}
