"""Read side of the sealed tree: node lookups, proofs and checkpoints from the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from caseops.audit.merkle import consistency_proof, inclusion_proof, tree_root
from caseops.audit.models import AuditCheckpoint, AuditLeaf, AuditNode

LEAVES = AuditLeaf.__table__
NODES = AuditNode.__table__
CHECKPOINTS = AuditCheckpoint.__table__


class DbNodeReader:
    """``NodeReader`` over ``audit_leaves`` (level 0) and ``audit_nodes`` (levels >= 1)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._cache: dict[tuple[int, int], bytes] = {}

    def get_node(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._cache:
            if level == 0:
                query = select(LEAVES.c.leaf_hash).where(LEAVES.c.leaf_index == index)
            else:
                query = select(NODES.c.hash).where(
                    NODES.c.level == level, NODES.c.node_index == index
                )
            digest = self.conn.scalar(query)
            if digest is None:
                raise KeyError(key)
            self._cache[key] = bytes(digest)
        return self._cache[key]


@dataclass(frozen=True)
class StoredCheckpoint:
    tree_size: int
    root_hash: bytes
    signed_at: datetime
    origin: str
    key_id: str
    checkpoint: str
    signature: str

    def as_dict(self) -> dict:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "signed_at": self.signed_at,
            "origin": self.origin,
            "key_id": self.key_id,
            "checkpoint": self.checkpoint,
            "signature": self.signature,
        }


_CHECKPOINT_COLUMNS = (
    CHECKPOINTS.c.tree_size,
    CHECKPOINTS.c.root_hash,
    CHECKPOINTS.c.signed_at,
    CHECKPOINTS.c.origin,
    CHECKPOINTS.c.key_id,
    CHECKPOINTS.c.checkpoint,
    CHECKPOINTS.c.signature,
)


def _stored(row) -> StoredCheckpoint:
    values = list(row)
    values[1] = bytes(values[1])
    return StoredCheckpoint(*values)


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    row = conn.execute(
        select(*_CHECKPOINT_COLUMNS).order_by(CHECKPOINTS.c.tree_size.desc()).limit(1)
    ).first()
    return None if row is None else _stored(row)


def checkpoint_at(conn: Connection, tree_size: int) -> StoredCheckpoint | None:
    row = conn.execute(
        select(*_CHECKPOINT_COLUMNS).where(CHECKPOINTS.c.tree_size == tree_size)
    ).first()
    return None if row is None else _stored(row)


def leaf_of(conn: Connection, seq: int) -> tuple[int, bytes] | None:
    row = conn.execute(
        select(LEAVES.c.leaf_index, LEAVES.c.leaf_hash).where(LEAVES.c.event_seq == seq)
    ).first()
    return None if row is None else (row[0], bytes(row[1]))


def root_at(conn: Connection, tree_size: int) -> bytes:
    return tree_root(tree_size, DbNodeReader(conn))


def audit_path(conn: Connection, leaf_index: int, tree_size: int) -> list[bytes]:
    return inclusion_proof(leaf_index, tree_size, DbNodeReader(conn))


def consistency(conn: Connection, first: int, second: int) -> list[bytes]:
    return consistency_proof(first, second, DbNodeReader(conn))
