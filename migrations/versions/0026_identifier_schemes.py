"""Identifier schemes (issue 20): which version of the pseudonymous identifiers every
stored record is indexed under.

Version 2 adds ``name_birth`` identifiers (each name word with the birth date), which
client search by name and birth date reads instead of probing every record of that birth
date. Search may rely on them only once every record has them: an index that is empty now
is indexed under version 2 from the start (recorded here); an installation with records
gets them from ``caseops link reindex`` (it needs the pseudonym key, which a migration
does not have), which records version 2 when it has run to its end. Until then search
reads the identifiers every record has, and finds the same clients.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identifier_schemes",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("indexed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_identifier_schemes")),
    )
    op.execute(
        "INSERT INTO identifier_schemes (version, indexed_at) "
        "SELECT 2, CURRENT_TIMESTAMP WHERE NOT EXISTS (SELECT 1 FROM source_records)"
    )


def downgrade() -> None:
    op.drop_table("identifier_schemes")
