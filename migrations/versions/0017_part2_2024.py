"""42 CFR Part 2 as amended in 2024: agency facts, general designation, 2.24 list (issue 23).

* ``agencies`` gains the facts the amended rule turns on: ``treating_provider`` (a general
  designation reaches only participants with a treating provider relationship, 42 CFR
  2.31(a)(4)(ii)(B)) and ``covered_entity`` (HIPAA covered entity or business associate,
  2.31(a)(4)(iii)). Both start false: nobody is reached by a designation until a system
  administrator says so. Every change is a row of ``agency_fact_changes`` (append-only),
  shown to the Part 2 programs.
* ``consents`` gains the intermediary named, the general designation, the class of
  recipients in the patient's words and whether the form carries the (a)(4)(iii)
  statement. Added in place (no table rebuild), so the append-only triggers stay; existing
  consents carry none of them, so they decide exactly as before.
* ``part2_list_requests`` and ``part2_list_answers`` (append-only): a patient's written
  request for the 2.24 list and its answer.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import append_only

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
TABLES = ("agency_fact_changes", "part2_list_requests", "part2_list_answers")


def upgrade() -> None:
    for column in ("treating_provider", "covered_entity"):
        op.add_column(
            "agencies",
            sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    op.add_column("consents", sa.Column("intermediary", sa.String(length=200), nullable=True))
    op.add_column("consents", sa.Column("general_designation", sa.String(length=64), nullable=True))
    op.add_column(
        "consents", sa.Column("recipient_description", sa.String(length=500), nullable=True)
    )
    op.add_column(
        "consents",
        sa.Column(
            "hipaa_redisclosure_statement", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    op.create_table(
        "agency_fact_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("fact", sa.String(length=32), nullable=False),
        sa.Column("before", sa.Boolean(), nullable=False),
        sa.Column("after", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("changed_by", sa.String(length=150), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.CheckConstraint(
            "fact IN ('treating_provider', 'covered_entity', 'part2_program')",
            name=op.f("ck_agency_fact_changes_fact_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_fact_changes")),
    )
    op.create_index(
        op.f("ix_agency_fact_changes_agency_code"),
        "agency_fact_changes",
        ["agency_code"],
        unique=False,
    )
    op.create_table(
        "part2_list_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_part2_list_requests_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part2_list_requests")),
    )
    op.create_index(op.f("ix_part2_list_requests_client_id"), "part2_list_requests", ["client_id"])
    op.create_index(
        op.f("ix_part2_list_requests_agency_code"), "part2_list_requests", ["agency_code"]
    )
    op.create_table(
        "part2_list_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("answered_by", sa.String(length=150), nullable=False),
        sa.Column("answered_at", TS, nullable=False),
        sa.Column("disclosures", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["part2_list_requests.id"],
            name=op.f("fk_part2_list_answers_request_id_part2_list_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_part2_list_answers")),
        sa.UniqueConstraint("request_id", name=op.f("uq_part2_list_answers_request_id")),
    )
    for table in TABLES:
        append_only(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    for column in (
        "hipaa_redisclosure_statement",
        "recipient_description",
        "general_designation",
        "intermediary",
    ):
        op.drop_column("consents", column)
    op.drop_column("agencies", "covered_entity")
    op.drop_column("agencies", "treating_provider")
