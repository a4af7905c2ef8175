"""Sealed entries in leaf order, a chunk of leaves at a time: what the verifier and the
organisation-wide export read.

Never a join from the leaves to the entries. ``access_events`` is partitioned by month
on PostgreSQL and a leaf does not know its entry's month, so a join probes every month's
index once per leaf: on a log two years old PostgreSQL spent some 18 s of CPU per
million entries doing it, a cost that grows with the log's age (docs/access-log.md).
Instead a chunk's leaves are read by leaf index, then their entries by ``seq``: one
``seq BETWEEN`` range per run of nearby seqs (one index descent per partition per range),
or by list when they are scattered (late entries sealed far from their neighbours).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, func, select

from caseops.audit.canonical import TABLE_COLUMNS, bulk_columns
from caseops.audit.models import AccessEvent, AuditLeaf

EVENTS = AccessEvent.__table__
LEAVES = AuditLeaf.__table__

CHUNK = 10_000  # leaves per read of their entries
RUN_GAP = 1_000  # seqs further apart than this are read by separate ranges
MAX_RUNS = 16  # more runs than this in a chunk: its seqs are read by list instead
IN_BATCH = 500
SEQ = TABLE_COLUMNS.index("seq")


@dataclass(frozen=True)
class Chunk:
    """Leaves ``(leaf_index, event_seq, leaf_hash)`` in index order, and the entries that
    hold their seqs (``bulk_columns`` rows, JSON as text; in no order, and more than one
    for a seq if the table holds more than one)."""

    leaves: list[Row]
    entries: list[Row]


def entry_reads(seqs: Sequence[int]) -> list[Select]:
    """The statements that read the entries holding ``seqs`` (sorted ascending)."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq - runs[-1][1] <= RUN_GAP:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    columns = bulk_columns()
    if len(runs) <= MAX_RUNS:
        return [select(*columns).where(EVENTS.c.seq.between(lo, hi)) for lo, hi in runs]
    return [
        select(*columns).where(EVENTS.c.seq.in_(seqs[i : i + IN_BATCH]))
        for i in range(0, len(seqs), IN_BATCH)
    ]


def chunks(conn: Connection, start: int, stop: int, *where: Any) -> Iterator[Chunk]:
    """The leaves ``[start, stop)`` (and ``where``, on ``audit_leaves``) with their
    entries, ``CHUNK`` leaves at a time. A chunk without leaves is skipped."""
    for low in range(start, stop, CHUNK):
        leaves = conn.execute(
            select(LEAVES.c.leaf_index, LEAVES.c.event_seq, LEAVES.c.leaf_hash)
            .where(LEAVES.c.leaf_index >= low, LEAVES.c.leaf_index < min(stop, low + CHUNK))
            .where(*where)
            .order_by(LEAVES.c.leaf_index)
        ).all()
        if not leaves:
            continue
        wanted = {leaf.event_seq for leaf in leaves}
        entries = [
            row
            for statement in entry_reads(sorted(wanted))
            for row in conn.execute(statement).all()
            if row[SEQ] in wanted
        ]
        yield Chunk(leaves, entries)


def leaf_span(conn: Connection, *where: Any) -> tuple[int, int]:
    """``[first, last + 1)`` of the leaf indexes matching ``where``; ``(0, 0)`` if none."""
    low, high = conn.execute(
        select(func.min(LEAVES.c.leaf_index), func.max(LEAVES.c.leaf_index)).where(*where)
    ).one()
    return (0, 0) if low is None else (int(low), int(high) + 1)
