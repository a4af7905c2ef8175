"""Agencies: the organisations that contribute records and employ workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class Agency(db.Model):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64), default="other")
    # 42 CFR Part 2 program: every record it contributes is Part 2 data.
    part2_program: Mapped[bool] = mapped_column(Boolean(), default=False)
    # FERPA educational agency or institution.
    ferpa_institution: Mapped[bool] = mapped_column(Boolean(), default=False)
    # 42 CFR Part 2 as amended in 2024: it delivers care to patients (a general designation
    # reaches only treating providers), and it is a HIPAA covered entity or business
    # associate (42 CFR 2.31(a)(4)(iii)). Set by system administrators only, each change an
    # ``AgencyFactChange`` (docs/part2-2024.md).
    treating_provider: Mapped[bool] = mapped_column(Boolean(), default=False)
    covered_entity: Mapped[bool] = mapped_column(Boolean(), default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


AGENCY_FACTS = ("treating_provider", "covered_entity", "part2_program")


class AgencyFactChange(db.Model):
    """One change of one agency fact by a system administrator: append-only, shown to the
    Part 2 programs, whose records the facts open or close."""

    __tablename__ = "agency_fact_changes"
    __table_args__ = (
        CheckConstraint(
            "fact IN ('treating_provider', 'covered_entity', 'part2_program')", name="fact_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    fact: Mapped[str] = mapped_column(String(32))
    before: Mapped[bool] = mapped_column(Boolean())
    after: Mapped[bool] = mapped_column(Boolean())
    reason: Mapped[str] = mapped_column(String(500))
    changed_by: Mapped[str] = mapped_column(String(150))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
