"""``Database.unit()``: a request's writes are held until what answers them is written beside them,
then commit together; leaving without committing keeps nothing; a failed write undoes only itself."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from predictql.db import Database, emit
from predictql.errors import Conflict
from predictql.models import User
from predictql.services import accounts
from tests.subscriptions.test_topics import Recorder
from tests.support import unique_email


@pytest.fixture
def recorded(db: Database) -> tuple[Database, Recorder]:
    recorder = Recorder()
    return Database(db.engine, publisher=recorder), recorder


async def _add_user(database: Database, email: str) -> None:
    async with database.transaction() as session:
        await accounts.create_user(session, email=email, password=None, verified=True)
        emit(session, "test:users", email)


async def _emails(db: Database, *emails: str) -> set[str]:
    async with db.session() as session:
        return set(await session.scalars(select(User.email).where(col(User.email).in_(emails))))


async def test_a_unit_commits_its_writes_with_the_last_write(db: Database, recorded: tuple[Database, Recorder]) -> None:
    database, recorder = recorded
    first, answer = unique_email("work"), unique_email("answer")
    async with database.unit() as unit:
        await _add_user(database, first)
        assert await _emails(database, first) == {first}  # reads inside the unit see its writes
        assert await _emails(db, first) == set()  # nobody else does yet
        assert recorder.published == []

        async def last(session: object) -> None:
            await accounts.create_user(session, email=answer, password=None, verified=True)  # type: ignore[arg-type]

        assert await database.commit_unit(unit, last)
    assert await _emails(db, first, answer) == {first, answer}
    assert [message for _, message in recorder.published] == [first]


async def test_leaving_a_unit_without_committing_keeps_nothing(
    db: Database, recorded: tuple[Database, Recorder]
) -> None:
    database, recorder = recorded
    email = unique_email("lost")
    with pytest.raises(RuntimeError):
        async with database.unit():
            await _add_user(database, email)
            raise RuntimeError("the response could not be built")
    assert await _emails(db, email) == set()
    assert recorder.published == []


async def test_a_failed_transaction_in_a_unit_undoes_only_itself(
    db: Database, recorded: tuple[Database, Recorder]
) -> None:
    database, recorder = recorded
    kept, undone = unique_email("kept"), unique_email("undone")
    async with database.unit() as unit:
        await _add_user(database, kept)
        with pytest.raises(Conflict):
            async with database.transaction() as session:
                await accounts.create_user(session, email=undone, password=None, verified=True)
                emit(session, "test:users", undone)
                await session.flush()
                raise Conflict("refused after writing")
        assert await database.commit_unit(unit, _nothing)
    assert await _emails(db, kept, undone) == {kept}
    assert [message for _, message in recorder.published] == [kept]


async def test_a_unit_without_a_finished_write_commits_nothing(db: Database) -> None:
    email = unique_email("never")
    async with db.unit() as unit:
        with pytest.raises(Conflict):
            async with db.transaction() as session:
                await accounts.create_user(session, email=email, password=None, verified=True)
                raise Conflict("refused")
        assert not await db.commit_unit(unit, _nothing)
    assert await _emails(db, email) == set()


async def _nothing(_session: object) -> None:
    return None
