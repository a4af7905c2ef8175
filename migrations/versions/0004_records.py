"""Agency records (encrypted, with append-only history) and the master client index.

Identifiers are stored only as keyed HMAC pseudonyms (record_identifiers); link
history is append-only so every link and unlink can be explained and undone.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import add_policy, append_only, remove_policy

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# Who may write records, search clients and work the linkage review queue.
POLICY = [
    ("p", "integration", "*", "records", "write", "allow"),
    *[
        ("p", role, "*", "clients", "search", "allow")
        for role in ("case_worker", "supervisor", "consent_officer", "privacy_officer")
    ],
    ("p", "data_steward", "*", "linkage", "manage", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clients")),
    )
    op.create_table(
        "source_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("source_record_id", sa.String(length=128), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("source_version", sa.BigInteger(), nullable=False),
        sa.Column("person_encrypted", sa.Text(), nullable=False),
        sa.Column("data_encrypted", sa.Text(), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("withdrawn_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_source_records_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_source_records_client_id_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_records")),
        sa.UniqueConstraint(
            "agency_id",
            "source_record_id",
            name=op.f("uq_source_records_agency_id_source_record_id"),
        ),
    )
    with op.batch_alter_table("source_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_source_records_client_id"), ["client_id"], unique=False
        )

    op.create_table(
        "kept_apart",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_a_id", sa.Integer(), nullable=False),
        sa.Column("record_b_id", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("record_a_id < record_b_id", name=op.f("ck_kept_apart_ordered_pair")),
        sa.ForeignKeyConstraint(
            ["record_a_id"],
            ["source_records.id"],
            name=op.f("fk_kept_apart_record_a_id_source_records"),
        ),
        sa.ForeignKeyConstraint(
            ["record_b_id"],
            ["source_records.id"],
            name=op.f("fk_kept_apart_record_b_id_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kept_apart")),
        sa.UniqueConstraint(
            "record_a_id", "record_b_id", name=op.f("uq_kept_apart_record_a_id_record_b_id")
        ),
    )
    with op.batch_alter_table("kept_apart", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kept_apart_record_a_id"), ["record_a_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_kept_apart_record_b_id"), ["record_b_id"], unique=False
        )

    op.create_table(
        "link_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("from_client_id", sa.String(length=32), nullable=True),
        sa.Column("to_client_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=150), nullable=False),
        sa.Column("undoes_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "action IN ('auto_link', 'new_client', 'review_new', 'steward_link', "
            "'steward_unlink', 'undo')",
            name=op.f("ck_link_events_action_known"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_records.id"],
            name=op.f("fk_link_events_record_id_source_records"),
        ),
        sa.ForeignKeyConstraint(
            ["undoes_id"], ["link_events.id"], name=op.f("fk_link_events_undoes_id_link_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_events")),
    )
    with op.batch_alter_table("link_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_link_events_record_id"), ["record_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_link_events_to_client_id"), ["to_client_id"], unique=False
        )

    op.create_table(
        "record_identifiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_records.id"],
            name=op.f("fk_record_identifiers_record_id_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_identifiers")),
        sa.UniqueConstraint(
            "record_id", "kind", "value", name=op.f("uq_record_identifiers_record_id_kind_value")
        ),
    )
    with op.batch_alter_table("record_identifiers", schema=None) as batch_op:
        batch_op.create_index("ix_record_identifiers_kind_value", ["kind", "value"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_record_identifiers_record_id"), ["record_id"], unique=False
        )

    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("candidate_record_id", sa.Integer(), nullable=False),
        sa.Column("candidate_client_id", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_by", sa.String(length=150), nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'linked', 'kept_apart', 'superseded')",
            name=op.f("ck_review_items_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["candidate_record_id"],
            ["source_records.id"],
            name=op.f("fk_review_items_candidate_record_id_source_records"),
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_records.id"],
            name=op.f("fk_review_items_record_id_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_review_items_record_id"), ["record_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_items_status"), ["status"], unique=False)

    op.create_table(
        "source_record_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("source_version", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("person_encrypted", sa.Text(), nullable=True),
        sa.Column("data_encrypted", sa.Text(), nullable=True),
        sa.Column("body_digest", sa.String(length=64), nullable=True),
        sa.Column("recorded_by", sa.String(length=150), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.CheckConstraint(
            "action IN ('upsert', 'withdraw')", name=op.f("ck_source_record_versions_action_known")
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_records.id"],
            name=op.f("fk_source_record_versions_record_id_source_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_record_versions")),
    )
    with op.batch_alter_table("source_record_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_source_record_versions_record_id"), ["record_id"], unique=False
        )

    append_only("source_record_versions")
    append_only("link_events")
    add_policy(POLICY)


def downgrade() -> None:
    remove_policy(POLICY)
    for table in (
        "source_record_versions",
        "review_items",
        "record_identifiers",
        "link_events",
        "kept_apart",
        "source_records",
        "clients",
    ):
        op.drop_table(table)
