"""Agency records: one per (agency, source record id), payload and identifiers encrypted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseops.agencies.models import Agency
from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class SourceRecord(db.Model):
    """The current version of one agency's record about one person, in one category."""

    __tablename__ = "source_records"
    __table_args__ = (UniqueConstraint("agency_id", "source_record_id"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"))
    source_record_id: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    category: Mapped[str] = mapped_column(String(32))
    source_version: Mapped[int] = mapped_column(BigInteger())
    # AES-GCM ciphertexts (caseops.crypto), bound to this agency and record id.
    person_encrypted: Mapped[str] = mapped_column(Text())
    data_encrypted: Mapped[str] = mapped_column(Text())
    # The normalised identifiers linkage compares (caseops.matching.engine.normalize), so a
    # candidate need not be normalised again; NULL until ingest or reindex writes them.
    linkage_encrypted: Mapped[str | None] = mapped_column(Text())
    # SHA-256 of the canonical request body: "same body again" changes nothing.
    body_digest: Mapped[str] = mapped_column(String(64))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency] = relationship(lazy="joined")


class SourceRecordVersion(db.Model):
    """Append-only history: every accepted version and every withdrawal of a record."""

    __tablename__ = "source_record_versions"
    __table_args__ = (CheckConstraint("action IN ('upsert', 'withdraw')", name="action_known"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_records.id"), index=True)
    source_version: Mapped[int] = mapped_column(BigInteger())
    action: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))
    person_encrypted: Mapped[str | None] = mapped_column(Text())
    data_encrypted: Mapped[str | None] = mapped_column(Text())
    body_digest: Mapped[str | None] = mapped_column(String(64))
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
