"""Casbin rules and the policy version, both in the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class CasbinRule(db.Model):
    """One policy (``p``) or role-grouping (``g``) line, in sqlalchemy-adapter's layout."""

    __tablename__ = "casbin_rule"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    ptype: Mapped[str] = mapped_column(String(255), index=True)
    v0: Mapped[str | None] = mapped_column(String(255), index=True)
    v1: Mapped[str | None] = mapped_column(String(255))
    v2: Mapped[str | None] = mapped_column(String(255))
    v3: Mapped[str | None] = mapped_column(String(255))
    v4: Mapped[str | None] = mapped_column(String(255))
    v5: Mapped[str | None] = mapped_column(String(255))

    def values(self) -> list[str]:
        fields = [self.v0, self.v1, self.v2, self.v3, self.v4, self.v5]
        return [value for value in fields if value is not None]

    def __str__(self) -> str:
        """The CSV line the adapter hands to Casbin's loader."""
        return ", ".join([self.ptype, *self.values()])


class PolicyVersion(db.Model):
    """A single row bumped by every policy or role change.

    Each worker compares it once per request and reloads its enforcer when it moved,
    so a change takes effect on the next request in every process.
    """

    __tablename__ = "policy_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer(), default=1)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
