"""Relay-style pagination shared by every GraphQL connection."""

from __future__ import annotations

import strawberry


@strawberry.type(description="Where a page ends and whether another follows.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Another page follows: pass endCursor as `after` to get it.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` to get the next page.")
