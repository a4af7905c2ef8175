"""Each record keeps its normalised identifiers, encrypted, for linkage to read.

Linking a new record compares it with a few stored candidates; normalising each
candidate again from its person (names, address, phone, ...) was the largest single
cost of linkage after the comparisons themselves. ``linkage_encrypted`` holds the
features ingest computed, encrypted like the person (AES-GCM, bound to the record).
It is NULL for records stored before: linkage normalises those as before, and
``caseops link reindex`` fills it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("source_records", sa.Column("linkage_encrypted", sa.Text(), nullable=True))


def downgrade() -> None:
    # Not a batch: rebuilding source_records on SQLite trips the triggers of 0010 that
    # name it; both databases drop a plain column in place.
    op.execute("ALTER TABLE source_records DROP COLUMN linkage_encrypted")
