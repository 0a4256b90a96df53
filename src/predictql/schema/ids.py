"""Global object ids: a readable prefix plus the row id (``mkt_101``), one table of prefixes.

GraphQL clients see only these ids (``Node.id``, every ``ID`` argument); REST keeps its integers.
They are self-describing in logs and support chats, and clients treat them as opaque. An id of the
wrong kind, or one that is not an id at all, is the client's mistake: ``InvalidInput`` with the code
``INVALID_ID``, never a lookup of some other table's row.
"""

from __future__ import annotations

import re
from enum import Enum

from predictql.errors import InvalidInput
from predictql.inputs import INT64_MAX


class Kind(Enum):
    """Every kind of node, by its id prefix (README "GraphQL ids")."""

    USER = "usr"
    EVENT = "evt"
    POOL = "pool"
    MARKET = "mkt"
    ORDER = "ord"
    TRADE = "trd"
    POSITION = "pos"
    NOTIFICATION = "ntf"
    API_TOKEN = "tok"
    TRANSACTION = "txn"
    SUGGESTION = "sug"
    CARD_ORDER = "card"
    CARD_MESSAGE = "cmsg"
    WITHDRAWAL = "wdr"
    AUDIT_ENTRY = "aud"
    CHAT_SESSION = "chat"
    CHAT_MESSAGE = "smsg"
    COMMENT = "cmt"
    ALERT = "alrt"
    ALERT_FIRING = "afire"
    P2P_AD = "pad"
    P2P_ORDER = "pord"
    P2P_MESSAGE = "pmsg"
    ASSET = "ast"


_BY_PREFIX = {kind.value: kind for kind in Kind}
_SHAPE = re.compile(r"([a-z]+)_([1-9][0-9]{0,18})")


def encode(kind: Kind, row_id: int) -> str:
    return f"{kind.value}_{row_id}"


def parse(value: str, field: str | None = None) -> tuple[Kind, int]:
    """The kind and row id of any global id; ``INVALID_ID`` (about input ``field``) when it is not one."""
    match = _SHAPE.fullmatch(value) if isinstance(value, str) else None
    kind = _BY_PREFIX.get(match.group(1)) if match else None
    if match is None or kind is None or int(match.group(2)) > INT64_MAX:
        raise InvalidInput(f"not an id: {value!r}", "INVALID_ID", field=field)
    return kind, int(match.group(2))


def decode(kind: Kind, value: str, field: str | None = None) -> int:
    """The row id of an id that must be of ``kind`` (an argument such as ``marketId``, named by ``field``)."""
    found, row_id = parse(value, field)
    if found is not kind:
        raise InvalidInput(f"{value!r} is not a {kind.name.lower().replace('_', ' ')} id", "INVALID_ID", field=field)
    return row_id
