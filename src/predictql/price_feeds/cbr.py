"""The central-bank FX source: the CBR daily JSON (``PREDICTQL_FX_URL``), read every
``PREDICTQL_FX_POLL_SECONDS``. Its format: ``{"Date": "<RFC 3339>", "Valute": {"USD": {"CharCode":
"USD", "Nominal": 1, "Value": 92.45}, ...}}``: ``Value`` roubles buy ``Nominal`` units. Each
currency is stored against RUB; other pairs are crossed through RUB when read."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from predictql.db import Database, utcnow
from predictql.errors import DomainError
from predictql.jsonutil import as_utc
from predictql.services import assets
from predictql.settings import Settings

log = logging.getLogger("predictql.fx")


def parse_daily(body: dict[str, Any]) -> tuple[datetime, dict[str, int]]:
    """(as of, currency -> roubles per unit x 10^8) from a CBR daily document.

    ``as_of`` is when the document was published (``Timestamp``), not ``Date``, the day the rates
    take effect, which is often tomorrow: a rate is never dated in the future, and the same document
    read again is not newer than an operator's rate set after it."""
    as_of = utcnow()
    for key in ("Timestamp", "Date"):
        try:
            as_of = min(as_of, as_utc(datetime.fromisoformat(str(body[key]))))
            break
        except (KeyError, ValueError):
            continue
    rates: dict[str, int] = {}
    for code, item in (body.get("Valute") or {}).items():
        try:
            per_unit = Decimal(str(item["Value"])) / Decimal(str(item.get("Nominal", 1)))
            rates[assets.check_currency(str(code), "from")] = assets.parse_e8(per_unit, "rate")
        except (KeyError, ArithmeticError, DomainError):
            log.warning("unusable CBR rate for %r", code)
    return as_of, rates


class CbrFeed:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def run(self) -> None:
        while True:
            try:
                await self.poll()
                await asyncio.sleep(self.settings.fx_poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("FX source failed (%s); retrying", exc)
                await asyncio.sleep(min(60.0, self.settings.fx_poll_seconds))

    async def poll(self) -> int:
        """Read the source once and record its rates; how many."""
        async with httpx.AsyncClient(timeout=10) as http:
            response = await http.get(self.settings.fx_url)
            response.raise_for_status()
            as_of, rates = parse_daily(response.json())
        async with self.db.transaction() as session:
            for code, rate_e8 in sorted(rates.items()):
                await assets.record_rate(session, base=code, quote="RUB", rate_e8=rate_e8, source="cbr", as_of=as_of)
        return len(rates)
