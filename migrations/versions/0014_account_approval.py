"""The two-person rule for roles that read client records (issue 14).

An administrator of another agency (a system administrator, say) who gives an account a
role that reads client records leaves a pending grant here; the roles reach the Casbin
policy only when an administrator of the account's own agency approves. Both tables are
append-only: a grant is closed by exactly one decision row (unique per grant). Accounts
also remember who created them and from which address, so an account its creator then
uses from there is flagged.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import add_policy, append_only, remove_policy

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
# Approving is the agency's own act: its administrators approve, in their own agency only
# (caseops.users.grants checks the agency; the rule says who may at all).
POLICY = [("p", "agency_admin", "*", "admin:grants", "approve", "allow")]


def upgrade() -> None:
    # Provenance for the "created, then used by its creator" flag (no foreign key: the
    # creator is a fact of history, and SQLite adds a plain column without a rebuild).
    op.add_column("users", sa.Column("created_by_user_id", sa.Integer(), nullable=True))
    op.add_column("users", sa.Column("created_from_ip", sa.String(length=64), nullable=True))
    op.create_table(
        "role_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("new_account", sa.Boolean(), nullable=False),
        sa.Column("granted_by", sa.String(length=150), nullable=False),
        sa.Column("granted_by_agency", sa.String(length=32), nullable=True),
        sa.Column("granted_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_role_grants_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grants")),
    )
    op.create_index(op.f("ix_role_grants_user_id"), "role_grants", ["user_id"])
    op.create_table(
        "role_grant_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=150), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.CheckConstraint(
            "decision IN ('approved', 'superseded')",
            name=op.f("ck_role_grant_decisions_decision_known"),
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["role_grants.id"],
            name=op.f("fk_role_grant_decisions_grant_id_role_grants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grant_decisions")),
        sa.UniqueConstraint("grant_id", name=op.f("uq_role_grant_decisions_grant_id")),
    )
    append_only("role_grants")
    append_only("role_grant_decisions")
    add_policy(POLICY)


def downgrade() -> None:
    remove_policy(POLICY)
    op.drop_table("role_grant_decisions")
    op.drop_table("role_grants")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("created_from_ip")
        batch_op.drop_column("created_by_user_id")
