"""Automatic persisted queries, Apollo's protocol, so ``PersistedQueryLink`` works unchanged.

A client first sends only ``extensions.persistedQuery = {version: 1, sha256Hash}``. If this process
knows the hash it runs the stored text; if not it answers ``PERSISTED_QUERY_NOT_FOUND`` and the client
sends hash and text together; the text is checked against the hash and, once it has parsed and
validated, stored. Over POST and GET alike (Apollo's ``useGETForHashedQueries``).

The store is per process and bounded (least recently used out first): a miss costs the client one
round trip with the full text, never a wrong answer, so processes need not share it.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from predictql.graphql_server.http_request import GraphQLRequest, RequestError, bad_request

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueryNotFound(RequestError):
    """Answered 200 whatever the media type: older Apollo links stop using hashes after a 400."""

    def __init__(self) -> None:
        super().__init__(200, NOT_FOUND, "PersistedQueryNotFound")  # the message Apollo's link matches


class PersistedQueries:
    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._texts: OrderedDict[str, str] = OrderedDict()

    def resolve(self, request: GraphQLRequest) -> tuple[GraphQLRequest, str | None]:
        """The request with its query text filled in, and the hash to store it under once it validated."""
        wanted = _hash_of(request.extensions)
        if wanted is None:
            if request.query is None:
                raise bad_request("missing `query`: send the GraphQL document as a string")
            return request, None
        if request.query is None:
            text = self._texts.get(wanted)
            if text is None:
                raise PersistedQueryNotFound
            self._texts.move_to_end(wanted)
            return replace(request, query=text), None
        if hashlib.sha256(request.query.encode()).hexdigest() != wanted:
            raise bad_request("provided sha does not match query")
        return request, wanted

    def store(self, sha256: str, text: str) -> None:
        self._texts[sha256] = text
        self._texts.move_to_end(sha256)
        while len(self._texts) > self.max_entries:
            self._texts.popitem(last=False)


def _hash_of(extensions: dict[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is None:
        return None
    version = persisted.get("version") if isinstance(persisted, dict) else None
    if type(version) is not int or version != 1:  # type(): True == 1 in Python
        raise bad_request("unsupported persisted query version: send persistedQuery.version 1")
    assert isinstance(persisted, dict)
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise bad_request("persistedQuery.sha256Hash must be 64 lowercase hexadecimal digits")
    return sha
