"""Writers that place records take turns where they could meet.

A record is linked against the candidates its transaction can see. Two transactions
placing the same person at once (a PUT from each of two agencies, two bulk loads)
would each miss the other's uncommitted record and make two clients of one person. So
every transaction that places records claims the linkage first, before it reads a
candidate, and holds the claim until it commits:

* a PUT claims its record's blocking keys (transaction-level advisory locks, taken in
  order) and ticks one shard of the linkage clock, which holds the clock table in ROW
  EXCLUSIVE mode: PUTs of different people go side by side, PUTs that share a blocking
  key (the only ones that can be each other's candidates) take turns;
* a bulk chunk, ``link rebuild`` and ``link reindex`` claim all of it (the table in
  EXCLUSIVE mode: one at a time, after the PUTs placing now, before the next ones).

The clock, the sum of the shards' ticks, moves with every committed claim, so a plan
made in an earlier snapshot (caseops.records.pipeline) can tell whether anybody placed
records since it read.

SQLite has one writer at a time: the tick takes the database's write lock, so the
candidates read after it include every earlier write.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import text

from caseops.extensions import db
from caseops.storage.dialect import is_postgresql

SHARDS = 64  # rows of linkage_clock (migration 0012)
# A claim of more keys than this claims everything: advisory locks live in a shared
# table of fixed size (max_locks_per_transaction x connections).
MAX_KEYS = 64
_HELD = "linkage_claim"

_TICK = text("UPDATE linkage_clock SET ticks = ticks + 1 WHERE shard = :shard")
_READ = text("SELECT COALESCE(SUM(ticks), 0) FROM linkage_clock")
# One statement for all the keys, locked in ascending order (the subquery's), so two
# claims of overlapping keys queue rather than deadlock.
_LOCK_KEYS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM "
    "(SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
)
_LOCK_ALL = text("LOCK TABLE linkage_clock IN EXCLUSIVE MODE")


def _held() -> str | None:
    """``"keys"`` or ``"all"`` if this transaction claimed already."""
    transaction = db.session().get_transaction()
    held = db.session.info.get(_HELD)
    if held is not None and held[0] is transaction:
        return held[1]
    return None


def _hold(mode: str) -> None:
    db.session.info[_HELD] = (db.session().get_transaction(), mode)


def _shard() -> int:
    return secrets.randbelow(SHARDS)


def _tick(shard: int) -> None:
    if db.session.execute(_TICK, {"shard": shard}).rowcount != 1:
        raise RuntimeError(f"linkage_clock has no shard {shard}: run `caseops db upgrade`")


def claim_keys(keys: Iterable[int]) -> None:
    """Claim the linkage of records with these blocking keys for the transaction."""
    db.session.connection()  # the claim belongs to the transaction under way
    if _held() == "all":
        return
    ordered = sorted(set(keys))
    if len(ordered) > MAX_KEYS or not is_postgresql():
        claim_all()
        return
    if _held() is None:
        _tick(_shard())
        _hold("keys")
    if ordered:
        db.session.execute(_LOCK_KEYS, {"keys": ordered})


def claim_all() -> int:
    """Claim all linkage for the transaction; returns the clock as it was before it."""
    db.session.connection()
    if _held() != "all":
        if is_postgresql():
            db.session.execute(_LOCK_ALL)
        _tick(0)
        _hold("all")
    return clock() - 1  # less this transaction's one tick


def clock() -> int:
    """The linkage clock in the transaction's view."""
    return db.session.scalar(_READ)
