"""Tasks and their history. Both tables are append-only in the database (migration 0023),
as referrals are: a task's facts never change after it is created, and every change (its
creation, an assignment, done or cancelled) is a new numbered move. The current state is
the last move; the ``(task_id, seq)`` key makes two concurrent changes from the same state
collide instead of both landing (the loser answers 409)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class Task(db.Model):
    """One task on a client, owned by the agency whose worker created it. The title is
    encrypted at rest (bound to the task id): "call about the relapse" says as much about
    a person as a record does."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    referral_id: Mapped[str | None] = mapped_column(ForeignKey("referrals.id"))
    title_encrypted: Mapped[str] = mapped_column(Text())
    due_on: Mapped[date | None] = mapped_column(Date())
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TaskMove(db.Model):
    """One step of a task's history: its creation (seq 1), an assignment (same status,
    another assignee), done or cancelled (with an optional, encrypted note; cancelling
    needs one). ``assignee`` is the worker the task is assigned to after this step."""

    __tablename__ = "task_moves"
    __table_args__ = (
        UniqueConstraint("task_id", "seq", name="uq_task_moves_seq"),
        CheckConstraint("status IN ('open', 'done', 'cancelled')", name="status_known"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer())
    status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(150), index=True)
    by_user: Mapped[str] = mapped_column(String(150))
    by_agency: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    note_encrypted: Mapped[str | None] = mapped_column(Text())
