"""Events pushed to workers (issue 18): ``notifications`` and ``record_changes``.

``notifications``: one row per event and recipient (a user or an agency), ids and kinds
only, read "after id" by the stream and the list. ``record_changes``: the queue of
written or withdrawn record sections the notifier turns into ``client.updated``. On
PostgreSQL an AFTER INSERT trigger on each sends ``NOTIFY caseops_events``: PostgreSQL
delivers it at commit and never for a rolled-back transaction, so a listener wakes
exactly when there is something committed to read.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

PG_NOTIFY_FUNCTION = """
CREATE OR REPLACE FUNCTION caseops_events_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- 'n<id>' a notification, 'c<id>' a record change for the notifier.
  PERFORM pg_notify('caseops_events', TG_ARGV[0] || NEW.id::text);
  RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("agency_code", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (agency_code IS NULL)",
            name=op.f("ck_notifications_one_recipient"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_user_id_id", ["user_id", "id"], unique=False)
        batch_op.create_index(
            "ix_notifications_agency_code_id", ["agency_code", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_created_at"), ["created_at"], unique=False
        )

    op.create_table(
        "record_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_changes")),
    )

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_NOTIFY_FUNCTION)
        for table, prefix in (("notifications", "n"), ("record_changes", "c")):
            op.execute(
                f"CREATE TRIGGER {table}_notify AFTER INSERT ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION caseops_events_notify('{prefix}')"
            )


def downgrade() -> None:
    op.drop_table("record_changes")
    op.drop_table("notifications")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS caseops_events_notify()")
