"""Selectively disclosable access-log leaves (issue 19): ``access_events.leaf_salt``.

A new entry carries a 32-byte random secret from which one salt per field is derived;
its Merkle leaf commits to each field separately (leaf version 2, see
``caseops.audit.canonical`` and docs/access-statement.md), so a client's access
statement can prove an entry while revealing only the fields the client may see.
Entries written before this migration keep ``leaf_salt`` NULL and their version 1 leaf:
nothing sealed changes.

The column is added in place (``ALTER TABLE ... ADD COLUMN``) on both databases, so the
append-only triggers of 0001 stay (SQLite's batch mode would recreate the table and drop
them), and the application role's table-level INSERT/SELECT grant covers the new column
on PostgreSQL without any new privilege.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

CHECK = "CHECK (leaf_salt IS NULL OR length(leaf_salt) = 32)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE access_events ADD COLUMN leaf_salt BYTEA")
        op.execute(
            "ALTER TABLE access_events ADD CONSTRAINT ck_access_events_leaf_salt_size " + CHECK
        )
    else:
        # SQLite: a column constraint is allowed with ADD COLUMN; the name matches the
        # model's (naming convention ck_<table>_<name>).
        op.execute(
            "ALTER TABLE access_events ADD COLUMN leaf_salt BLOB "
            "CONSTRAINT ck_access_events_leaf_salt_size " + CHECK
        )


def downgrade() -> None:
    # Version 2 leaves cannot be recomputed without their salts: refuse to lose them.
    bind = op.get_bind()
    if bind.exec_driver_sql(
        "SELECT 1 FROM access_events WHERE leaf_salt IS NOT NULL LIMIT 1"
    ).first():
        raise RuntimeError(
            "access_events holds version 2 entries: dropping leaf_salt would make them "
            "unverifiable; restore a backup instead of downgrading"
        )
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE access_events DROP CONSTRAINT ck_access_events_leaf_salt_size")
    # SQLite >= 3.35 drops a column in place (the append-only triggers stay).
    op.execute("ALTER TABLE access_events DROP COLUMN leaf_salt")
