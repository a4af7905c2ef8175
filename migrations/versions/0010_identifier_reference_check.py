"""Check that identifiers name a stored record once per statement, not once per row.

A record adds about sixteen identifier rows, and PostgreSQL checks a foreign key row by
row: an index probe and a share lock on the record for each, 60 % of the cost of
copying the identifiers in (32,000 rows at 100k records: 0.73-0.95 s with the key,
0.29-0.37 s without, 0.38-0.56 s with this check). The foreign key is replaced by a
trigger that checks each INSERT or UPDATE statement's new rows against
source_records in one anti-join (a transition table). SQLite checks each row, in a
trigger, as its foreign key did.

Nothing deletes a source record (a withdrawal is a flag, and every record's history
rows keep their own foreign key to it), so the check on the identifiers' side is the
whole of what the foreign key guaranteed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

FK = "fk_record_identifiers_record_id_source_records"
PG_FUNCTION = """
CREATE FUNCTION caseops_identifiers_name_records() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM new_rows AS n
    WHERE NOT EXISTS (SELECT 1 FROM source_records AS r WHERE r.id = n.record_id)
  ) THEN
    RAISE EXCEPTION 'caseops: an identifier names no stored record'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NULL;
END
$$
"""
SQLITE_CHECK = (
    "CREATE TRIGGER record_identifiers_name_a_record_on_{verb} BEFORE {verb} "
    "ON record_identifiers WHEN NOT EXISTS "
    "(SELECT 1 FROM source_records WHERE id = NEW.record_id) "
    "BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: an identifier names no "
    "stored record'); END"
)


def upgrade() -> None:
    with op.batch_alter_table("record_identifiers", schema=None) as batch:
        batch.drop_constraint(FK, type_="foreignkey")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for verb in ("INSERT", "UPDATE"):
            # A trigger with a transition table serves one event only.
            op.execute(
                f"CREATE TRIGGER record_identifiers_name_records_{verb.lower()} "
                f"AFTER {verb} ON record_identifiers REFERENCING NEW TABLE AS new_rows "
                "FOR EACH STATEMENT EXECUTE FUNCTION caseops_identifiers_name_records()"
            )
    else:
        for verb in ("INSERT", "UPDATE"):
            op.execute(SQLITE_CHECK.format(verb=verb))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for verb in ("insert", "update"):
            op.execute(f"DROP TRIGGER record_identifiers_name_records_{verb} ON record_identifiers")
        op.execute("DROP FUNCTION caseops_identifiers_name_records()")
    else:
        for verb in ("INSERT", "UPDATE"):
            op.execute(f"DROP TRIGGER record_identifiers_name_a_record_on_{verb}")
    with op.batch_alter_table("record_identifiers", schema=None) as batch:
        batch.create_foreign_key(FK, "source_records", ["record_id"], ["id"])
