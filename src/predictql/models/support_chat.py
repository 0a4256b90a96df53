"""Support chat: a visitor's conversation with the support team.

A session is keyed by the ``chat_session_id`` cookie (only its SHA-256 is stored: the cookie is
the bearer credential of an anonymous visitor) and, once the visitor signs in, by their account
(``user_id``). ``status`` is ``open`` (the visitor writes; no operator asked for), ``escalated``
(``call-operator``: waits for a human) or ``closed`` (an operator closed it; a new one is started
on the next ``POST /chat/session``). Messages are ``user`` (the visitor) or ``support`` (an
operator, ``author_id``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from predictql.models.base import created_at, fk, id_field, when


class ChatSession(SQLModel, table=True):
    __tablename__ = "chat_sessions"

    id: int | None = id_field()
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int | None = fk("users.id", nullable=True, index=False, ondelete="SET NULL")
    status: str = Field(default="open", max_length=16)  # open | escalated | closed
    created_at: datetime = created_at()
    last_message_at: datetime | None = when()
    escalated_at: datetime | None = when()
    closed_at: datetime | None = when()

    __table_args__ = (
        # A user's sessions, newest first; the operators' queue by status, oldest or newest first.
        Index("ix_chat_sessions_user", "user_id", "id"),
        Index("ix_chat_sessions_status", "status", "id"),
    )


class ChatMessage(SQLModel, table=True):
    __tablename__ = "chat_messages"

    id: int | None = id_field()
    session_id: int = fk("chat_sessions.id", ondelete="CASCADE", index=False)
    sender: str = Field(max_length=16)  # user | support
    author_id: int | None = fk("users.id", nullable=True, index=False, ondelete="SET NULL")
    text: str = Field(sa_type=Text)
    created_at: datetime = created_at()

    __table_args__ = (Index("ix_chat_messages_session", "session_id", "id"),)
