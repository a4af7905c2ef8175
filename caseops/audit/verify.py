"""The verifier: recompute the whole sealed log from the entries and check every checkpoint.

``verify`` trusts nothing the database says about hashes. From the current rows of
``access_events`` it recomputes every leaf hash (``canonical_bytes``), every perfect
subtree and the root at every checkpoint size, and checks:

* each checkpoint's Ed25519 signature under the published key its ``key_id`` names
  (current or retired, within the key's validity period), its log origin, and that its text states
  the tree size and root stored beside it;
* each leaf: its entry still exists and still hashes to the sealed leaf hash, and leaf
  indexes run without a hole up to the latest checkpoint (a shorter tree is a truncated
  one);
* each stored subtree node against the recomputed one (proofs are served from them);
* each signed root against the root recomputed from the entries, so an attacker who
  rewrote entries *and* their leaf hashes and nodes is still caught;
* every entry at or below the latest checkpoint's low watermark is a leaf (an entry
  slipped in below the sealed range, or left unsealed).

It reports the first entry that does not match (lowest ``seq``) and ``verified_size``,
the largest checkpoint up to which everything matched. Checkpoints an auditor kept
elsewhere (``trusted``) are checked too, which also exposes a log whose tail was cut
off together with its own checkpoints.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    create_engine,
    exists,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.pool import NullPool

from caseops.audit import sealed_reads
from caseops.audit.canonical import canonical_values
from caseops.audit.checkpoint import CheckpointError, KeyRing
from caseops.audit.merkle import EMPTY_ROOT, leaf_hash, tree_root
from caseops.audit.models import AccessEvent, AuditCheckpoint, AuditLeaf, AuditNode
from caseops.db_types import json_loads
from caseops.storage.dialect import is_postgresql
from caseops.storage.gcpause import gc_paused

EVENTS = AccessEvent.__table__
LEAVES = AuditLeaf.__table__
NODES = AuditNode.__table__
CHECKPOINTS = AuditCheckpoint.__table__

_MISSING = b"\x00" * 32
_STREAM = 20_000
_MAX_PROBLEMS = 20
PARALLEL_FROM = 200_000
_KEEP_PER_RANGE = 10_000


@dataclass(frozen=True)
class Problem:
    reason: str
    seq: int | None = None
    leaf_index: int | None = None


@dataclass
class VerifyReport:
    ok: bool
    verified_size: int
    tree_size: int
    checkpoints: int
    first_bad_seq: int | None = None
    reason: str | None = None
    problems: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict:
        body: dict = {
            "ok": self.ok,
            "verified_size": self.verified_size,
            "tree_size": self.tree_size,
            "checkpoints": self.checkpoints,
        }
        if not self.ok:
            body["first_bad_seq"] = self.first_bad_seq
            body["reason"] = self.reason
        return body


@dataclass(frozen=True)
class _Signed:
    tree_size: int
    root_hash: bytes
    good: bool
    stored_low_watermark: int = 0


class _Levels:
    """Recomputed perfect-subtree hashes, as a ``NodeReader``."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.levels = [leaves]
        sha256 = hashlib.sha256
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [
                    sha256(b"\x01" + below[i] + below[i + 1]).digest()
                    for i in range(0, len(below) - 1, 2)
                ]
            )

    def get_node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]


class _Collector:
    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.count = 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self.items) < _MAX_PROBLEMS:
            self.items.append(problem)


def _checkpoints(
    conn: Connection,
    ring: KeyRing,
    trusted: Iterable[Sequence[str | None]],
    problems: _Collector,
) -> list[_Signed]:
    """Every stored checkpoint, checked with the published key its ``key_id`` names
    (within that key's validity period), and the trusted ones kept elsewhere."""
    signed: dict[int, _Signed] = {}
    rows = conn.execute(
        select(
            CHECKPOINTS.c.tree_size,
            CHECKPOINTS.c.root_hash,
            CHECKPOINTS.c.key_id,
            CHECKPOINTS.c.checkpoint,
            CHECKPOINTS.c.signature,
            CHECKPOINTS.c.low_watermark,
        ).order_by(CHECKPOINTS.c.tree_size)
    )
    for size, root, kid, body, signature, low in rows:
        root = bytes(root)
        try:
            parsed = ring.verify(body, signature, kid)
            good = parsed.tree_size == size and parsed.root_hash == root
            if not good:
                problems.add(Problem(f"checkpoint {size}: stored size or root differ"))
        except CheckpointError as exc:
            good = False
            problems.add(Problem(f"checkpoint {size}: {exc}"))
        signed[size] = _Signed(size, root, good, low)
    for body, signature, *rest in trusted:
        try:
            parsed = ring.verify(body, signature, rest[0] if rest else None)
        except CheckpointError as exc:
            raise ValueError(f"the trusted checkpoint does not verify: {exc}") from exc
        known = signed.get(parsed.tree_size)
        if known is not None and known.good and known.root_hash != parsed.root_hash:
            problems.add(Problem(f"checkpoint {parsed.tree_size} differs from the trusted one"))
        signed[parsed.tree_size] = _Signed(
            parsed.tree_size,
            parsed.root_hash,
            True,
            known.stored_low_watermark if known else 0,
        )
    return [signed[size] for size in sorted(signed)]


def _leaves_range(
    conn: Connection, start: int, stop: int
) -> tuple[list[bytes], list[int | None], list[Problem]]:
    """Recompute the leaf hashes ``[start, stop)`` from the entries; note what differs.

    A chunk of leaves at a time, then their entries by seq (``sealed_reads``), each
    hashed into its leaf's slot."""
    hashes: list[bytes] = []
    seqs: list[int | None] = []
    found: list[Problem] = []

    for chunk in sealed_reads.chunks(conn, start, stop):
        problems: list[Problem] = []
        slots: dict[int, tuple[int, int, bytes]] = {}  # seq -> (slot, leaf index, sealed)
        for index, sealed_seq, sealed_hash in chunk.leaves:
            if index != start + len(hashes):
                first = start + len(hashes)
                problems.append(
                    Problem(f"sealed leaves {first}..{index - 1} are missing", None, first)
                )
                hashes.extend([_MISSING] * (index - first))
                seqs.extend([None] * (index - first))
            if sealed_seq in slots:
                problems.append(Problem("entry sealed as two leaves", sealed_seq, index))
            else:
                slots[sealed_seq] = (len(hashes), index, bytes(sealed_hash))
            seqs.append(sealed_seq)
            hashes.append(_MISSING)
        seen: set[int] = set()
        for row in chunk.entries:
            seq = row[sealed_reads.SEQ]
            if seq in seen:
                problems.append(Problem("more than one entry holds this seq", seq))
                continue
            seen.add(seq)
            slot, index, sealed = slots[seq]
            digest = leaf_hash(canonical_values(row, json_as_text=True))
            if digest != sealed:
                problems.append(Problem("entry altered after it was sealed", seq, index))
            hashes[slot] = digest
        for seq, (_, index, _) in slots.items():
            if seq not in seen:
                problems.append(Problem("entry deleted after it was sealed", seq, index))
        problems.sort(key=lambda p: -1 if p.leaf_index is None else p.leaf_index)
        found.extend(problems[: max(0, _KEEP_PER_RANGE - len(found))])
    if start + len(hashes) < stop:
        first = start + len(hashes)
        hashes.extend([_MISSING] * (stop - first))
        seqs.extend([None] * (stop - first))
        found.append(
            Problem(
                f"sealed leaves {first}..{stop - 1} are missing: the log was truncated",
                None,
                first,
            )
        )
    return hashes, seqs, found


@gc_paused()
def _leaves_job(url: str, start: int, stop: int) -> tuple[bytes, list[int | None], list[Problem]]:
    """One worker process's share of ``_leaves``, on its own connection (nothing of the
    parent's engine is used)."""
    engine = create_engine(url, poolclass=NullPool, json_deserializer=json_loads)
    try:
        with engine.connect() as conn:
            hashes, seqs, found = _leaves_range(conn, start, stop)
    finally:
        engine.dispose()
    return b"".join(hashes), seqs, found


def _workers_for(engine: Engine, tree_size: int, workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    if not is_postgresql(engine) or tree_size < PARALLEL_FROM:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


def _leaves(
    conn: Connection, engine: Engine, tree_size: int, workers: int, meanwhile: Callable[[], None]
) -> tuple[list[bytes], list[int | None], list[Problem]]:
    """Recompute the leaf hashes ``[0, tree_size)``, in ``workers`` processes if > 1;
    ``meanwhile`` runs in this process while they work."""
    if workers <= 1 or tree_size < 2 * workers:
        meanwhile()
        return _leaves_range(conn, 0, tree_size)
    bounds = [tree_size * i // workers for i in range(workers + 1)]
    url = engine.url.render_as_string(hide_password=False)
    # Forking copies a process that has already imported everything (about a second
    # saved per worker), but is safe only while this process runs a single thread; a
    # web worker with threads spawns fresh interpreters instead.
    method = "fork" if threading.active_count() == 1 else "spawn"
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
        jobs = [pool.submit(_leaves_job, url, a, b) for a, b in itertools.pairwise(bounds)]
        meanwhile()
        parts = [job.result() for job in jobs]
    hashes: list[bytes] = []
    seqs: list[int | None] = []
    found: list[Problem] = []
    for joined, part_seqs, part_found in parts:
        hashes.extend(joined[i : i + 32] for i in range(0, len(joined), 32))
        seqs.extend(part_seqs)
        found.extend(part_found)
    return hashes, seqs, found


@dataclass(frozen=True)
class _StoredLevel:
    """One level of the stored tree up to the latest checkpoint, summarised."""

    count: int
    lowest: int
    highest: int
    hashes: bytes  # the node hashes concatenated in index order


_LEVEL_SUMMARIES = text(
    "SELECT level, count(*), min(node_index), max(node_index), "
    "string_agg(hash, ''::bytea ORDER BY node_index) "
    "FROM audit_nodes WHERE node_index < (:size >> level) GROUP BY level"
)


def _stored_levels(conn: Connection, tree_size: int) -> dict[int, _StoredLevel]:
    """The stored nodes a level at a time: on PostgreSQL aggregated by the server (a row
    per level instead of a row per node), elsewhere gathered from the rows."""
    if is_postgresql(conn):
        return {
            level: _StoredLevel(count, low, high, bytes(joined or b""))
            for level, count, low, high, joined in conn.execute(
                _LEVEL_SUMMARIES, {"size": tree_size}
            )
        }
    found: dict[int, list[tuple[int, bytes]]] = {}
    for level, index, digest in _node_rows(conn, tree_size):
        found.setdefault(level, []).append((index, bytes(digest)))
    return {
        level: _StoredLevel(
            len(nodes), nodes[0][0], nodes[-1][0], b"".join(digest for _, digest in nodes)
        )
        for level, nodes in found.items()
    }


def _node_rows(conn: Connection, tree_size: int, level: int | None = None):
    query = select(NODES.c.level, NODES.c.node_index, NODES.c.hash).where(
        NODES.c.node_index < literal(tree_size, BigInteger).op(">>")(NODES.c.level)
    )
    if level is not None:
        query = query.where(NODES.c.level == level)
    return conn.execution_options(stream_results=True, yield_per=_STREAM).execute(
        query.order_by(NODES.c.level, NODES.c.node_index)
    )


def _nodes(
    conn: Connection,
    levels: _Levels,
    stored: dict[int, _StoredLevel],
    tree_size: int,
    problems: _Collector,
) -> None:
    """Every stored node up to the latest checkpoint equals the recomputed one; a level
    that differs is compared node by node to name what differs."""
    for level in range(1, max(tree_size, 1).bit_length()):
        expected = tree_size >> level
        summary = stored.get(level)
        if (
            summary is not None
            and (summary.count, summary.lowest, summary.highest) == (expected, 0, expected - 1)
            and summary.hashes == b"".join(levels.levels[level][:expected])
        ):
            continue
        seen = 0
        for _, index, digest in _node_rows(conn, tree_size, level):
            seen += 1
            if bytes(digest) != levels.get_node(level, index):
                problems.add(
                    Problem(f"stored tree node ({level}, {index}) does not match its leaves")
                )
        if seen != expected:
            problems.add(Problem(f"stored tree level {level} has {seen} of {expected} nodes"))


def verify(
    engine: Engine,
    public_key: Ed25519PublicKey | KeyRing,
    origin: str,
    *,
    trusted: Sequence[Sequence[str | None]] = (),
    workers: int | None = None,
) -> VerifyReport:
    """Recompute and check everything; see the module docstring.

    On PostgreSQL, a log of ``PARALLEL_FROM`` leaves or more is rehashed by several
    processes (``workers``, default: the CPUs, at most 4), each reading a leaf range.
    ``public_key`` is one key or a ``KeyRing`` (after a rotation: each checkpoint is
    checked with the key its ``key_id`` names). A trusted checkpoint is
    ``(text, signature)`` or ``(text, signature, key_id)``.
    """
    ring = public_key if isinstance(public_key, KeyRing) else KeyRing.single(origin, public_key)
    if ring.origin != origin:
        raise ValueError(f"the key ring is for log {ring.origin!r}, not {origin!r}")
    connection = engine.connect()
    if is_postgresql(engine):
        connection = connection.execution_options(isolation_level="REPEATABLE READ")
    with connection as conn, conn.begin():
        return _verify(conn, engine, ring, trusted, workers)


@gc_paused()
def _verify(
    conn: Connection,
    engine: Engine,
    ring: KeyRing,
    trusted: Sequence[Sequence[str | None]],
    workers: int | None,
) -> VerifyReport:
    problems = _Collector()
    signed = _checkpoints(conn, ring, trusted, problems)
    tree_size = signed[-1].tree_size if signed else 0
    workers = _workers_for(engine, tree_size, workers)
    stored: dict[int, _StoredLevel] = {}

    def read_stored_levels() -> None:
        stored.update(_stored_levels(conn, tree_size))

    hashes, seqs, entry_problems = _leaves(conn, engine, tree_size, workers, read_stored_levels)
    for problem in entry_problems:
        problems.add(problem)
    levels = _Levels(hashes)
    _nodes(conn, levels, stored, tree_size, problems)

    # Signed roots against the entries. A mismatch with no altered leaf before it means
    # the leaf hashes were rewritten too: the culprit is among the leaves that
    # checkpoint added.
    bad_leaf = min((p.leaf_index for p in entry_problems if p.leaf_index is not None), default=None)
    verified_size = 0
    previous = 0
    chain_good = True
    for cp in signed:
        root = tree_root(cp.tree_size, levels) if cp.tree_size else EMPTY_ROOT
        matches = cp.good and root == cp.root_hash
        if cp.good and root != cp.root_hash and (bad_leaf is None or bad_leaf >= cp.tree_size):
            problem = Problem(
                f"the root of checkpoint {cp.tree_size} does not match the entries: an entry "
                f"sealed as leaf {previous}..{cp.tree_size - 1} was altered",
                seqs[previous] if previous < len(seqs) else None,
                previous,
            )
            problems.add(problem)
            entry_problems.append(problem)
            bad_leaf = previous if bad_leaf is None else min(bad_leaf, previous)
        chain_good = chain_good and matches
        if chain_good and (bad_leaf is None or cp.tree_size <= bad_leaf):
            verified_size = cp.tree_size
        previous = cp.tree_size

    # Entries at or below the watermark must all be leaves.
    watermark = max((cp.stored_low_watermark for cp in signed), default=0)
    if watermark:
        stray = conn.scalar(
            select(func.min(EVENTS.c.seq)).where(
                EVENTS.c.seq <= watermark,
                ~exists().where(LEAVES.c.event_seq == EVENTS.c.seq),
            )
        )
        if stray is not None:
            problem = Problem("entry is below the sealed watermark but was never sealed", stray)
            problems.add(problem)
            entry_problems.append(problem)

    report = VerifyReport(
        ok=problems.count == 0,
        verified_size=verified_size if problems.count else tree_size,
        tree_size=tree_size,
        checkpoints=len(signed),
        problems=problems.items,
    )
    if problems.count:
        located = [p for p in entry_problems if p.seq is not None]
        first = min(located, key=lambda p: p.seq) if located else None
        first = first or (entry_problems[0] if entry_problems else problems.items[0])
        report.first_bad_seq = first.seq
        report.reason = first.reason
    return report
