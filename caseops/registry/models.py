"""Recorded consents. Never edited in place: an amendment is a new version that
supersedes, a revocation is an event; attestations and standing trust rules (and their
ends) are events too. Every table here is append-only in the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class ConsentRecord(db.Model):
    __tablename__ = "consents"
    __table_args__ = (CheckConstraint("provision IN ('permit', 'deny')", name="provision_known"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    version: Mapped[int] = mapped_column(Integer(), default=1)
    supersedes: Mapped[str | None] = mapped_column(
        ForeignKey("consents.id"), unique=True, nullable=True
    )
    provision: Mapped[str] = mapped_column(String(8))
    source_agencies: Mapped[list[str]] = mapped_column(JSON())
    categories: Mapped[list[str]] = mapped_column(JSON())
    recipients: Mapped[list[str]] = mapped_column(JSON())
    purposes: Mapped[list[str]] = mapped_column(JSON())
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    expiry_event: Mapped[str | None] = mapped_column(String(200))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    grantor_kind: Mapped[str] = mapped_column(String(32))
    grantor_name: Mapped[str] = mapped_column(String(200))
    evidence_method: Mapped[str] = mapped_column(String(32))
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("consent_documents.id"))
    revocation_right_acknowledged: Mapped[bool] = mapped_column(Boolean(), default=False)
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The agency whose officer recorded this version: it stands behind it for its own data.
    recorded_by_agency: Mapped[str | None] = mapped_column(String(32))
    # 42 CFR Part 2 as amended in 2024 (migration 0017): the intermediary named on the
    # consent, a general designation of recipients through it, the class of recipients in
    # the patient's words, and whether the 2.31(a)(4)(iii) HIPAA statement is on the form.
    intermediary: Mapped[str | None] = mapped_column(String(200))
    general_designation: Mapped[str | None] = mapped_column(String(64))
    recipient_description: Mapped[str | None] = mapped_column(String(500))
    hipaa_redisclosure_statement: Mapped[bool] = mapped_column(Boolean(), default=False)


class ConsentRevocation(db.Model):
    __tablename__ = "consent_revocations"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"), unique=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_by: Mapped[str] = mapped_column(String(150))
    reason: Mapped[str] = mapped_column(String(1000))
    method: Mapped[str] = mapped_column(String(16))


class ConsentDocument(db.Model):
    """The signed form or its electronic record, encrypted at rest, known by its SHA-256."""

    __tablename__ = "consent_documents"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer())
    content_encrypted: Mapped[str] = mapped_column(Text())
    uploaded_by: Mapped[str] = mapped_column(String(150))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConsentAttestation(db.Model):
    """A consent officer of ``agency_code`` stood behind one consent version for that
    agency's records (once per version and agency)."""

    __tablename__ = "consent_attestations"
    __table_args__ = (
        UniqueConstraint("consent_id", "agency_code", name="uq_consent_attestations_consent_id"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    consent_id: Mapped[str] = mapped_column(ForeignKey("consents.id"))
    agency_code: Mapped[str] = mapped_column(String(32))
    attested_by: Mapped[str] = mapped_column(String(150))
    attested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TrustRule(db.Model):
    """``agency_code`` accepts consents recorded by ``partner_code`` for ``categories``
    until a ``TrustRuleEnd`` names the rule."""

    __tablename__ = "consent_trust_rules"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    partner_code: Mapped[str] = mapped_column(String(32))
    categories: Mapped[list[str]] = mapped_column(JSON())
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TrustRuleEnd(db.Model):
    __tablename__ = "consent_trust_rule_ends"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("consent_trust_rules.id"), unique=True)
    ended_by: Mapped[str] = mapped_column(String(150))
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
