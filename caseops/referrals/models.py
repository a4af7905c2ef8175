"""Referrals and their history. Both tables are append-only in the database (migration
0015): a referral's facts never change after it is created, and every move (a status
change or an assignment) is a new row. The current state is the last move; the
``(referral_id, seq)`` key makes two concurrent moves from the same state collide instead
of both landing (the loser answers 409 and tries again from what it now sees)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class Referral(db.Model):
    __tablename__ = "referrals"
    __table_args__ = (CheckConstraint("urgency IN ('routine', 'urgent')", name="urgency_known"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    from_agency: Mapped[str] = mapped_column(String(32), index=True)
    from_user: Mapped[str] = mapped_column(String(150))
    to_agency: Mapped[str] = mapped_column(String(32), index=True)
    service_code: Mapped[str] = mapped_column(String(64))
    service_text: Mapped[str] = mapped_column(String(500))
    purpose: Mapped[str] = mapped_column(String(32))
    shared_categories: Mapped[list[str]] = mapped_column(JSON())
    note_encrypted: Mapped[str | None] = mapped_column(Text())
    urgency: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date | None] = mapped_column(Date())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReferralMove(db.Model):
    """One step of a referral's history: its creation (``from_status`` NULL), a status
    change, or an assignment (``from_status == to_status``). ``assigned_to`` is the
    recipient worker assigned after this step. Reasons and outcomes are encrypted at rest:
    they can say as much about a person as a record does."""

    __tablename__ = "referral_moves"
    __table_args__ = (UniqueConstraint("referral_id", "seq", name="uq_referral_moves_seq"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    referral_id: Mapped[str] = mapped_column(ForeignKey("referrals.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer())
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    side: Mapped[str | None] = mapped_column(String(16))  # sender | recipient | None
    assigned_to: Mapped[str | None] = mapped_column(String(150))
    by_user: Mapped[str] = mapped_column(String(150))
    by_agency: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason_encrypted: Mapped[str | None] = mapped_column(Text())
    outcome_encrypted: Mapped[str | None] = mapped_column(Text())
    # The consents the send relied on (the gate's answer), for the log and the FHIR
    # ServiceRequest's supportingInfo.
    consent_ids: Mapped[list[str] | None] = mapped_column(JSON())
