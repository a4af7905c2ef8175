"""The patients' written requests for the list of disclosures an intermediary made under a
general designation (42 CFR 2.24), and the answers given. Both append-only: a request is
answered by a new row, never by editing it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class Part2ListRequest(db.Model):
    """A patient's written request, recorded by a consent officer: received on
    ``received_on``, due 30 days later (2.24(b)(1))."""

    __tablename__ = "part2_list_requests"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    received_on: Mapped[date] = mapped_column(Date())
    due_on: Mapped[date] = mapped_column(Date())
    note: Mapped[str | None] = mapped_column(String(500))
    agency_code: Mapped[str] = mapped_column(String(32), index=True)
    recorded_by: Mapped[str] = mapped_column(String(150))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Part2ListAnswer(db.Model):
    """The list produced for a request: when, by whom, how many disclosures, and the
    checkpoint (tree size) the sealed entries were proven against."""

    __tablename__ = "part2_list_answers"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("part2_list_requests.id"), unique=True)
    answered_by: Mapped[str] = mapped_column(String(150))
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    disclosures: Mapped[int] = mapped_column(Integer())
    tree_size: Mapped[int | None] = mapped_column(Integer())
