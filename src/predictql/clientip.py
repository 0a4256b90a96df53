"""The one place that decides a request's client address (used by the rate limits and the logs).

``X-Forwarded-For`` is believed only when the TCP peer is a configured trusted proxy
(``PREDICTQL_TRUSTED_PROXIES``). Then the header is read from the right: each proxy appends the
address it received from, so the rightmost address that is not itself a trusted proxy is the first
one that no trusted party vouches for, the client. Everything left of it may be forged by the
client and is ignored. With no trusted proxies (the default) the header is ignored entirely: a
client sending 80 different forged addresses gets one budget, its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    """``10.0.0.0/8``, ``127.0.0.1`` or ``::1``; raises ValueError on anything else."""
    return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip())


class ClientAddress:
    def __init__(self, trusted: Sequence[Network]) -> None:
        self.trusted = tuple(trusted)

    def _is_trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted)

    def resolve(self, scope: Scope) -> tuple[str, str | None]:
        """(client address, scheme from ``X-Forwarded-Proto`` or None) for one request."""
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        if not self.trusted or not self._is_trusted(peer):
            return peer, None
        hops: list[str] = []
        proto: str | None = None
        for key, value in scope.get("headers", ()):
            if key == b"x-forwarded-for":
                hops.extend(part.strip() for part in value.decode("latin-1").split(","))
            elif key == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
        address = peer
        for hop in reversed([hop for hop in hops if hop]):
            address = _plain(hop)
            if not self._is_trusted(address):
                break
        return address, proto if proto in ("http", "https") else None

    def apply(self, scope: Scope) -> str:
        """Rewrite ``scope`` so every layer below (Starlette's ``request.client``, cookies' Secure
        flag) sees the resolved client and scheme; returns the client address."""
        address, proto = self.resolve(scope)
        client = scope.get("client")
        if client is None or client[0] != address:
            scope["client"] = (address, client[1] if client else 0)
        if proto is not None:
            websocket = scope["type"] == "websocket"
            scope["scheme"] = {"http": "ws", "https": "wss"}[proto] if websocket else proto
        return address


def _plain(hop: str) -> str:
    """An address without the port some proxies add (``1.2.3.4:5678``, ``[::1]:80``)."""
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop
