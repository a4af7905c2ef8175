"""Compact record identifiers: 64-bit pseudonyms keyed by (record, value).

Every record adds about fifteen rows here, and at 100k records the 32-character
values made the look-up index larger than PostgreSQL's default cache: each new row
was an index page read from the operating system, most of a bulk load's database time.

* A pseudonym is stored as the first 64 bits of its HMAC, a BIGINT (see
  caseops.linkage.pseudonym): the stored hex values are converted, not recomputed, so
  no key is needed and linkage goes on matching the records stored before.
* The primary key is (record_id, value); the surrogate id and the unique
  (record_id, kind, value) constraint, which only repeated it, are gone. The look-up
  index is (value, record_id): the kind is part of the MAC input, so the value alone
  finds a kind's rows.
* The exact SSN, phone and e-mail pseudonyms were read by nothing (blocking has its
  own keys for them) and are dropped.

The release with this migration also changes the blocking keys (the exact birth date
alone is no longer one): run ``caseops link reindex`` after upgrading, so that the
records stored before are found by the new keys.

Downgrading restores the old table empty: the old pseudonyms cannot be rebuilt from
64 bits, so run ``caseops link reindex`` with the older release after it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "record_identifiers"
# The first 16 hex digits of a 32-digit pseudonym, read as a signed 64-bit integer.
PG_CONVERT = "('x' || substr(value, 1, 16))::bit(64)::bigint"


def _signed64(hex_value: str) -> int:
    return int.from_bytes(bytes.fromhex(hex_value[:16]), "big", signed=True)


def upgrade() -> None:
    op.execute(
        "DELETE FROM record_identifiers WHERE kind IN ('ssn', 'phone', 'email')"
    )
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()
    op.create_index("ix_record_identifiers_value_record_id", TABLE, ["value", "record_id"])
    if op.get_bind().dialect.name == "postgresql":
        # The rewrite dropped the column's statistics; the planner needs them at once.
        op.execute("ANALYZE record_identifiers")


def _upgrade_postgresql() -> None:
    op.drop_index("ix_record_identifiers_kind_value_record_id", table_name=TABLE)
    op.drop_constraint("uq_record_identifiers_record_id_kind_value", TABLE, type_="unique")
    op.drop_constraint("pk_record_identifiers", TABLE, type_="primary")
    op.drop_column(TABLE, "id")
    op.alter_column(TABLE, "value", type_=sa.BigInteger(), postgresql_using=PG_CONVERT)
    op.create_primary_key("pk_record_identifiers", TABLE, ["record_id", "value"])


def _upgrade_sqlite() -> None:
    """SQLite cannot parse hex: convert here and store the integers as text for now (the
    column is still text); the rebuilt BIGINT column takes them as integers."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, value FROM record_identifiers")).all()
    if rows:
        bind.execute(
            sa.text("UPDATE record_identifiers SET value = :value WHERE id = :id"),
            [{"id": row_id, "value": str(_signed64(value))} for row_id, value in rows],
        )
    with op.batch_alter_table(TABLE, recreate="always") as batch:
        batch.drop_index("ix_record_identifiers_kind_value_record_id")
        batch.drop_constraint("uq_record_identifiers_record_id_kind_value", type_="unique")
        batch.drop_column("id")
        batch.alter_column("value", type_=sa.BigInteger(), existing_type=sa.String(64))
        batch.create_primary_key("pk_record_identifiers", ["record_id", "value"])


def downgrade() -> None:
    op.drop_table(TABLE)
    op.create_table(
        TABLE,
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
    op.create_index(
        "ix_record_identifiers_kind_value_record_id", TABLE, ["kind", "value", "record_id"]
    )
