"""Privacy-officer reviews of break-the-glass grants (append-only; several per grant).

A grant is "reviewed" once it has at least one review; later reviews add notes (an
escalation followed by an acknowledgement, say) without changing earlier ones.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import add_policy, append_only, remove_policy

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
# Reviewing is a write, so it is its own permission, not implied by "audit read".
POLICY = [("p", "privacy_officer", "*", "audit", "review", "allow")]


def upgrade() -> None:
    op.create_table(
        "break_glass_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.Column("reviewed_by", sa.String(length=150), nullable=False),
        sa.Column("reviewed_at", TS, nullable=False),
        sa.Column("access_event_seq", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "decision IN ('acknowledge', 'escalate')",
            name=op.f("ck_break_glass_reviews_decision_known"),
        ),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["break_glass_grants.id"],
            name=op.f("fk_break_glass_reviews_grant_id_break_glass_grants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_reviews")),
    )
    with op.batch_alter_table("break_glass_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_break_glass_reviews_grant_id"), ["grant_id"], unique=False
        )
    append_only("break_glass_reviews")
    add_policy(POLICY)


def downgrade() -> None:
    remove_policy(POLICY)
    op.drop_table("break_glass_reviews")
