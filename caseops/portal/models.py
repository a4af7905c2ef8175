"""Access codes, the client sessions they open, and per-address sign-in failures.

A code is two parts: a public ``code_id`` (looked up by index, never secret) and a secret
part stored only as an argon2id hash. An argon2 hash cannot be searched for, so without
the public part every sign-in would have to try every code; with it, one row is found
and one hash verified, and a wrong guess counts against that one code.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class ClientAccessCode(db.Model):
    """One code issued to one client. Revoked or expired codes stay (the log names them)."""

    __tablename__ = "client_access_codes"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    code_id: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    issued_by: Mapped[str] = mapped_column(String(150))
    issued_by_agency: Mapped[str] = mapped_column(String(32), index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(150))
    failed_attempts: Mapped[int] = mapped_column(Integer(), default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ClientPortalSession(db.Model):
    """A signed-in client. The cookie holds a random token; only its SHA-256 is kept, so a
    copy of this table opens nothing. It names the client: pages never take a client id."""

    __tablename__ = "client_portal_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code_pk: Mapped[int] = mapped_column(ForeignKey("client_access_codes.id"), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))


class PortalAddressFailure(db.Model):
    """Failed client sign-ins from one address: guessing across many codes locks the
    address as guessing one code locks the code."""

    __tablename__ = "client_portal_address_failures"

    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer(), default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
