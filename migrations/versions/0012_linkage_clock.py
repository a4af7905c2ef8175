"""The linkage clock: writers that place records take turns where they could meet.

Two transactions placing the same person at the same time (a PUT from each of two
agencies, two bulk loads) each read candidates without the other's uncommitted record
and would make two clients of one person. caseops.clients.serialize makes them take
turns through this table (its lock modes and advisory locks on the blocking keys); the
sum of the shards' ticks tells a bulk plan made in an earlier snapshot whether anybody
placed records since.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SHARDS = 64  # caseops.clients.serialize.SHARDS; a test checks they agree


def upgrade() -> None:
    clock = op.create_table(
        "linkage_clock",
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("ticks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("shard", name=op.f("pk_linkage_clock")),
    )
    op.bulk_insert(clock, [{"shard": shard, "ticks": 0} for shard in range(SHARDS)])


def downgrade() -> None:
    op.drop_table("linkage_clock")
