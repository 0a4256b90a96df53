"""The stream log: every message published on the bus, numbered per channel in commit order.

``stream_heads`` holds each channel's latest ``seq``; a transaction that emits on a channel bumps
it (a row lock until commit, so the next writer's number comes after this commit) and appends the
message to ``stream_events``. Subscribers resume from a ``seq`` by reading the log; it keeps
``PREDICTQL_STREAM_RETENTION_SECONDS`` of history (heads are kept forever: one row per channel).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from predictql.db import UTCDateTime, utcnow


class StreamHead(SQLModel, table=True):
    __tablename__ = "stream_heads"

    channel: str = Field(primary_key=True, max_length=200)
    seq: int = Field(default=0, sa_type=BigInteger, nullable=False)


class StreamEvent(SQLModel, table=True):
    __tablename__ = "stream_events"

    channel: str = Field(primary_key=True, max_length=200)
    seq: int = Field(primary_key=True, sa_type=BigInteger, nullable=False)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)

    __table_args__ = (Index("ix_stream_events_created_at", "created_at"),)
