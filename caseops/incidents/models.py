"""Incidents and their steps. Both tables are append-only in the database (migration 0019):
an incident's state (contained, reversed, notified, closed) is read from its steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db

KINDS = ("breach", "security_incident")
STEPS = ("opened", "contained", "containment_reversed", "scoped", "notified", "closed")


class Incident(db.Model):
    """What a privacy officer knew when opening it; later knowledge goes in steps."""

    __tablename__ = "incidents"
    __table_args__ = (
        CheckConstraint("kind IN ('breach', 'security_incident')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text())
    owner_agency: Mapped[str | None] = mapped_column(String(64), index=True)
    opened_by: Mapped[str] = mapped_column(String(150))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    window_start: Mapped[datetime] = mapped_column(UTCDateTime())
    window_end: Mapped[datetime] = mapped_column(UTCDateTime())
    accounts: Mapped[list[str]] = mapped_column(JSON(), default=list)
    token_ids: Mapped[list[int]] = mapped_column(JSON(), default=list)
    agencies: Mapped[list[str]] = mapped_column(JSON(), default=list)


class IncidentStep(db.Model):
    """One thing done about an incident: who, when, why, and what it did."""

    __tablename__ = "incident_steps"
    __table_args__ = (
        CheckConstraint(
            "step IN ('opened', 'contained', 'containment_reversed', 'scoped', 'notified', "
            "'closed')",
            name="step_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    step: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(150))
    actor_agency: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reason: Mapped[str | None] = mapped_column(Text())
    detail: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    access_event_seq: Mapped[int | None] = mapped_column(Integer())
