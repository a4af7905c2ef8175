"""Tasks and notes (issue 18).

Tasks: a task's facts are one row that never changes; its history (creation, each
assignment, done or cancelled) is a list of numbered moves, so the current status and
assignee are the last move's, and two changes made at once from the same state collide on
``(task_id, seq)``. Notes: a note is one row that never changes; each amendment is a new
numbered row that keeps the original. All four tables are append-only in the database.

Policy: case workers and supervisors keep tasks (``tasks, write``) and write notes
(``notes, write``); who reads a note is the record view's decision (a note is a section of
its author's agency in its category), so no policy rule of its own.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from migrations.guards import add_policy, append_only, remove_policy

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
POLICY = [
    ("p", "case_worker", "*", "tasks", "write", "allow"),
    ("p", "supervisor", "*", "tasks", "write", "allow"),
    ("p", "case_worker", "*", "notes", "write", "allow"),
    ("p", "supervisor", "*", "notes", "write", "allow"),
]
TABLES = ("tasks", "task_moves", "notes", "note_amendments")


def upgrade() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("referral_id", sa.String(length=32), nullable=True),
        sa.Column("title_encrypted", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("created_by", sa.String(length=150), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_tasks_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_tasks_referral_id_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_client_id"), "tasks", ["client_id"])
    op.create_index(op.f("ix_tasks_agency_code"), "tasks", ["agency_code"])
    op.create_table(
        "task_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assignee", sa.String(length=150), nullable=True),
        sa.Column("by_user", sa.String(length=150), nullable=False),
        sa.Column("by_agency", sa.String(length=32), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("note_encrypted", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'cancelled')", name=op.f("ck_task_moves_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_moves_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_moves")),
        sa.UniqueConstraint("task_id", "seq", name="uq_task_moves_seq"),
    )
    op.create_index(op.f("ix_task_moves_task_id"), "task_moves", ["task_id"])
    op.create_index(op.f("ix_task_moves_assignee"), "task_moves", ["assignee"])
    op.create_table(
        "notes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("referral_id", sa.String(length=32), nullable=True),
        sa.Column("author", sa.String(length=150), nullable=False),
        sa.Column("text_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_notes_client_id_clients")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_notes_referral_id_referrals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
    )
    op.create_index(op.f("ix_notes_client_id"), "notes", ["client_id"])
    op.create_table(
        "note_amendments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("text_encrypted", sa.Text(), nullable=False),
        sa.Column("reason_encrypted", sa.Text(), nullable=False),
        sa.Column("by_user", sa.String(length=150), nullable=False),
        sa.Column("by_agency", sa.String(length=32), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["note_id"], ["notes.id"], name=op.f("fk_note_amendments_note_id_notes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_amendments")),
        sa.UniqueConstraint("note_id", "seq", name="uq_note_amendments_seq"),
    )
    op.create_index(op.f("ix_note_amendments_note_id"), "note_amendments", ["note_id"])
    for table in TABLES:
        append_only(table)
    add_policy(POLICY)


def downgrade() -> None:
    remove_policy(POLICY)
    for table in reversed(TABLES):
        op.drop_table(table)
