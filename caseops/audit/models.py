"""The access log table. Append-only in the database itself (see the migrations)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db

OUTCOMES = ("success", "denied", "failure")


class AccessEvent(db.Model):
    """One entry of the immutable access log: who did what to which client, and how it ended."""

    __tablename__ = "access_events"
    __table_args__ = (
        CheckConstraint("outcome IN ('success', 'denied', 'failure')", name="outcome_known"),
        Index("ix_access_events_client_id_seq", "client_id", "seq"),
        Index("ix_access_events_actor_seq", "actor", "seq"),
        Index("ix_access_events_action_seq", "action", "seq"),
        CheckConstraint("leaf_salt IS NULL OR length(leaf_salt) = 32", name="leaf_salt_size"),
        # Never reuse a sequence number, even in SQLite.
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(150))
    actor_user_id: Mapped[int | None] = mapped_column(Integer())
    actor_agency: Mapped[str | None] = mapped_column(String(64), index=True)
    actor_roles: Mapped[list[str]] = mapped_column(JSON(), default=list)
    token_id: Mapped[int | None] = mapped_column(Integer())
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    # Leaf version 2 (migration 0021, issue 19): the 32-byte secret from which the
    # entry's per-field salts are derived (``caseops.audit.canonical``); NULL for the
    # entries written before it, whose leaf stays the version 1 bytes.
    leaf_salt: Mapped[bytes | None] = mapped_column(LargeBinary())


# --- Sealing: the Merkle tree over the log (RFC 9162) and its signed checkpoints. ---
# All three tables are append-only in the database (migration 0003); the sealer is the
# only writer. Leaf order is sealing order: each seal run appends every committed entry
# not sealed yet, by ascending seq.

BIG = BigInteger().with_variant(Integer(), "sqlite")


class AuditLeaf(db.Model):
    """Leaf ``leaf_index`` of the tree: the hash of the canonical bytes of one entry."""

    __tablename__ = "audit_leaves"

    leaf_index: Mapped[int] = mapped_column(BIG, primary_key=True, autoincrement=False)
    event_seq: Mapped[int] = mapped_column(BIG, unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary())


class AuditNode(db.Model):
    """Hash of the perfect subtree ``(level, node_index)``, level >= 1 (level 0 = leaves)."""

    __tablename__ = "audit_nodes"
    __table_args__ = (CheckConstraint("level >= 1", name="above_leaves"),)

    level: Mapped[int] = mapped_column(SmallInteger(), primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BIG, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary())


class AuditCheckpoint(db.Model):
    """A signed checkpoint, written by the seal run that grew the tree to ``tree_size``.

    ``frontier`` is the sealer's compact range at that size (``MerkleAppender.to_bytes``)
    so the next run resumes without reading the tree; ``low_watermark`` means every
    entry with ``seq <= low_watermark`` is sealed (or never committed), so the next run
    only scans above it; ``high_seq`` is the largest seq sealed so far.
    """

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BIG, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary())
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    origin: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(8))
    checkpoint: Mapped[str] = mapped_column(Text())
    signature: Mapped[str] = mapped_column(String(100))
    frontier: Mapped[bytes] = mapped_column(LargeBinary())
    low_watermark: Mapped[int] = mapped_column(BIG)
    high_seq: Mapped[int] = mapped_column(BIG)


# --- Privacy-officer review of break-the-glass grants (migration 0007, append-only). ---

REVIEW_DECISIONS = ("acknowledge", "escalate")


class BreakGlassReview(db.Model):
    """One privacy-officer decision on a break-the-glass grant, with a note. A grant may
    collect several (an escalation, then an acknowledgement); none is ever changed."""

    __tablename__ = "break_glass_reviews"
    __table_args__ = (
        CheckConstraint("decision IN ('acknowledge', 'escalate')", name="decision_known"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("break_glass_grants.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(2000))
    reviewed_by: Mapped[str] = mapped_column(String(150))
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    access_event_seq: Mapped[int | None] = mapped_column(Integer())
