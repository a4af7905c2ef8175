"""Notifications to people, and the queue of record changes the notifier consumes.

* ``notifications``: one row per event and recipient (a user, or an agency whose users of
  the right roles read it). Written in the transaction of the change it announces, so it
  exists if and only if that change committed; its integer id is the stream's cursor
  (``Last-Event-ID``, ``?after=``). ``data`` holds ids and kinds only.
* ``record_changes``: a record of (client, agency, category) was written or withdrawn.
  Written in the ingest's own transaction; the notifier (``caseops.events.notifier``)
  consumes and deletes rows, deciding per worker whether to publish ``client.updated``,
  so ingest does not pay for the per-worker decisions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("(user_id IS NULL) <> (agency_code IS NULL)", name="one_recipient"),
        Index("ix_notifications_user_id_id", "user_id", "id"),
        Index("ix_notifications_agency_code_id", "agency_code", "id"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer())
    agency_code: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, str]] = mapped_column(JSON())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class RecordChange(db.Model):
    __tablename__ = "record_changes"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(32))
    agency_code: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
