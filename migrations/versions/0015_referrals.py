"""Closed-loop referrals between agencies (issue 17).

A referral's facts are one row that never changes; its history is a list of moves (the
creation, each status change, each assignment), append-only, numbered per referral so that
two moves made at once from the same state cannot both land. Both tables are append-only
in the database, as the consents are.

Policy: case workers and supervisors refer (``referrals, create``) and work referrals
(``referrals, move``); supervisors assign (``referrals, assign``); an agency's integration
account moves referrals addressed to it, through the same table, from its agency's own
system (``referrals, move``).

The care-team path through being named by a consent (``consent_recipient``) ends here: an
agency holding no record of a client gains need-to-know only through an accepted referral
or break-the-glass (DESIGN.md, "Relationship kinds"). Memberships already granted that way
are ended now, and the end is recorded on the membership (the rows stay).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import add_policy, append_only, remove_policy

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
POLICY = [
    ("p", "case_worker", "*", "referrals", "create", "allow"),
    ("p", "supervisor", "*", "referrals", "create", "allow"),
    ("p", "case_worker", "*", "referrals", "move", "allow"),
    ("p", "supervisor", "*", "referrals", "move", "allow"),
    ("p", "integration", "*", "referrals", "move", "allow"),
    ("p", "supervisor", "*", "referrals", "assign", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("from_agency", sa.String(length=32), nullable=False),
        sa.Column("from_user", sa.String(length=150), nullable=False),
        sa.Column("to_agency", sa.String(length=32), nullable=False),
        sa.Column("service_code", sa.String(length=64), nullable=False),
        sa.Column("service_text", sa.String(length=500), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("shared_categories", sa.JSON(), nullable=False),
        sa.Column("note_encrypted", sa.Text(), nullable=True),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "urgency IN ('routine', 'urgent')", name=op.f("ck_referrals_urgency_known")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_referrals_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index(op.f("ix_referrals_client_id"), "referrals", ["client_id"])
    op.create_index(op.f("ix_referrals_from_agency"), "referrals", ["from_agency"])
    op.create_index(op.f("ix_referrals_to_agency"), "referrals", ["to_agency"])
    op.create_table(
        "referral_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=True),
        sa.Column("assigned_to", sa.String(length=150), nullable=True),
        sa.Column("by_user", sa.String(length=150), nullable=False),
        sa.Column("by_agency", sa.String(length=32), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("reason_encrypted", sa.Text(), nullable=True),
        sa.Column("outcome_encrypted", sa.Text(), nullable=True),
        sa.Column("consent_ids", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_moves_referral_id_referrals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_moves")),
        sa.UniqueConstraint("referral_id", "seq", name="uq_referral_moves_seq"),
    )
    op.create_index(op.f("ix_referral_moves_referral_id"), "referral_moves", ["referral_id"])
    append_only("referrals")
    append_only("referral_moves")
    add_policy(POLICY)
    # End care-team memberships that rested on being named by a consent (see above).
    op.execute(
        sa.text(
            "UPDATE care_team_members SET ends_at = CURRENT_TIMESTAMP "
            "WHERE basis = 'consent_recipient' AND (ends_at IS NULL OR ends_at > CURRENT_TIMESTAMP)"
        )
    )


def downgrade() -> None:
    remove_policy(POLICY)
    op.drop_table("referral_moves")
    op.drop_table("referrals")
