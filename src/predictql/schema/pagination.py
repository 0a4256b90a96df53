"""Relay-style connections: the one machinery every growing list of the schema pages with.

``Connection[X]`` is exposed as ``XConnection`` with ``edges { cursor node }``, ``nodes``,
``pageInfo`` (both directions) and ``totalCount``. Lists are newest first; ``first``/``after`` pages
towards older rows, ``last``/``before`` towards newer ones, each at most ``MAX_PAGE`` rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from predictql.schema.context import Info
from predictql.services.cursors import DEFAULT_PAGE, MAX_PAGE, Page, PageArgs, encode_cursor

NodeT = TypeVar("NodeT")
RowT = TypeVar("RowT")

BOUNDS = f"1-{MAX_PAGE}"
First = Annotated[
    int | None,
    strawberry.argument(
        description=f"Page size counted from the newest end, {BOUNDS}; {DEFAULT_PAGE} when neither first nor "
        "last is given. Not with last."
    ),
]
After = Annotated[
    str | None, strawberry.argument(description="Start after this cursor (an edge's cursor or endCursor).")
]
Last = Annotated[
    int | None,
    strawberry.argument(description=f"Page size counted backwards from `before` (or the oldest end), {BOUNDS}."),
]
Before = Annotated[
    str | None, strawberry.argument(description="End before this cursor (an edge's cursor or startCursor).")
]


@strawberry.type(description="Where a page starts and ends, and whether more rows lie either way.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Rows follow the page (pass endCursor as `after`).")
    has_previous_page: bool = strawberry.field(
        description="Rows precede the page (pass startCursor as `before`). Going forward this is true "
        "whenever `after` was given (Relay's cheap form); going backward it is exact."
    )
    start_cursor: str | None = strawberry.field(description="The first edge's cursor; null for an empty page.")
    end_cursor: str | None = strawberry.field(description="The last edge's cursor; null for an empty page.")


@strawberry.type(description="One row of a connection and the cursor that points at it.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Pass as `after` or `before` to page from this row.")
    node: NodeT = strawberry.field(description="The row.")


@strawberry.type(
    description=f"A page of a list, newest first: edges or nodes, pageInfo, totalCount. Page sizes are {BOUNDS}."
)
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The page's rows with their cursors.")
    page_info: PageInfo = strawberry.field(description="Cursors and whether more rows lie either way.")
    count: strawberry.Private[int | None]

    @strawberry.field(description="The page's rows, without cursors.")
    def nodes(self) -> list[NodeT]:
        return [edge.node for edge in self.edges]

    @strawberry.field(description="How many rows the whole list has (every page together).")
    def total_count(self) -> int:
        assert self.count is not None, "totalCount was selected but not counted"
        return self.count


def page_args(info: Info, first: int | None, after: str | None, last: int | None, before: str | None) -> PageArgs:
    """The validated page the arguments ask for; counted only when ``totalCount`` is selected."""
    return PageArgs(first, after, last, before, with_total=wants_total(info)).checked()


def wants_total(info: Info) -> bool:
    return any(_selects(field.selections, "totalCount") for field in info.selected_fields)


def _selects(selections: list[Any], name: str) -> bool:
    for selection in selections:
        if isinstance(selection, SelectedField) and selection.name == name:
            return True
        if isinstance(selection, FragmentSpread | InlineFragment) and _selects(selection.selections, name):
            return True
    return False


def connection(
    page: Page[RowT], node: Callable[[RowT], NodeT], row_id: Callable[[RowT], int | None]
) -> Connection[NodeT]:
    """``page`` as a connection of ``node(row)``; cursors name each row by ``row_id``."""
    edges = [Edge(cursor=encode_cursor(row_id(row) or 0), node=node(row)) for row in page.items]
    info = PageInfo(
        has_next_page=page.has_more,
        has_previous_page=page.has_previous,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges=edges, page_info=info, count=page.total)


def ranked_connection(
    rows: list[RowT],
    cursors: list[str],
    has_next: bool,
    has_previous: bool,
    node: Callable[[RowT], NodeT],
    total: int | None = None,
) -> Connection[NodeT]:
    """A connection of rows that carry their own cursors (a ranking's positions, a two-way page)."""
    edges = [Edge(cursor=cursor, node=node(row)) for row, cursor in zip(rows, cursors, strict=True)]
    info = PageInfo(
        has_next_page=has_next,
        has_previous_page=has_previous,
        start_cursor=edges[0].cursor if edges else None,
        end_cursor=edges[-1].cursor if edges else None,
    )
    return Connection(edges=edges, page_info=info, count=total)
