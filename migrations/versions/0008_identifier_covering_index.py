"""Identifier look-ups answered from the index alone.

Blocking reads (kind, value) -> record_id for thousands of keys per chunk of records;
with record_id in the index, PostgreSQL answers from the index without visiting the
table. The index on record_id alone duplicated the leading column of the unique
(record_id, kind, value) constraint and only cost writes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_identifiers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_record_identifiers_kind_value_record_id", ["kind", "value", "record_id"]
        )
        batch_op.drop_index("ix_record_identifiers_kind_value")
        batch_op.drop_index("ix_record_identifiers_record_id")


def downgrade() -> None:
    with op.batch_alter_table("record_identifiers", schema=None) as batch_op:
        batch_op.create_index("ix_record_identifiers_record_id", ["record_id"])
        batch_op.create_index("ix_record_identifiers_kind_value", ["kind", "value"])
        batch_op.drop_index("ix_record_identifiers_kind_value_record_id")
