"""The access log table. Append-only in the database itself (see the migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db

OUTCOMES = ("success", "denied", "failure")


class AccessEvent(db.Model):
    """One entry of the immutable access log: who did what to which client, and how it ended."""

    __tablename__ = "access_events"
    __table_args__ = (
        CheckConstraint("outcome IN ('success', 'denied', 'failure')", name="outcome_known"),
        Index("ix_access_events_client_id_seq", "client_id", "seq"),
        Index("ix_access_events_actor_seq", "actor", "seq"),
        Index("ix_access_events_action_seq", "action", "seq"),
        # Never reuse a sequence number, even in SQLite.
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(150))
    actor_user_id: Mapped[int | None] = mapped_column(Integer())
    actor_agency: Mapped[str | None] = mapped_column(String(64), index=True)
    actor_roles: Mapped[list[str]] = mapped_column(JSON(), default=list)
    token_id: Mapped[int | None] = mapped_column(Integer())
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
