"""Linkage models learned from each deployment's data (issue 21).

``linkage_models``: every trained model (m, u, prior, probabilities; who, when, on how
many records, convergence), append-only, the newest in use. ``client_key_moves``: what
re-homing did to each consent, care-team membership, break-glass grant (and later
referral) when records changed client, append-only. ``client_key_holds``: the rows it
could not attribute, suspended until a data steward decides.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import append_only

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "linkage_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(150), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("converged", sa.Boolean(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_models")),
    )
    append_only("linkage_models")
    op.create_table(
        "client_key_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("from_client_id", sa.String(32), nullable=False),
        sa.Column("to_client_id", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("link_event_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(150), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "outcome IN ('moved', 'kept', 'suspended', 'reinstated', 'ended')",
            name=op.f("ck_client_key_moves_outcome_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_key_moves")),
    )
    op.create_index("ix_client_key_moves_row", "client_key_moves", ["table_name", "row_id"])
    append_only("client_key_moves")
    op.create_table(
        "client_key_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("table_name", sa.String(64), nullable=False),
        sa.Column("row_id", sa.String(64), nullable=False),
        sa.Column("client_id", sa.String(32), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", sa.String(150), nullable=True),
        sa.Column("resolution", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_key_holds")),
    )
    op.create_index(
        "ix_client_key_holds_open", "client_key_holds", ["table_name", "row_id", "resolved_at"]
    )
    op.create_index(op.f("ix_client_key_holds_client_id"), "client_key_holds", ["client_id"])


def downgrade() -> None:
    op.drop_table("client_key_holds")
    op.drop_table("client_key_moves")
    op.drop_table("linkage_models")
