"""What a write transaction sets off once it commits: one typed object per session.

Services fill it inside their transaction (``db.emit``, ``db.after_commit``, the ``topics.*_changed``
marks); just before the commit ``services.live.publish_final_states`` turns the marks into messages
and ``stream_log.sequence`` numbers them; the commit then hands the object to
``Database._after_commit``, which publishes the messages and runs the callbacks. A rollback drops
it with the session; a savepoint that rolls back restores the ``snapshot`` taken before it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from predictql.models import Order, Position

AfterCommit = Callable[[], Awaitable[None]]


class Snapshot(NamedTuple):  # a tuple: the cheapest to build, once per savepoint
    """A ``CommitEffects`` as it was: lengths of its append-only queues, copies of its marks."""

    messages: int
    callbacks: int
    orders: dict[int, Order]
    positions: dict[int, Position]
    balances: set[int]
    book: dict[int, set[tuple[bool, int]]]


_NO_ROWS: dict[int, Any] = {}  # shared by empty snapshots: never changed (restore copies)
_NO_IDS: set[int] = set()


@dataclass(slots=True)
class CommitEffects:
    """What one transaction queued for after its commit (``effects(session)`` fills it)."""

    # Bus messages (channel, payload) in emission order; ``stream_log.sequence`` numbers them in place.
    messages: list[tuple[str, str]] = field(default_factory=list)
    callbacks: list[AfterCommit] = field(default_factory=list)  # run after the commit, in order
    # Marked changed, emitted once each as they are at the end (``topics.take_marked``):
    orders: dict[int, Order] = field(default_factory=dict)  # id(order) -> the instance
    positions: dict[int, Position] = field(default_factory=dict)  # id(position) -> the instance
    balances: set[int] = field(default_factory=set)  # user ids
    book: dict[int, set[tuple[bool, int]]] = field(default_factory=dict)  # market id -> (is bid, YES price)

    def snapshot(self) -> Snapshot:
        """What ``restore`` returns to; cheap: the queues only grow until the commit."""
        if not (self.orders or self.positions or self.balances or self.book):  # the usual case
            return Snapshot(len(self.messages), len(self.callbacks), _NO_ROWS, _NO_ROWS, _NO_IDS, _NO_ROWS)
        return Snapshot(
            len(self.messages),
            len(self.callbacks),
            dict(self.orders),
            dict(self.positions),
            set(self.balances),
            {market_id: set(levels) for market_id, levels in self.book.items()},
        )

    def restore(self, saved: Snapshot) -> None:
        """Forget what was queued or marked since ``saved`` (its savepoint rolled back)."""
        del self.messages[saved.messages :]
        del self.callbacks[saved.callbacks :]
        self.orders = dict(saved.orders)
        self.positions = dict(saved.positions)
        self.balances = set(saved.balances)
        self.book = {market_id: set(levels) for market_id, levels in saved.book.items()}


def effects(session: AsyncSession) -> CommitEffects:
    """This session's effects, created on first use."""
    found = session.info.get(CommitEffects)
    if found is None:
        found = session.info[CommitEffects] = CommitEffects()
    return found


def take_effects(session: AsyncSession) -> CommitEffects:
    """Detach this session's effects (the commit hands them on); an empty object when none."""
    found: CommitEffects | None = session.info.pop(CommitEffects, None)
    return found if found is not None else CommitEffects()
