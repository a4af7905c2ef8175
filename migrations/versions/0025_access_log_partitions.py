"""The access log partitioned by month on PostgreSQL (issue 20). SQLite keeps one table.

``access_events`` becomes ``PARTITION BY RANGE (occurred_at)``: one partition per
calendar month (UTC), ``access_log.access_events_YYYY_MM``, and a DEFAULT partition,
``access_log.access_events_default``, so that a write never fails for want of a
partition. The partitions live in their own schema, ``access_log``: the application
role has no privilege on it (every read and write goes through ``access_events``, which
keeps its INSERT/SELECT-only grant), ``caseops db grant-app-role``'s "all tables in
schema public" never reaches them, and schema comparisons see one table as before.

What stays the same, so that sealing, verify, proofs, search and disclosures do not
change: every column and its type, ``seq`` and the sequence that assigns it (its next
value too: the same sequence, re-owned), the CHECK constraints (outcome, 0021's
leaf_salt size), the indexes (created on the parent, so one per partition), the
append-only guard (the row trigger is cloned onto every partition, present and future;
TRUNCATE, a statement trigger PostgreSQL does not clone, gets one per partition), and
every grant on the table (copied from the old one).

What changes: PostgreSQL wants the partition key in every unique constraint, so the
primary key is ``(seq, occurred_at)``. ``seq`` stays unique all the same: only the
sequence assigns it (the writer never sets it), and ``audit_leaves.event_seq`` is
UNIQUE on its own. The ORM keeps mapping ``seq`` alone as the identity; nothing refers
to ``access_events`` by foreign key or ON CONFLICT.

Partitions ahead of time: ``caseops_access_log_ensure_partitions(ahead)`` (SECURITY
DEFINER, so the application role's sealer may call it without owning the table)
creates the month partitions from the current month through ``ahead`` months later.
It creates each as a plain table and ATTACHes it: SHARE UPDATE EXCLUSIVE on the parent,
so writers go on, but ACCESS EXCLUSIVE on the DEFAULT partition, which every unpruned
read of the log also locks; a one-second lock timeout bounds how long readers can queue
behind it (it then fails, and the next check, an hour later, tries again). A month whose
rows already sit in the DEFAULT partition is reported ``blocked`` and not created
(PostgreSQL would refuse, and moving rows out would be a DELETE the append-only guard
refuses): ``caseops audit partitions repair`` moves them (docs/access-log.md).

Converting an existing log: the rows are copied in ``seq`` order into the new table,
whose partitions run from the oldest entry's month through three months ahead; the
copy is ``INSERT ... SELECT`` of every column, so an entry's canonical bytes, and so
its leaf, are unchanged. It holds the log's ACCESS EXCLUSIVE lock for the copy and the
index builds (22 s for a million entries on a busy 2-core machine, the downgrade as
long): upgrade during a maintenance window.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from migrations.guards import append_only

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

SCHEMA = "access_log"
SEQUENCE = "access_events_seq_seq"
MONTHS_AHEAD = 3
# (name, columns) of the indexes of 0001 (and of the model).
INDEXES = (
    ("ix_access_events_occurred_at", "occurred_at"),
    ("ix_access_events_actor_agency", "actor_agency"),
    ("ix_access_events_client_id_seq", "client_id, seq"),
    ("ix_access_events_actor_seq", "actor, seq"),
    ("ix_access_events_action_seq", "action, seq"),
)
# pg_advisory_xact_lock key of ensure_partitions, "caseopsP" as a 64-bit integer (the
# sealer has "caseops\x01", webhook delivery "caseops\x02").
ENSURE_LOCK_KEY = int.from_bytes(b"caseopsP", "big")

# {home}: the schema of access_events (current_schema() when the migration runs).
PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION {home}.caseops_access_log_partition(month date) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
AS $$
DECLARE
  first_day date := date_trunc('month', month)::date;
  lo timestamptz := first_day::timestamp AT TIME ZONE 'UTC';
  hi timestamptz := (first_day + interval '1 month')::timestamp AT TIME ZONE 'UTC';
  part text := format('{schema}.%I', 'access_events_' || to_char(first_day, 'YYYY_MM'));
  default_part regclass;
  held boolean := false;
  grant_row record;
BEGIN
  IF to_regclass(part) IS NOT NULL THEN
    RETURN 'exists';
  END IF;
  SELECT nullif(partdefid, 0)::regclass INTO default_part FROM pg_partitioned_table
  WHERE partrelid = '{home}.access_events'::regclass;
  IF default_part IS NOT NULL THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE occurred_at >= $1 '
                   'AND occurred_at < $2)', default_part) INTO held USING lo, hi;
  END IF;
  IF held THEN
    RETURN 'blocked';
  END IF;
  EXECUTE format('CREATE TABLE %s (LIKE {home}.access_events '
                 'INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
  -- Whatever default privileges handed out: a partition is reached through the parent.
  FOR grant_row IN
    SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = part::regclass AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('REVOKE ALL ON %s FROM %s', part, CASE WHEN grant_row.grantee = 0
      THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(grant_row.grantee)) END);
  END LOOP;
  EXECUTE format('ALTER TABLE {home}.access_events ATTACH PARTITION %s '
                 'FOR VALUES FROM (%L) TO (%L)', part, lo, hi);
  PERFORM {home}.caseops_access_log_guard_partition(part);
  RETURN 'created';
END
$$
"""

# TRUNCATE triggers are statement triggers: PostgreSQL clones only row triggers onto
# partitions, so each partition gets its own. The cloned row trigger is set to fire
# ALWAYS (even under session_replication_role = replica) like the parent's.
GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION {home}.caseops_access_log_guard_partition(part text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  EXECUTE format('CREATE TRIGGER access_events_no_truncate BEFORE TRUNCATE ON %s '
                 'FOR EACH STATEMENT EXECUTE FUNCTION {home}.caseops_append_only()', part);
  EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER access_events_no_truncate', part);
  IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = part::regclass
             AND tgname = 'access_events_append_only') THEN
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER access_events_append_only', part);
  END IF;
END
$$
"""

ENSURE_FUNCTION = """
CREATE OR REPLACE FUNCTION {home}.caseops_access_log_ensure_partitions(ahead integer)
RETURNS TABLE (month date, status text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET "TimeZone" = 'UTC'
SET lock_timeout = '1s'
AS $$
BEGIN
  IF ahead IS NULL OR ahead < 0 OR ahead > 24 THEN
    RAISE EXCEPTION 'caseops: months ahead must be between 0 and 24, not %', ahead
      USING ERRCODE = '22023';
  END IF;
  PERFORM pg_advisory_xact_lock({lock_key});
  FOR i IN 0..ahead LOOP
    month := (date_trunc('month', now() AT TIME ZONE 'UTC')
              + make_interval(months => i))::date;
    status := {home}.caseops_access_log_partition(month);
    RETURN NEXT;
  END LOOP;
END
$$
"""

# Copy every grant of one relation onto another (the owner's own are implicit).
COPY_GRANTS = """
DO $$
DECLARE
  grant_row record;
BEGIN
  FOR grant_row IN
    SELECT a.grantee, a.privilege_type, a.is_grantable
    FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = '{source}'::regclass AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('GRANT %s ON {target} TO %s%s', grant_row.privilege_type,
      CASE WHEN grant_row.grantee = 0 THEN 'PUBLIC'
           ELSE quote_ident(pg_get_userbyid(grant_row.grantee)) END,
      CASE WHEN grant_row.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
END
$$
"""

# Whoever may write the log may create its partitions ahead of time (the sealer).
GRANT_ENSURE = """
DO $$
DECLARE
  grant_row record;
BEGIN
  FOR grant_row IN
    SELECT DISTINCT a.grantee FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = '{home}.access_events'::regclass AND a.grantee <> c.relowner
      AND a.grantee <> 0 AND a.privilege_type = 'INSERT'
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION {home}.caseops_access_log_ensure_partitions'
                   '(integer) TO %I', pg_get_userbyid(grant_row.grantee));
  END LOOP;
END
$$
"""

# Every column by name, so the copy does not depend on their order.
COLUMNS = (
    "seq, occurred_at, actor, actor_user_id, actor_agency, actor_roles, token_id, action, "
    "outcome, target_type, target_id, client_id, purpose, request_id, channel, ip, "
    "user_agent, detail, leaf_salt"
)
COPY_ROWS = """
INSERT INTO {home}.access_events ({columns})
SELECT {columns} FROM {home}.{source} ORDER BY seq
"""
# A partition per month from the oldest entry's (this month's if none) through
# MONTHS_AHEAD months ahead.
FIRST_PARTITIONS = """
SELECT {home}.caseops_access_log_partition(month::date) FROM generate_series(
  date_trunc('month', coalesce((SELECT min(occurred_at)
    FROM {home}.access_events_unpartitioned), now()) AT TIME ZONE 'UTC'),
  date_trunc('month', now() AT TIME ZONE 'UTC') + interval '{months_ahead} months',
  interval '1 month') AS month
"""


def _home() -> str:
    home = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    return op.get_bind().dialect.identifier_preparer.quote(home)


def _finish_table(home: str, primary_key: str) -> None:
    """Constraints, indexes, guard and sequence of a freshly filled ``access_events``."""
    op.execute(f"ALTER TABLE {home}.access_events ADD CONSTRAINT pk_access_events {primary_key}")
    for name, columns in INDEXES:
        op.execute(f"CREATE INDEX {name} ON {home}.access_events ({columns})")
    append_only("access_events")
    op.execute(f"ALTER SEQUENCE {home}.{SEQUENCE} OWNED BY {home}.access_events.seq")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    home = _home()
    fmt = {
        "home": home,
        "schema": SCHEMA,
        "lock_key": ENSURE_LOCK_KEY,
        "months_ahead": MONTHS_AHEAD,
    }
    op.execute(f"LOCK TABLE {home}.access_events IN ACCESS EXCLUSIVE MODE")
    op.execute(f"ALTER TABLE {home}.access_events RENAME TO access_events_unpartitioned")
    op.execute(
        f"CREATE TABLE {home}.access_events (LIKE {home}.access_events_unpartitioned "
        "INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (occurred_at)"
    )
    op.execute(
        COPY_GRANTS.format(
            source=f"{home}.access_events_unpartitioned", target=f"{home}.access_events"
        )
    )
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    op.execute(f"REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC")
    op.execute(GUARD_FUNCTION.format(**fmt))
    op.execute(PARTITION_FUNCTION.format(**fmt))
    op.execute(ENSURE_FUNCTION.format(**fmt))
    for name in ("caseops_access_log_guard_partition(text)", "caseops_access_log_partition(date)"):
        op.execute(f"REVOKE ALL ON FUNCTION {home}.{name} FROM PUBLIC")
    op.execute(
        f"REVOKE ALL ON FUNCTION {home}.caseops_access_log_ensure_partitions(integer) FROM PUBLIC"
    )
    op.execute(
        f"CREATE TABLE {SCHEMA}.access_events_default PARTITION OF {home}.access_events DEFAULT"
    )
    op.execute(FIRST_PARTITIONS.format(**fmt))
    op.execute(COPY_ROWS.format(home=home, columns=COLUMNS, source="access_events_unpartitioned"))
    # The same sequence goes on assigning seq, from where it was.
    op.execute(f"ALTER SEQUENCE {home}.{SEQUENCE} OWNED BY NONE")
    op.execute(f"DROP TABLE {home}.access_events_unpartitioned")
    _finish_table(home, "PRIMARY KEY (seq, occurred_at)")
    op.execute(
        f"SELECT {home}.caseops_access_log_guard_partition('{SCHEMA}.access_events_default')"
    )
    op.execute(GRANT_ENSURE.format(**fmt))


def downgrade() -> None:
    """Back to one table, every entry kept with its seq (the same copy, the other way)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    home = _home()
    op.execute(f"LOCK TABLE {home}.access_events IN ACCESS EXCLUSIVE MODE")
    op.execute(f"ALTER TABLE {home}.access_events RENAME TO access_events_partitioned")
    op.execute(
        f"CREATE TABLE {home}.access_events (LIKE {home}.access_events_partitioned "
        "INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    op.execute(
        COPY_GRANTS.format(
            source=f"{home}.access_events_partitioned", target=f"{home}.access_events"
        )
    )
    op.execute(COPY_ROWS.format(home=home, columns=COLUMNS, source="access_events_partitioned"))
    op.execute(f"ALTER SEQUENCE {home}.{SEQUENCE} OWNED BY NONE")
    op.execute(f"DROP TABLE {home}.access_events_partitioned")
    op.execute(f"DROP SCHEMA {SCHEMA}")
    for name in (
        "caseops_access_log_ensure_partitions(integer)",
        "caseops_access_log_partition(date)",
        "caseops_access_log_guard_partition(text)",
    ):
        op.execute(f"DROP FUNCTION {home}.{name}")
    _finish_table(home, "PRIMARY KEY (seq)")
