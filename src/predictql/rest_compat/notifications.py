"""REST group ``notifications`` (lower_snake codes, as its pages write ``unauthorized``, ``not_found``).

Lists are bare arrays of ``Notification``, newest first. The two guide-only routes have no
documented response; ours:

- ``PUT /notifications/read-all`` -> ``{"message": "all notifications marked as read", "count": N}``
  (``count``: how many were unread);
- ``PUT /notifications/{id}/read`` -> the notification as it now is (``read: true``, ``read_at``).
"""

from __future__ import annotations

from typing import Any

from predictql.models import Notification
from predictql.rest_compat.routing import ApiRequest, endpoint
from predictql.services import notifications

BAD = "bad_request"  # limit/offset that are not integers in range


def notification_json(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "user_id": row.user_id,
        "type": row.type,
        "title": row.title,
        "message": row.message,
        "read": row.read,
        "created_at": row.created_at,
        "read_at": row.read_at,
        "related_id": row.related_id,
        "related_type": row.related_type,
    }


@endpoint("GET", "/notifications", auth="required", lower_codes=True, invalid_code=BAD)
async def list_notifications(api: ApiRequest) -> list[dict[str, Any]]:
    limit = api.query_int("limit", notifications.DEFAULT_LIMIT, lo=1, hi=notifications.MAX_LIMIT)
    offset = api.query_int("offset", 0, lo=0, hi=notifications.MAX_OFFSET)
    async with api.db.session() as session:
        rows = await notifications.list_notifications(session, api.actor, limit=limit or 1, offset=offset or 0)
    return [notification_json(row) for row in rows]


@endpoint("GET", "/notifications/unread", auth="required", lower_codes=True, invalid_code=BAD)
async def unread(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        return [notification_json(row) for row in await notifications.unread(session, api.actor)]


@endpoint("GET", "/notifications/unread/count", auth="required", lower_codes=True, invalid_code=BAD)
async def unread_count(api: ApiRequest) -> dict[str, int]:
    async with api.db.session() as session:
        return {"count": await notifications.unread_count(session, api.actor)}


@endpoint("PUT", "/notifications/read-all", auth="required", lower_codes=True, invalid_code=BAD)
async def read_all(api: ApiRequest) -> dict[str, Any]:
    async with api.db.transaction() as session:
        count = await notifications.mark_all_read(session, api.actor)
    return {"message": "all notifications marked as read", "count": count}


@endpoint("PUT", "/notifications/{id}/read", auth="required", lower_codes=True, invalid_code=BAD)
async def read_one(api: ApiRequest) -> dict[str, Any]:
    notification_id = api.path_int("id")
    async with api.db.transaction() as session:
        row = await notifications.mark_read(session, api.actor, notification_id=notification_id)
    return notification_json(row)


@endpoint("DELETE", "/notifications/{id}", auth="required", lower_codes=True, invalid_code=BAD)
async def delete(api: ApiRequest) -> dict[str, str]:
    notification_id = api.path_int("id")
    async with api.db.transaction() as session:
        await notifications.delete(session, api.actor, notification_id=notification_id)
    return {"message": "notification deleted successfully"}
