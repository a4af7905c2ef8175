"""Need-to-know relationships and break-the-glass grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class CareTeamMember(db.Model):
    """A worker on a client's care team from ``starts_at`` until ``ends_at`` (open if None)."""

    __tablename__ = "care_team_members"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    agency_code: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(150))
    basis: Mapped[str] = mapped_column(String(32))  # agency_record (consent_recipient: before 0015)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BreakGlassGrant(db.Model):
    """An emergency opening of a record without relationship or consent, time-boxed and
    flagged for privacy-officer review. Append-only."""

    __tablename__ = "break_glass_grants"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    agency_code: Mapped[str] = mapped_column(String(32))
    justification: Mapped[str] = mapped_column(String(2000))
    purpose: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    access_event_seq: Mapped[int | None] = mapped_column(Integer())
