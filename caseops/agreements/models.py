"""Data sharing agreements as rows (migration 0020). Never edited in place: an amendment is
a new version that supersedes, an acceptance and a termination are events. Every table is
append-only in the database; status is derived (``consent.agreements``)."""

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


class AgreementRecord(db.Model):
    __tablename__ = "agreements"
    __table_args__ = (CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="period"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date())
    # NULL only for agreements converted from standing trust rules (migration 0020)
    ends_on: Mapped[date | None] = mapped_column(Date())
    supersedes: Mapped[str | None] = mapped_column(ForeignKey("agreements.id"), index=True)
    note: Mapped[str | None] = mapped_column(String(1000))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    document_name: Mapped[str | None] = mapped_column(String(200))
    document_type: Mapped[str | None] = mapped_column(String(100))
    document_encrypted: Mapped[str | None] = mapped_column(Text())
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_by_agency: Mapped[str | None] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgreementParty(db.Model):
    __tablename__ = "agreement_parties"
    __table_args__ = (UniqueConstraint("agreement_id", "agency_code"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"))
    agency_code: Mapped[str] = mapped_column(String(32), index=True)


class AgreementClause(db.Model):
    """``share``: the parties share ``categories`` for ``purposes`` with each other.
    ``trust``: ``agency_code`` accepts consents recorded by ``partner_code`` for
    ``categories`` (never substance use)."""

    __tablename__ = "agreement_clauses"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'share' AND purposes IS NOT NULL) OR (kind = 'trust' AND "
            "agency_code IS NOT NULL AND partner_code IS NOT NULL AND agency_code <> partner_code)",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    categories: Mapped[list[str]] = mapped_column(JSON())
    purposes: Mapped[list[str] | None] = mapped_column(JSON())
    agency_code: Mapped[str | None] = mapped_column(String(32))
    partner_code: Mapped[str | None] = mapped_column(String(32))


class AgreementAcceptance(db.Model):
    __tablename__ = "agreement_acceptances"
    __table_args__ = (UniqueConstraint("agreement_id", "agency_code"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"))
    agency_code: Mapped[str] = mapped_column(String(32))
    accepted_by: Mapped[str] = mapped_column(String(150))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AgreementTermination(db.Model):
    __tablename__ = "agreement_terminations"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), unique=True)
    terminated_by: Mapped[str] = mapped_column(String(150))
    terminated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str] = mapped_column(String(1000))
