"""Monthly partitions of the access log on PostgreSQL (migration 0025, docs/access-log.md).

``access_events`` is partitioned by ``occurred_at``, one partition per UTC month, with a
DEFAULT partition that takes any entry no month partition covers, so that a write never
fails for want of a partition. An entry that lands in the DEFAULT partition is safe but
costly: PostgreSQL then refuses to create that month's partition (it would have to move
rows out of the DEFAULT one, a DELETE the append-only guard refuses). So partitions are
created months before they are needed, by every sealer (at most once an hour per
process), by every ``caseops audit seal`` and by ``caseops audit partitions ensure``.

The work is done by the database function ``caseops_access_log_ensure_partitions``
(SECURITY DEFINER, owned by the migrations' account): the application's role, which may
only INSERT and SELECT the log, can run it without being able to alter the table. It
reports each month ``created``, ``exists`` or ``blocked`` (rows of that month already in
the DEFAULT partition; the month is not created, and ``repair_default`` -- ``caseops audit
partitions repair``, run by the owner -- moves them out). SQLite keeps one table.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Engine, text

from caseops.storage.dialect import is_postgresql

log = logging.getLogger(__name__)

MONTHS_AHEAD = 3
MAX_MONTHS_AHEAD = 24  # the database function refuses more
CHECK_INTERVAL_SECONDS = 3600.0
SCHEMA = "access_log"


@dataclass(frozen=True)
class MonthStatus:
    """One month's partition after ``ensure_partitions``: created, exists or blocked."""

    month: date
    status: str

    @property
    def label(self) -> str:
        return f"{self.month:%Y-%m}"


@dataclass(frozen=True)
class Partition:
    """A partition of ``access_events`` and the range of ``occurred_at`` it holds."""

    name: str
    bounds: str


def ensure_partitions(engine: Engine, ahead: int = MONTHS_AHEAD) -> list[MonthStatus]:
    """Create the month partitions from this month through ``ahead`` months later (those
    missing); one status per month. Empty on SQLite."""
    if not 0 <= ahead <= MAX_MONTHS_AHEAD:
        raise ValueError(f"ahead must be between 0 and {MAX_MONTHS_AHEAD} months")
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        rows = conn.execute(
            text("SELECT month, status FROM caseops_access_log_ensure_partitions(:ahead)"),
            {"ahead": ahead},
        ).all()
    return [MonthStatus(month, status) for month, status in rows]


def blocked_message(blocked: list[MonthStatus]) -> str:
    months = ", ".join(status.label for status in blocked)
    return (
        f"not created: {months}: the DEFAULT partition already holds entries of "
        "that month, so PostgreSQL cannot give it its own partition; the entries are "
        "safe and verify as before (docs/access-log.md, 'Partitions')"
    )


def list_partitions(conn: Connection) -> list[Partition]:
    """Every partition of ``access_events`` with its bounds, DEFAULT last. Empty on SQLite.

    Reads the catalogs only, so any role that may read the log may list them."""
    if not is_postgresql(conn):
        return []
    rows = conn.execute(
        text(
            "SELECT n.nspname || '.' || c.relname, pg_get_expr(c.relpartbound, c.oid) "
            "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = 'access_events'::regclass "
            "ORDER BY pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', c.relname"
        )
    ).all()
    return [Partition(name, bounds) for name, bounds in rows]


@dataclass(frozen=True)
class Repair:
    """What ``repair_default`` did: entries moved, and each month's partition status."""

    moved: int
    months: list[MonthStatus]


_REPAIR = [
    "ALTER TABLE access_events DETACH PARTITION access_log.access_events_default",
    "ALTER TABLE access_log.access_events_default RENAME TO access_events_default_detached",
    "CREATE TABLE access_log.access_events_default PARTITION OF access_events DEFAULT",
    "SELECT caseops_access_log_guard_partition('access_log.access_events_default')",
]
_MONTHS_OF_DETACHED = """
SELECT m::date, caseops_access_log_partition(m::date)
FROM (SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS m
      FROM access_log.access_events_default_detached) AS months
ORDER BY 1
"""
# Every column by name: the copy must not depend on their order.
_MOVE = """
INSERT INTO access_events (seq, occurred_at, actor, actor_user_id, actor_agency,
  actor_roles, token_id, action, outcome, target_type, target_id, client_id, purpose,
  request_id, channel, ip, user_agent, detail, leaf_salt)
SELECT seq, occurred_at, actor, actor_user_id, actor_agency, actor_roles, token_id,
  action, outcome, target_type, target_id, client_id, purpose, request_id, channel, ip,
  user_agent, detail, leaf_salt
FROM access_log.access_events_default_detached
"""


def repair_default(engine: Engine) -> Repair:
    """Give the months of the entries in the DEFAULT partition their own partitions and
    move the entries there, in one transaction, as the owner (a maintenance window: it
    locks the log while it runs).

    No row is updated or deleted, which the append-only guard would refuse: the DEFAULT
    partition is detached whole, a new empty one takes its place, the month partitions
    are created, the entries are copied back through ``access_events`` (every column and
    ``seq`` as they were, so every leaf still verifies) and the detached table is
    dropped. Nothing to do (and nothing locked) when the DEFAULT partition is empty."""
    if engine.dialect.name != "postgresql":
        return Repair(0, [])
    count = text("SELECT count(*) FROM access_log.access_events_default")
    with engine.begin() as conn:
        if not conn.scalar(count):
            return Repair(0, [])
        conn.execute(text("LOCK TABLE access_events IN ACCESS EXCLUSIVE MODE"))
        held = conn.scalar(count)
        for statement in _REPAIR:
            conn.execute(text(statement))
        months = [MonthStatus(m, status) for m, status in conn.execute(text(_MONTHS_OF_DETACHED))]
        moved = conn.execute(text(_MOVE)).rowcount
        if moved != held:  # cannot happen: the count and the copy see the same rows
            raise RuntimeError(f"moved {moved} of {held} entries; rolled back")
        conn.execute(text("DROP TABLE access_log.access_events_default_detached"))
    return Repair(moved, months)


class PartitionKeeper:
    """Runs ``ensure_partitions`` from a periodic task at most every ``interval`` seconds;
    logs instead of raising, since sealing must go on whatever happens here."""

    def __init__(self, interval: float = CHECK_INTERVAL_SECONDS) -> None:
        self.interval = interval
        self._next = 0.0

    def run(self, engine: Engine) -> list[MonthStatus] | None:
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self.interval
        try:
            statuses = ensure_partitions(engine)
        except Exception:
            log.exception("creating access log partitions ahead failed; retrying later")
            return None
        blocked = [status for status in statuses if status.status == "blocked"]
        if blocked:
            log.warning("access log partitions %s", blocked_message(blocked))
        return statuses
