"""The back office's audit log: every operator or admin action on money-in/out, disputes,
moderation and support, with who did it, when, and the subject before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index
from sqlmodel import Field, SQLModel

from predictql.models.base import created_at, fk, id_field


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = id_field()
    actor_id: int | None = fk("users.id", nullable=True, index=False, ondelete="SET NULL")  # None: the system
    action: str = Field(max_length=64)  # e.g. card_order.complete, withdrawal.approve, p2p_dispute.resolve
    subject_type: str = Field(max_length=32)  # card_order | withdrawal | p2p_order | p2p_ad | chat_session | ...
    subject_id: int = Field(sa_type=BigInteger)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    note: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_at()

    __table_args__ = (
        Index("ix_audit_log_subject", "subject_type", "subject_id", "id"),
        Index("ix_audit_log_actor", "actor_id", "id"),
    )
