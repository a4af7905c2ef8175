"""Client access codes for the /my pages (issue 19).

Codes (public id, argon2id hash of the secret part, expiry, revocation, failure count and
lockout), the client sessions they open (only a SHA-256 of the cookie's token is kept),
and failed sign-ins per address. None of them is append-only: a code is revoked and its
failures counted in place; every such change is also an entry of the access log.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "client_access_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("issued_by", sa.String(length=150), nullable=False),
        sa.Column("issued_by_agency", sa.String(length=32), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("revoked_by", sa.String(length=150), nullable=True),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_access_codes_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_access_codes")),
        sa.UniqueConstraint("code_id", name=op.f("uq_client_access_codes_code_id")),
    )
    op.create_index(op.f("ix_client_access_codes_client_id"), "client_access_codes", ["client_id"])
    op.create_index(
        op.f("ix_client_access_codes_issued_by_agency"),
        "client_access_codes",
        ["issued_by_agency"],
    )
    op.create_table(
        "client_portal_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("code_pk", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["code_pk"],
            ["client_access_codes.id"],
            name=op.f("fk_client_portal_sessions_code_pk_client_access_codes"),
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_client_portal_sessions_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_portal_sessions")),
    )
    op.create_index(
        op.f("ix_client_portal_sessions_code_pk"), "client_portal_sessions", ["code_pk"]
    )
    op.create_index(
        op.f("ix_client_portal_sessions_client_id"), "client_portal_sessions", ["client_id"]
    )
    op.create_table(
        "client_portal_address_failures",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", TS, nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_client_portal_address_failures")),
    )


def downgrade() -> None:
    op.drop_table("client_portal_address_failures")
    op.drop_table("client_portal_sessions")
    op.drop_table("client_access_codes")
