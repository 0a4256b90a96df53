"""REST group ``users`` (lower_snake error codes, as its pages document), roles and API tokens."""

from __future__ import annotations

from typing import Any

from pydantic import StrictBool, StrictInt, StrictStr
from starlette.datastructures import UploadFile

from predictql.errors import InvalidInput
from predictql.rest_compat.presenters import money_movement, user_info_with_activity
from predictql.rest_compat.routing import ApiRequest, StrictBody, endpoint
from predictql.services import api_tokens, users


class UpdateMe(StrictBody):
    name: StrictStr | None = None
    nickname: StrictStr | None = None
    language: StrictStr | None = None
    theme: StrictStr | None = None
    profile_hidden: StrictBool | None = None


class SetRole(StrictBody):
    user_id: StrictInt
    role: StrictStr
    value: StrictBool = True


class NewToken(StrictBody):
    name: StrictStr
    write: StrictBool = False


@endpoint("GET", "/users/{id}", auth="optional", lower_codes=True)
async def get_user(api: ApiRequest) -> dict[str, Any]:
    user_id = api.path_int("id")
    async with api.db.session() as session:
        profile = await users.profile(session, api.actor, user_id=user_id)
        return await user_info_with_activity(session, api.actor, profile)


@endpoint("PUT", "/users/me", auth="required", lower_codes=True, body=UpdateMe)
async def update_me(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(UpdateMe)
    async with api.db.transaction() as session:
        profile = await users.update_me(session, api.actor, **body.model_dump(exclude_unset=True))
        return await user_info_with_activity(session, api.actor, profile)


@endpoint("POST", "/users/me/avatar", auth="required", lower_codes=True, upload="avatar")
async def upload_avatar(api: ApiRequest) -> dict[str, Any]:
    limit = api.settings.avatar_max_bytes
    if not api.request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise InvalidInput("multipart/form-data with an 'avatar' file is required", code="missing_file")
    try:
        form = await api.request.form(max_files=1, max_fields=10, max_part_size=limit + 1)
    except Exception as exc:  # python-multipart refuses oversize parts and bad encodings
        if "size" in str(exc).lower():
            raise InvalidInput("avatar too large", code="file_too_large") from exc
        raise InvalidInput("unreadable multipart body", code="missing_file") from exc
    upload = form.get("avatar")
    if not isinstance(upload, UploadFile):
        raise InvalidInput("an 'avatar' file is required", code="missing_file")
    content = await upload.read(limit + 1)
    async with api.db.transaction() as session:
        url = await users.set_avatar(
            session,
            api.actor,
            content=content,
            directory=api.settings.avatar_dir,
            base_url=api.settings.public_url,
            max_bytes=limit,
        )
    return {"avatar_url": url}


@endpoint("GET", "/users/me/transactions", auth="required", lower_codes=True)
async def transactions(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        return [money_movement(item) for item in await users.money_movements(session, api.actor)]


@endpoint("POST", "/stats/role", auth="stats_viewer", body=SetRole)
async def set_role(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(SetRole)
    async with api.db.transaction() as session:
        user = await users.set_role(session, api.actor, user_id=body.user_id, role=body.role, value=body.value)
    return {
        "user_id": user.id,
        "is_creator": user.is_creator,
        "is_stats_viewer": user.is_stats_viewer,
        "is_admin": user.is_admin,
    }


def _token(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "write": row.can_write, "created_at": row.created_at}


@endpoint("GET", "/users/me/api-tokens", auth="required", lower_codes=True)
async def list_tokens(api: ApiRequest) -> list[dict[str, Any]]:
    async with api.db.session() as session:
        return [_token(row) for row in await api_tokens.list_mine(session, api.actor)]


@endpoint("POST", "/users/me/api-tokens", auth="required", lower_codes=True, status=201, body=NewToken)
async def create_token(api: ApiRequest) -> dict[str, Any]:
    body = await api.body(NewToken)
    async with api.db.transaction() as session:
        row, secret = await api_tokens.create(session, api.actor, name=body.name, can_write=body.write)
    return {**_token(row), "token": secret}


@endpoint("DELETE", "/users/me/api-tokens/{id}", auth="required", lower_codes=True)
async def revoke_token(api: ApiRequest) -> dict[str, Any]:
    token_id = api.path_int("id")
    async with api.db.transaction() as session:
        await api_tokens.revoke(session, api.actor, token_id=token_id)
    return {}
