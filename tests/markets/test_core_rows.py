"""``models.core``'s multi-row writes: one statement whatever the number of rows, the same rows on
both stores (``unnest`` of one array per column on PostgreSQL, an executemany on SQLite)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from predictql.db import Database, utcnow
from predictql.models import Market, PricePoint, StreamEvent, core
from tests.api.test_lmsr_api import live_market
from tests.graphql.test_round_trips import count_statements, split


async def test_insert_many_writes_every_row_in_one_statement(db: Database) -> None:
    now = utcnow()
    rows = [
        {"channel": f"test:{index % 3}", "seq": index, "payload": f'{{"n":{index},"s":"Привет"}}', "created_at": now}
        for index in range(1, 41)
    ]
    async with db.transaction() as session:
        with count_statements(db) as seen:
            await core.insert_many(session, StreamEvent, rows)
        assert split(seen)[0] == 1, seen
    async with db.session() as session:
        found = (await session.execute(select(StreamEvent).order_by(col(StreamEvent.seq)))).scalars().all()
    assert [(row.channel, row.seq, row.payload) for row in found] == [
        (row["channel"], row["seq"], row["payload"]) for row in rows
    ]
    assert {row.created_at for row in found} == {now}


async def test_insert_many_gives_a_missing_column_its_python_default(db: Database) -> None:
    market = await live_market(db)
    before = utcnow()
    async with db.transaction() as session:  # created_at not given: ``created_at()``'s utcnow
        await core.insert_many(session, PricePoint, [{"market_id": market.id, "probability": p} for p in (0.25, 0.5)])
    async with db.session() as session:
        found = list(
            await session.scalars(
                select(PricePoint).where(col(PricePoint.created_at) >= before).order_by(col(PricePoint.id))
            )
        )
    assert [point.probability for point in found] == [0.25, 0.5]
    assert all(before <= point.created_at <= utcnow() for point in found)


async def test_save_updates_each_row_once_as_it_is_now(db: Database) -> None:
    first, second = await live_market(db), await live_market(db)
    later = utcnow() + timedelta(hours=1)
    async with db.transaction() as session:
        rows = [core.build(Market, core.values_of(market)) for market in (first, second)]
        rows[0].q_yes, rows[0].volume = 123, 7
        rows[1].q_no, rows[1].paused, rows[1].resolved_at = 456, True, later
        with count_statements(db) as seen:
            await core.save(session, [rows[0], rows[1], rows[0]], ("q_yes", "q_no", "volume", "paused", "resolved_at"))
        assert split(seen)[0] == 1, seen
    async with db.session() as session:
        found = {
            m.id: m for m in await session.scalars(select(Market).where(col(Market.id).in_([first.id, second.id])))
        }
    assert (found[first.id].q_yes, found[first.id].q_no, found[first.id].volume) == (123, first.q_no, 7)
    assert (found[first.id].paused, found[first.id].resolved_at) == (False, None)
    assert (found[second.id].q_yes, found[second.id].q_no) == (second.q_yes, 456)
    assert (found[second.id].paused, found[second.id].resolved_at) == (True, later)


async def test_add_with_saves_rows_of_other_models_in_the_same_statement(db: Database) -> None:
    """``add_with(..., saving=...)``: the rows added get their ids, the rows beside are inserted and
    each saved group is written (a row named twice once, as it is now): one statement on PostgreSQL."""
    first, second, third = await live_market(db), await live_market(db), await live_market(db)
    now = utcnow()
    async with db.transaction() as session:
        points = [
            core.build(PricePoint, {"market_id": first.id, "probability": p, "created_at": now}) for p in (0.1, 0.2)
        ]
        beside = [{"channel": "test:with", "seq": n, "payload": "{}", "created_at": now} for n in (1, 2, 3)]
        moved = [core.build(Market, core.values_of(market)) for market in (first, second)]
        paused = core.build(Market, core.values_of(third))
        core.put(moved[0], volume=11, last_price=4100)
        core.put(moved[1], volume=22, last_price=4200)
        core.put(paused, paused=True)
        saving = [([moved[0], moved[1], moved[0]], ("volume", "last_price")), ([paused], ("paused",)), ([], ("q_yes",))]
        with count_statements(db) as seen:
            await core.add_with(session, points, StreamEvent, beside, saving=saving)
        if db.engine.dialect.name == "postgresql":
            assert split(seen)[0] == 1, seen
    assert all(point.id for point in points) and points[0].id < points[1].id  # type: ignore[operator]
    async with db.session() as session:
        found = {
            m.id: m
            for m in await session.scalars(
                select(Market).where(col(Market.id).in_([m.id for m in (first, second, third)]))
            )
        }
        events = list(await session.scalars(select(StreamEvent).where(col(StreamEvent.channel) == "test:with")))
        stored = list(await session.scalars(select(PricePoint).where(col(PricePoint.id).in_([p.id for p in points]))))
    assert (found[first.id].volume, found[first.id].last_price) == (11, 4100)
    assert (found[second.id].volume, found[second.id].last_price) == (22, 4200)
    assert found[third.id].paused and not found[first.id].paused
    assert sorted(e.seq for e in events) == [1, 2, 3]
    assert sorted(p.probability for p in stored) == [0.1, 0.2]
