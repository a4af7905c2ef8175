"""The sealer: appends committed log entries to the Merkle tree and signs a checkpoint.

Writers never wait for it. ``record`` only inserts into ``access_events``; a seal run,
in its own transaction, picks up every committed entry that is not sealed yet, in
ascending ``seq``, appends their leaf hashes (leaf order = sealing order), stores the
perfect-subtree nodes the appends complete, and signs a checkpoint for the new size.
An entry whose transaction committed after a higher ``seq`` was sealed (PostgreSQL
assigns ``seq`` before commit) is simply a leaf of a later run.

* **One sealer at a time.** PostgreSQL: ``pg_try_advisory_xact_lock``; a second sealer
  returns at once without doing anything. SQLite: the run takes the database write lock
  first, so a second sealer waits and then finds nothing left to seal.
* **Cheap at any size.** Each checkpoint row keeps a *low watermark*: every ``seq`` at
  or below it is sealed or will never exist. A run scans only above it. The watermark
  moves past a missing ``seq`` (a rolled-back writer) only once a higher ``seq`` has
  been sealed for longer than the grace period (``DEFAULT_GRACE_SECONDS``), i.e. once no
  transaction can still be holding it, given that no log-writing transaction stays open
  that long. Should one ever do, ``verify`` reports its entry as unsealed and
  ``caseops audit seal --rescan`` seals it.
* **Resumable.** The checkpoint row also keeps the appender's compact range, so a run
  starts from the latest checkpoint without reading the tree; leaves, nodes and the
  checkpoint commit together or not at all.
* Sealing writes no ``access_events`` entry (that would never end): the checkpoints are
  its record.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from sqlalchemy import Connection, Engine, exists, func, insert, select, text

from caseops.audit.canonical import bulk_columns, canonical_values
from caseops.audit.checkpoint import Checkpoint
from caseops.audit.keys import LogKey
from caseops.audit.merkle import MerkleAppender, leaf_hash
from caseops.audit.models import AccessEvent, AuditCheckpoint, AuditLeaf, AuditNode
from caseops.audit.partitions import PartitionKeeper
from caseops.background import PerProcessTask
from caseops.db_types import utcnow
from caseops.storage.bulk import insert_rows
from caseops.storage.dialect import is_postgresql
from caseops.storage.gcpause import gc_paused

log = logging.getLogger(__name__)

EVENTS = AccessEvent.__table__
LEAVES = AuditLeaf.__table__
NODES = AuditNode.__table__
CHECKPOINTS = AuditCheckpoint.__table__

# "caseops\x01" as a signed 64-bit integer: the advisory lock of the sealer leader.
ADVISORY_LOCK_KEY = int.from_bytes(b"caseops\x01", "big")
DEFAULT_BATCH = 20_000
DEFAULT_GRACE_SECONDS = 60


@dataclass(frozen=True)
class SealResult:
    """What one seal run did. ``locked_out``: another sealer was running, nothing done."""

    sealed: int
    tree_size: int
    low_watermark: int
    locked_out: bool = False


@dataclass(frozen=True)
class TreeState:
    tree_size: int
    frontier: bytes
    low_watermark: int
    high_seq: int


EMPTY_STATE = TreeState(0, MerkleAppender().to_bytes(), 0, 0)


def latest_state(conn: Connection) -> TreeState:
    row = conn.execute(
        select(
            CHECKPOINTS.c.tree_size,
            CHECKPOINTS.c.frontier,
            CHECKPOINTS.c.low_watermark,
            CHECKPOINTS.c.high_seq,
        )
        .order_by(CHECKPOINTS.c.tree_size.desc())
        .limit(1)
    ).first()
    return EMPTY_STATE if row is None else TreeState(*row)


def _take_leadership(conn: Connection) -> bool:
    if is_postgresql(conn):
        return bool(conn.scalar(select(func.pg_try_advisory_xact_lock(ADVISORY_LOCK_KEY))))
    # SQLite: a write statement (matching nothing) starts the write transaction now, so
    # everything this run reads is current until it commits.
    conn.execute(text("UPDATE audit_checkpoints SET tree_size = tree_size WHERE 1 = 0"))
    return True


def seal_once(
    engine: Engine,
    key: LogKey,
    *,
    batch: int = DEFAULT_BATCH,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    rescan: bool = False,
    late: bool = True,
) -> SealResult:
    """Seal up to ``batch`` pending entries in one transaction and sign a checkpoint.

    Two scans: *late* entries (between the watermark and the highest sealed seq, not
    sealed yet; skipped when ``late`` is false) and *new* ones (above the highest
    sealed seq: a plain index range). Only a run that did the late scan may move the
    watermark. ``rescan`` looks for late entries from the very first seq.
    """
    if batch < 1:
        raise ValueError("batch must be positive")
    with gc_paused(), engine.begin() as conn:
        if not _take_leadership(conn):
            return SealResult(0, 0, 0, locked_out=True)
        state = latest_state(conn)
        floor = 0 if rescan else state.low_watermark
        late = late or rescan
        rows: list = []
        if late and state.high_seq > floor:
            already = exists().where(LEAVES.c.event_seq == EVENTS.c.seq)
            rows = conn.execute(
                select(*bulk_columns())
                .where(EVENTS.c.seq > floor, EVENTS.c.seq <= state.high_seq, ~already)
                .order_by(EVENTS.c.seq)
                .limit(batch)
            ).all()
        if len(rows) < batch:
            rows += conn.execute(
                select(*bulk_columns())
                .where(EVENTS.c.seq > state.high_seq)
                .order_by(EVENTS.c.seq)
                .limit(batch - len(rows))
            ).all()
        if not rows:
            return SealResult(0, state.tree_size, state.low_watermark)

        appender = MerkleAppender.from_bytes(state.frontier)
        leaves: list[tuple[int, int, bytes]] = []
        nodes: list[tuple[int, int, bytes]] = []
        for row in rows:
            digest = leaf_hash(canonical_values(row, json_as_text=True))
            leaves.append((appender.size, row.seq, digest))
            nodes.extend((n.level, n.index, n.hash) for n in appender.append(digest)[1:])
        insert_rows(conn, LEAVES, ("leaf_index", "event_seq", "leaf_hash"), leaves)
        insert_rows(conn, NODES, ("level", "node_index", "hash"), nodes)

        now = utcnow()
        settled_high = conn.scalar(
            select(CHECKPOINTS.c.high_seq)
            .where(CHECKPOINTS.c.signed_at <= now - timedelta(seconds=grace_seconds))
            .order_by(CHECKPOINTS.c.tree_size.desc())
            .limit(1)
        )
        # Every visible entry above the floor was picked up, unless the batch was full.
        cap = rows[-1].seq if len(rows) == batch else math.inf
        low = state.low_watermark
        if late:
            low = max(low, int(min(settled_high or 0, cap)))
        high = max(state.high_seq, max(row.seq for row in rows))

        checkpoint = Checkpoint(key.origin, appender.size, appender.root(), now)
        conn.execute(
            insert(CHECKPOINTS).values(
                tree_size=checkpoint.tree_size,
                root_hash=checkpoint.root_hash,
                signed_at=checkpoint.signed_at,
                origin=key.origin,
                key_id=key.key_id,
                checkpoint=checkpoint.text(),
                signature=key.sign(checkpoint),
                frontier=appender.to_bytes(),
                low_watermark=low,
                high_seq=high,
            )
        )
    return SealResult(len(rows), appender.size, low)


@dataclass(frozen=True)
class SealSummary:
    sealed: int
    tree_size: int
    runs: int
    locked_out: bool


def seal_pending(
    engine: Engine,
    key: LogKey,
    *,
    batch: int = DEFAULT_BATCH,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    rescan: bool = False,
    max_runs: int | None = None,
) -> SealSummary:
    """Seal until nothing is pending (one checkpoint per run of at most ``batch``)."""
    sealed = runs = 0
    tree_size = 0
    while max_runs is None or runs < max_runs:
        # Late entries are looked for by the first run only, so that working off a
        # backlog does not rescan the watermark window batch after batch.
        result = seal_once(
            engine,
            key,
            batch=batch,
            grace_seconds=grace_seconds,
            rescan=rescan and runs == 0,
            late=runs == 0,
        )
        runs += 1
        if result.locked_out:
            return SealSummary(sealed, tree_size, runs, True)
        sealed += result.sealed
        tree_size = result.tree_size
        if result.sealed < batch:
            break
    return SealSummary(sealed, tree_size, runs, False)


class PeriodicSealer(PerProcessTask):
    """Seals every ``interval`` seconds from a daemon thread of each server process.

    The thread is started by the first request a process serves (so after gunicorn has
    forked its workers, never in the master); every worker of every host runs one, and
    the advisory lock lets exactly one of them work at a time. Errors are logged and the
    next tick tries again; sealing is never on a request's path.
    """

    thread_name = "caseops-audit-sealer"
    partition_keeper: PartitionKeeper | None = None

    def tick(self) -> SealSummary | None:
        from caseops.audit.keys import log_key
        from caseops.extensions import db

        with self.app.app_context():
            # PostgreSQL: the log's month partitions, months ahead (at most hourly).
            if self.partition_keeper is None:
                self.partition_keeper = PartitionKeeper()
            self.partition_keeper.run(db.engine)
            try:
                return seal_pending(db.engine, log_key())
            except Exception:
                log.exception("audit seal run failed; retrying in %s s", self.interval)
                return None


def register_periodic_sealer(app: Flask) -> PeriodicSealer | None:
    """Check the signing key; seal in the background if ``CASEOPS_AUDIT_SEAL_INTERVAL`` > 0."""
    from caseops.audit.keys import key_ring
    from caseops.config import ConfigError

    try:
        # refuse to start with an unusable signing key, origin or retired-key list
        key_ring(app.config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    interval = float(app.config.get("CASEOPS_AUDIT_SEAL_INTERVAL") or 0)
    if interval <= 0:
        return None
    sealer = PeriodicSealer(app, interval)
    app.extensions["caseops_audit_sealer"] = sealer
    app.before_request(sealer.ensure_started)
    return sealer
