"""Asset prices (crypto pairs), their history for charts, and fiat exchange rates.

Prices are exact decimals stored as integers scaled by 10^8 (``price_e8``): an exchange quotes
strings such as ``"84532.17"`` or ``"0.00001234"``, and floats appear only in the documented
responses (DECISIONS rule 1). ``as_of`` is the source's own time of the price; the database is the
truth that every process reads, the bus only fans changes out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from predictql.db import UTCDateTime
from predictql.models.base import created_at, fk, id_field, when


class Asset(SQLModel, table=True):
    """One tradable symbol (Bybit naming, e.g. BTCUSDT) and its latest recorded price."""

    __tablename__ = "assets"

    id: int | None = id_field()
    symbol: str = Field(max_length=20, unique=True)
    name: str = Field(max_length=100)
    asset_type: str = Field(default="crypto", max_length=16)
    price_e8: int | None = Field(default=None, sa_type=BigInteger)
    source: str | None = Field(default=None, max_length=16)  # operator | bybit
    price_updated_at: datetime | None = when()
    created_at: datetime = created_at()


class AssetPricePoint(SQLModel, table=True):
    """An asset's price over time (charts, loop-event resolution): one row per recording period
    (``PREDICTQL_PRICE_RECORD_SECONDS``), so processes that each hear the exchange write it once."""

    __tablename__ = "asset_price_points"

    id: int | None = id_field()
    asset_id: int = fk("assets.id", ondelete="CASCADE", index=False)
    price_e8: int = Field(sa_type=BigInteger)
    source: str = Field(max_length=16)
    as_of: datetime = Field(sa_type=UTCDateTime)

    __table_args__ = (UniqueConstraint("asset_id", "as_of"), Index("ix_asset_price_points_time", "asset_id", "id"))


class FxRate(SQLModel, table=True):
    """How many ``quote`` units one ``base`` unit buys (``rate_e8`` = rate x 10^8), e.g. USD -> RUB."""

    __tablename__ = "fx_rates"

    id: int | None = id_field()
    base: str = Field(max_length=3)
    quote: str = Field(max_length=3)
    rate_e8: int = Field(sa_type=BigInteger)
    source: str = Field(max_length=16)  # operator | cbr
    as_of: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = created_at()

    __table_args__ = (UniqueConstraint("base", "quote"),)
