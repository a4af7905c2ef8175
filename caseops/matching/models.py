"""Tables of the linkage model and of re-homing (migration 0018)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class LinkageModelVersion(db.Model):
    """One trained linkage model (``caseops link train``); the newest is in use.
    Append-only: a new training is a new version."""

    __tablename__ = "linkage_models"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(150))
    records: Mapped[int] = mapped_column(Integer())
    converged: Mapped[bool] = mapped_column(Boolean())
    # m, u, prior and the two probabilities (caseops.matching.engine.LinkageModel.to_json)
    model: Mapped[dict[str, Any]] = mapped_column(JSON())
    # how training went: pairs, iterations, seconds
    stats: Mapped[dict[str, Any]] = mapped_column(JSON())


class ClientKeyMove(db.Model):
    """What re-homing did to one row keyed by a client id when records changed client
    (caseops.matching.rehoming): moved, kept, suspended, or a steward's decision on a
    suspended row. Append-only."""

    __tablename__ = "client_key_moves"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('moved', 'kept', 'suspended', 'reinstated', 'ended')",
            name="outcome_known",
        ),
        Index("ix_client_key_moves_row", "table_name", "row_id"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(64))
    from_client_id: Mapped[str] = mapped_column(String(32))
    to_client_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(300))
    link_event_id: Mapped[int | None] = mapped_column(Integer())
    actor: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClientKeyHold(db.Model):
    """A row keyed by a client id that re-homing could not attribute: suspended until a
    steward says whose it is (``resolved_at``). At most one open hold per row."""

    __tablename__ = "client_key_holds"
    __table_args__ = (Index("ix_client_key_holds_open", "table_name", "row_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(32), index=True)
    candidates: Mapped[list[str]] = mapped_column(JSON())  # clients it may belong to
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(150))
    resolution: Mapped[str | None] = mapped_column(String(32))
