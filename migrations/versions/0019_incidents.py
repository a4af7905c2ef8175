"""Incident response (issue 22): incidents and their steps, both append-only.

An incident records what a privacy officer knew when opening it (kind, summary, the
accounts, token ids, agencies and time window involved); everything done about it
(containment, its reversal, scoping, notification, closing) is a step. Neither table is
ever updated: the state of an incident is read from its steps.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import append_only

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("owner_agency", sa.String(length=64), nullable=True),
        sa.Column("opened_by", sa.String(length=150), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("discovered_at", TS, nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("accounts", sa.JSON(), nullable=False),
        sa.Column("token_ids", sa.JSON(), nullable=False),
        sa.Column("agencies", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('breach', 'security_incident')", name=op.f("ck_incidents_kind_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(op.f("ix_incidents_owner_agency"), "incidents", ["owner_agency"])
    op.create_table(
        "incident_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=150), nullable=False),
        sa.Column("actor_agency", sa.String(length=64), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("access_event_seq", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "step IN ('opened', 'contained', 'containment_reversed', 'scoped', 'notified', "
            "'closed')",
            name=op.f("ck_incident_steps_step_known"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_steps_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_steps")),
    )
    op.create_index(op.f("ix_incident_steps_incident_id"), "incident_steps", ["incident_id"])
    append_only("incidents")
    append_only("incident_steps")


def downgrade() -> None:
    op.drop_table("incident_steps")
    op.drop_table("incidents")
