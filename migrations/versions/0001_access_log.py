"""The append-only access log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import (
    append_only,
    create_append_only_function,
    drop_append_only_function,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_append_only_function()
    op.create_table(
        "access_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(150), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_agency", sa.String(64), nullable=True),
        sa.Column("actor_roles", sa.JSON(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("target_type", sa.String(64), nullable=True),
        sa.Column("target_id", sa.String(200), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("purpose", sa.String(32), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('success', 'denied', 'failure')",
            name=op.f("ck_access_events_outcome_known"),
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_access_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_access_events_occurred_at"), "access_events", ["occurred_at"])
    op.create_index(op.f("ix_access_events_actor_agency"), "access_events", ["actor_agency"])
    op.create_index("ix_access_events_client_id_seq", "access_events", ["client_id", "seq"])
    op.create_index("ix_access_events_actor_seq", "access_events", ["actor", "seq"])
    op.create_index("ix_access_events_action_seq", "access_events", ["action", "seq"])
    append_only("access_events")


def downgrade() -> None:
    op.drop_table("access_events")
    drop_append_only_function()
