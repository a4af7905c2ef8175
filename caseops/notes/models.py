"""Notes and their amendments. Both tables are append-only in the database (migration
0023): a note is never rewritten; an amendment is a new numbered row that keeps the
original and says who changed it, when and why. Texts and reasons are encrypted at rest,
bound to the note id and the field (``caseops.notes.service``), as record payloads are.

A note belongs to its author's agency (``agency_code``) and has a category: it is a
section of that agency in that category, so the record view's decision governs who reads
it (``caseops.access.service``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class Note(db.Model):
    __tablename__ = "notes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    agency_code: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    referral_id: Mapped[str | None] = mapped_column(ForeignKey("referrals.id"))
    author: Mapped[str] = mapped_column(String(150))
    text_encrypted: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NoteAmendment(db.Model):
    """One amendment: the note's text from now on, and why. ``seq`` counts from 1 per
    note; the ``(note_id, seq)`` key makes two amendments made at once collide (409)
    instead of one silently hiding the other."""

    __tablename__ = "note_amendments"
    __table_args__ = (UniqueConstraint("note_id", "seq", name="uq_note_amendments_seq"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    note_id: Mapped[str] = mapped_column(ForeignKey("notes.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer())
    text_encrypted: Mapped[str] = mapped_column(Text())
    reason_encrypted: Mapped[str] = mapped_column(Text())
    by_user: Mapped[str] = mapped_column(String(150))
    by_agency: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
