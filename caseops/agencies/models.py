"""Agencies: the organisations that contribute records and employ workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
