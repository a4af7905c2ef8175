"""Sealing the access log: Merkle leaves, perfect-subtree nodes and signed checkpoints.

All three tables are append-only, like ``access_events``. On PostgreSQL, an existing
application role (``CASEOPS_APP_DB_ROLE``, default ``caseops_app``) is granted INSERT
and SELECT only on the log tables, so the application cannot rewrite history even if
it is compromised; migrations keep running as the owner.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

from migrations.guards import append_only

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

LOG_TABLES = ("access_events", "audit_leaves", "audit_nodes", "audit_checkpoints")
AUDIT_POLICY = [
    ("p", "privacy_officer", "*", "audit", "read", "allow"),
    ("p", "privacy_officer", "*", "audit", "verify", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "audit_leaves",
        sa.Column("leaf_index", SEQ, nullable=False, autoincrement=False),
        sa.Column("event_seq", SEQ, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_audit_leaves")),
        sa.UniqueConstraint("event_seq", name=op.f("uq_audit_leaves_event_seq")),
    )
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), nullable=False, autoincrement=False),
        sa.Column("node_index", SEQ, nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("level >= 1", name=op.f("ck_audit_nodes_above_leaves")),
        sa.PrimaryKeyConstraint("level", "node_index", name=op.f("pk_audit_nodes")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", SEQ, nullable=False, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", TS, nullable=False),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("frontier", sa.LargeBinary(), nullable=False),
        sa.Column("low_watermark", SEQ, nullable=False),
        sa.Column("high_seq", SEQ, nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name=op.f("pk_audit_checkpoints")),
    )
    for table in ("audit_leaves", "audit_nodes", "audit_checkpoints"):
        append_only(table)

    casbin_rule = sa.table(
        "casbin_rule", *[sa.column(c, sa.String) for c in ("ptype", "v0", "v1", "v2", "v3", "v4")]
    )
    op.bulk_insert(
        casbin_rule,
        [
            dict(zip(["ptype", "v0", "v1", "v2", "v3", "v4"], row, strict=True))
            for row in AUDIT_POLICY
        ],
    )
    op.execute(
        "UPDATE policy_version SET version = version + 1, changed_at = CURRENT_TIMESTAMP "
        "WHERE id = 1"
    )
    _grant_app_role()


def _grant_app_role() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    role = os.environ.get("CASEOPS_APP_DB_ROLE", "caseops_app")
    exists = bind.execute(
        sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
    ).scalar()
    if not exists:
        return
    quoted = bind.dialect.identifier_preparer.quote(role)
    for table in LOG_TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM {quoted}")
        op.execute(f"GRANT INSERT, SELECT ON {table} TO {quoted}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE access_events_seq_seq TO {quoted}")


def downgrade() -> None:
    casbin_rule = sa.table(
        "casbin_rule", *[sa.column(c, sa.String) for c in ("ptype", "v0", "v1", "v2", "v3", "v4")]
    )
    for ptype, v0, v1, v2, v3, v4 in AUDIT_POLICY:
        op.execute(
            casbin_rule.delete().where(
                casbin_rule.c.ptype == ptype,
                casbin_rule.c.v0 == v0,
                casbin_rule.c.v1 == v1,
                casbin_rule.c.v2 == v2,
                casbin_rule.c.v3 == v3,
                casbin_rule.c.v4 == v4,
            )
        )
    op.execute(
        "UPDATE policy_version SET version = version + 1, changed_at = CURRENT_TIMESTAMP "
        "WHERE id = 1"
    )
    for table in ("audit_checkpoints", "audit_nodes", "audit_leaves"):
        op.drop_table(table)
