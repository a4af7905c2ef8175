"""Credentialed people and integration accounts. Roles live in Casbin, not here."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from caseops.agencies.models import Agency
from caseops.db_types import UTCDateTime, utcnow
from caseops.extensions import db


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("kind IN ('human', 'integration')", name="kind_known"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="human")
    display_name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean(), default=True)
    # TOTP secret, AES-GCM encrypted; confirmed_at stays empty until enrolment is proven.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(255))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Highest TOTP time step accepted, so a code cannot be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(Integer())
    failed_logins: Mapped[int] = mapped_column(Integer(), default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Who created the account and from where: an account its creator then uses from the
    # same address or session is flagged (caseops.auth.service.creator_origin). Empty for
    # accounts made by the CLI operator or before migration 0014.
    created_by_user_id: Mapped[int | None] = mapped_column(Integer())
    created_from_ip: Mapped[str | None] = mapped_column(String(64))

    agency: Mapped[Agency] = relationship(lazy="joined")

    @property
    def is_human(self) -> bool:
        return self.kind == "human"

    @property
    def is_active(self) -> bool:  # flask-login: deactivated users are never logged in
        return self.active

    @property
    def second_factor_enrolled(self) -> bool:
        return self.totp_confirmed_at is not None


class RecoveryCode(db.Model):
    """One-time second-factor recovery code: a public selector finds the row, the rest
    of the code is checked against an argon2 hash (selector/verifier split)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    selector: Mapped[str] = mapped_column(String(16), unique=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RoleGrant(db.Model):
    """Roles that read client records, granted by an administrator of another agency and
    waiting for an administrator of the account's own agency (the two-person rule).

    Append-only: a grant is pending while it has no ``RoleGrantDecision``. The roles are
    not in the Casbin policy until approved; ``new_account`` grants keep the account
    inactive until then.
    """

    __tablename__ = "role_grants"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    roles: Mapped[list[str]] = mapped_column(JSON(), default=list)
    new_account: Mapped[bool] = mapped_column(Boolean(), default=False)
    granted_by: Mapped[str] = mapped_column(String(150))
    granted_by_agency: Mapped[str | None] = mapped_column(String(32))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(lazy="joined")


class RoleGrantDecision(db.Model):
    """The one decision closing a grant (unique per grant, so two racing approvals cannot
    both apply): ``approved`` by the account's agency, or ``superseded`` by a later change
    of the account's roles. Append-only, like the log it mirrors."""

    __tablename__ = "role_grant_decisions"
    __table_args__ = (
        CheckConstraint("decision IN ('approved', 'superseded')", name="decision_known"),
    )

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    grant_id: Mapped[int] = mapped_column(ForeignKey("role_grants.id"), unique=True)
    decision: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(150))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
