"""The master client index: opaque clients, pseudonymous identifiers, link history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class Client(db.Model):
    """A person as caseops knows them. The id is random, never derived from identifiers."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Bumped whenever a record of this client changes, for "updated" notices.
    version: Mapped[int] = mapped_column(Integer(), default=1)


class RecordIdentifier(db.Model):
    """A keyed HMAC pseudonym (64 bits, see caseops.matching.engine.pseudonym) of one normalised
    name, name count key or blocking key of a record. The value alone is unique per
    kind (the kind is part of the MAC input), so look-ups need no kind."""

    __tablename__ = "record_identifiers"
    __table_args__ = (
        # Blocking and name counts read record ids by value from the index alone (0009).
        Index("ix_record_identifiers_value_record_id", "value", "record_id"),
    )

    # Names a source record: checked per statement by a trigger rather than a foreign
    # key, which costs an index probe and a lock per row (migration 0010).
    record_id: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger(), primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))


class LinkEvent(db.Model):
    """Append-only history of which client a record belonged to, and why (undo reads it)."""

    __tablename__ = "link_events"
    __table_args__ = (
        CheckConstraint(
            "action IN ('auto_link', 'new_client', 'review_new', 'steward_link', "
            "'steward_unlink', 'undo')",
            name="action_known",
        ),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_records.id"), index=True)
    from_client_id: Mapped[str | None] = mapped_column(String(32))
    to_client_id: Mapped[str] = mapped_column(String(32), index=True)
    action: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(150))
    undoes_id: Mapped[int | None] = mapped_column(ForeignKey("link_events.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReviewItem(db.Model):
    """A possible match between the score thresholds, waiting for a data steward."""

    __tablename__ = "review_items"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'linked', 'kept_apart', 'superseded')", name="status_known"
        ),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("source_records.id"), index=True)
    candidate_record_id: Mapped[int] = mapped_column(ForeignKey("source_records.id"))
    candidate_client_id: Mapped[str] = mapped_column(String(32))
    score: Mapped[float] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_by: Mapped[str | None] = mapped_column(String(150))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KeptApart(db.Model):
    """Two records a person said are different people: never auto-linked, never reviewed again."""

    __tablename__ = "kept_apart"
    __table_args__ = (
        UniqueConstraint("record_a_id", "record_b_id"),
        CheckConstraint("record_a_id < record_b_id", name="ordered_pair"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    record_a_id: Mapped[int] = mapped_column(ForeignKey("source_records.id"), index=True)
    record_b_id: Mapped[int] = mapped_column(ForeignKey("source_records.id"), index=True)
    decided_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LinkageClock(db.Model):
    """One shard of the linkage clock (caseops.matching.claims): every transaction that
    places records ticks one, so the sum moves whenever anybody placed records. Sharded
    so PUTs placing different people do not queue on one row."""

    __tablename__ = "linkage_clock"

    shard: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    ticks: Mapped[int] = mapped_column(BigInteger(), default=0)


class IdentifierScheme(db.Model):
    """An identifier scheme (``caseops.matching.engine.identifiers.IDENTIFIER_SCHEME``)
    every stored record is indexed under: written by ``caseops link reindex`` when it has
    run to its end, or by migration 0026 when the index was empty. Client search reads
    the kinds a scheme adds only once that scheme is here; until then it reads the kinds
    every record has, and finds the same clients (more slowly at a million)."""

    __tablename__ = "identifier_schemes"

    version: Mapped[int] = mapped_column(Integer(), primary_key=True, autoincrement=False)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
