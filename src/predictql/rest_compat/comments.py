"""REST routes of comments (our extension, README "Comments"; UPPER_SNAKE codes, the envelope).

- ``GET /events/{id}/comments?order=newest|oldest&limit=20&cursor=&parent_id=`` ->
  ``{"comments": [Comment], "next_cursor", "has_more"}``: the event's top-level comments, or with
  ``parent_id`` one comment's replies;
- ``POST /events/{id}/comments {"text", "parent_id"}`` -> 201 the comment;
- ``PATCH /comments/{id} {"text"}`` -> the comment; ``DELETE /comments/{id}`` ->
  ``{"message": "comment deleted successfully"}``; ``POST /comments/{id}/hide {"hidden"}`` (admins)
  -> the comment.

A comment: ``{"id", "event_id", "parent_id", "user": {"id", "name", "nickname", "avatar_url"},
"text", "status", "created_at", "edited_at", "reply_count", "positions": [{"market_id", "token",
"amount", "avg_price"}]}``. ``text`` is null once deleted or hidden; a hidden profile shows as
``Anonymous`` with null ``id`` and ``positions`` (to anyone but its owner).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictBool, StrictInt, StrictStr
from sqlalchemy.ext.asyncio import AsyncSession

from predictql.auth import Actor
from predictql.models import Comment
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import comments
from predictql.services.cursors import DEFAULT_PAGE, MAX_PAGE, PageArgs
from predictql.settings import Settings


class NewComment(StrictBody):
    text: StrictStr
    parent_id: StrictInt | None = Field(default=None, ge=1, le=2**63 - 1)


class EditComment(StrictBody):
    text: StrictStr


class HideComment(StrictBody):
    hidden: StrictBool


def limits(settings: Settings) -> comments.Limits:
    return comments.Limits(
        settings.comment_max_length, settings.comment_edit_window_seconds, settings.comment_rate_per_minute
    )


async def comments_json(session: AsyncSession, actor: Actor, rows: list[Comment]) -> list[dict[str, Any]]:
    """Comments with their authors, reply counts and the authors' positions: four statements in all."""
    users = await comments.authors(session, (row.user_id for row in rows))
    counts = await comments.reply_counts(session, [row.id or 0 for row in rows])
    shown = [row for row in rows if not users[row.user_id].profile_hidden or row.user_id == actor.user_id]
    held = await comments.positions_in_events(session, {(row.event_id, row.user_id) for row in shown})
    out = []
    for row in rows:
        user = users[row.user_id]
        visible = not user.profile_hidden or row.user_id == actor.user_id
        out.append(
            {
                "id": row.id,
                "event_id": row.event_id,
                "parent_id": row.parent_id,
                "user": {
                    "id": user.id if visible else None,
                    "name": user.name if visible else comments.author_name(user),
                    "nickname": user.nickname if visible else None,
                    "avatar_url": user.avatar_url if visible else None,
                },
                "text": comments.shown_body(row),
                "status": row.status,
                "created_at": row.created_at,
                "edited_at": row.edited_at,
                "reply_count": counts.get(row.id or 0, 0),
                "positions": [
                    {"market_id": p.market_id, "token": p.token, "amount": p.amount, "avg_price": p.avg_price}
                    for p in held[(row.event_id, row.user_id)]
                ]
                if visible
                else None,
            }
        )
    return out


@endpoint("GET", "/events/{id}/comments", auth="optional")
async def list_comments(api: ApiRequest) -> dict[str, Any]:
    """An event's comments (or one comment's replies), newest or oldest first, cursor-paged."""
    event_id = api.path_int("id")
    order = api.query_choice("order", comments.ORDERS, "newest")
    size = api.query_int("limit", DEFAULT_PAGE, lo=1, hi=MAX_PAGE)
    parent_id = api.query_int("parent_id", None, lo=1)
    args = PageArgs(first=size, after=api.request.query_params.get("cursor") or None)
    async with api.db.session() as session:
        page = await comments.page(session, api.actor, event_id=event_id, args=args, order=order, parent_id=parent_id)
        items = await comments_json(session, api.actor, page.items)
    return {"comments": items, "next_cursor": page.next_cursor, "has_more": page.has_more}


@endpoint("POST", "/events/{id}/comments", auth="required", status=201, body=NewComment)
async def create_comment(api: ApiRequest) -> dict[str, Any]:
    """Comment on an event, or reply (parent_id) to one of its top-level comments."""
    event_id = api.path_int("id")
    body = await api.body(NewComment)
    async with api.db.transaction() as session:
        row = await comments.create(
            session, api.actor, event_id=event_id, body=body.text, parent_id=body.parent_id, limits=limits(api.settings)
        )
        (item,) = await comments_json(session, api.actor, [row])
    return item


@endpoint("PATCH", "/comments/{id}", auth="required", body=EditComment)
async def edit_comment(api: ApiRequest) -> dict[str, Any]:
    """Edit one's own comment within the edit window."""
    comment_id = api.path_int("id")
    body = await api.body(EditComment)
    async with api.db.transaction() as session:
        row = await comments.edit(
            session, api.actor, comment_id=comment_id, body=body.text, limits=limits(api.settings)
        )
        (item,) = await comments_json(session, api.actor, [row])
    return item


@endpoint("DELETE", "/comments/{id}", auth="required")
async def delete_comment(api: ApiRequest) -> dict[str, str]:
    """Delete one's own comment (its replies stay)."""
    comment_id = api.path_int("id")
    async with api.db.transaction() as session:
        await comments.delete(session, api.actor, comment_id=comment_id)
    return {"message": "comment deleted successfully"}


@endpoint("POST", "/comments/{id}/hide", auth="admin", body=HideComment)
async def hide_comment(api: ApiRequest) -> dict[str, Any]:
    """Admins: hide a comment (shown as hidden) or show it again."""
    comment_id = api.path_int("id")
    body = await api.body(HideComment)
    async with api.db.transaction() as session:
        row = await comments.set_hidden(session, api.actor, comment_id=comment_id, hidden=body.hidden)
        (item,) = await comments_json(session, api.actor, [row])
    return item
