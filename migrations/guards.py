"""Database-level guarantees shared by migrations.

Kept beside the migrations (not in the app) so a migration's behaviour never changes
after it has run. NOTE: SQLite batch-mode ALTERs recreate a table and drop its
triggers; a later migration that alters an append-only table must call
``append_only`` again. Recreating ``source_records`` there fails while the triggers
of 0010 (on record_identifiers) name it: alter it in place, or drop those first.
"""

from __future__ import annotations

from alembic import op

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION caseops_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'caseops: % on % refused: the table is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = '42501';
END
$$
"""


def create_append_only_function() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)


def drop_append_only_function() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS caseops_append_only()")


def append_only(table: str) -> None:
    """Make ``table`` reject UPDATE and DELETE (and TRUNCATE on PostgreSQL) in the database."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION caseops_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION caseops_append_only()"
        )
        # ALWAYS: fire even under session_replication_role = replica.
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only")
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate")
    elif dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'caseops: {verb} on {table} refused: "
                "the table is append-only'); END"
            )
    else:
        raise NotImplementedError(f"append-only guard not written for {dialect}")


POLICY_COLUMNS = ("ptype", "v0", "v1", "v2", "v3", "v4")


def add_policy(rows: list[tuple[str, ...]]) -> None:
    """Insert Casbin rules and bump the policy version, so running workers reload."""
    import sqlalchemy as sa

    op.bulk_insert(
        sa.table("casbin_rule", *[sa.column(c) for c in POLICY_COLUMNS]),
        [dict(zip(POLICY_COLUMNS, row, strict=True)) for row in rows],
    )
    op.execute("UPDATE policy_version SET version = version + 1")


def remove_policy(rows: list[tuple[str, ...]]) -> None:
    import sqlalchemy as sa

    for row in rows:
        op.execute(
            sa.text(
                "DELETE FROM casbin_rule WHERE ptype = :p AND v0 = :v0 AND v1 = :v1 "
                "AND v2 = :v2 AND v3 = :v3 AND v4 = :v4"
            ).bindparams(**dict(zip(("p", "v0", "v1", "v2", "v3", "v4"), row, strict=True)))
        )
    op.execute("UPDATE policy_version SET version = version + 1")


def suspend_append_only(table: str) -> None:
    """Lift ``table``'s append-only guard for a migration's own backfill; call
    ``append_only(table)`` again (PostgreSQL: ``resume_append_only``) right after it."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
    elif dialect == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
    else:
        raise NotImplementedError(f"append-only guard not written for {dialect}")


def resume_append_only(table: str) -> None:
    """Put back what ``suspend_append_only`` lifted."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only")
    else:
        append_only(table)
