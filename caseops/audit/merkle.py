"""RFC 9162 section 2.1 Merkle tree primitives for the access log.

Pure functions and small classes (no Flask, no database) so that the sealer, the
verifier and an outside auditor all compute exactly the same hashes.

Conventions:

* A *node* ``(level, index)`` is the root of the perfect subtree covering leaves
  ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes.
  Only perfect subtrees are ever stored; hashes of the ragged right edge of a tree
  are recomputed from them, so stored nodes never change as the log grows.
* Proof *generation* rejects impossible arguments with ``ValueError`` (a caller bug);
  proof *verification* never raises on bad input and answers ``False`` (the input is
  untrusted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""MTH of the empty tree (RFC 9162 section 2.1.1)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_STATE_SIZE_BYTES = 8


def leaf_hash(data: bytes) -> bytes:
    """Hash one log entry; the 0x00 prefix keeps leaves distinct from interior nodes."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash two children into their parent (0x01 prefix, RFC 9162 section 2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


class Node(NamedTuple):
    """Hash of the perfect subtree at ``(level, index)``; see the module docstring."""

    level: int
    index: int
    hash: bytes


class NodeReader(Protocol):
    """Source of perfect-subtree hashes, so proofs need not load every leaf."""

    def get_node(self, level: int, index: int) -> bytes:
        """Return the hash of the complete subtree at ``(level, index)``."""
        ...


class MemoryNodeStore:
    """In-memory ``NodeReader`` fed with the nodes ``MerkleAppender.append`` reports."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = []

    def add(self, nodes: Iterable[Node]) -> None:
        """Store nodes; each level must be filled left to right, as appending does."""
        for level, index, digest in nodes:
            while len(self._levels) <= level:
                self._levels.append([])
            row = self._levels[level]
            if index != len(row):
                raise ValueError(f"node ({level}, {index}) added out of order")
            row.append(digest)

    def get_node(self, level: int, index: int) -> bytes:
        """Return a stored node; ``KeyError`` if that subtree is not complete."""
        if 0 <= level < len(self._levels) and 0 <= index < len(self._levels[level]):
            return self._levels[level][index]
        raise KeyError((level, index))


class MerkleAppender:
    """Compact range of a growing tree: the roots of its perfect subtrees, left to right.

    Holds ``popcount(size)`` hashes, so appending and taking the root cost O(log n);
    the sealer persists ``(size, hashes)`` (or ``to_bytes()``) and resumes from it
    without rereading the log.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError("tree size must not be negative")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of size {size} needs {size.bit_count()} frontier hashes")
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError("frontier hashes must be 32 bytes")
        self._size = size
        self._hashes = [bytes(h) for h in hashes]

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Frontier: roots of the perfect subtrees, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[Node]:
        """Add one leaf hash; return every node it completes, the leaf itself first.

        The returned nodes are exactly what a ``NodeReader`` must be able to serve;
        nodes of level 0 are the leaf hashes themselves.
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        index = self._size
        digest = bytes(leaf)
        completed = [Node(0, index, digest)]
        level = 0
        while (self._size >> level) & 1:
            digest = node_hash(self._hashes.pop(), digest)
            level += 1
            completed.append(Node(level, index >> level, digest))
        self._hashes.append(digest)
        self._size += 1
        return completed

    def root(self) -> bytes:
        """MTH of the leaves appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        digest = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            digest = node_hash(left, digest)
        return digest

    def to_bytes(self) -> bytes:
        """Serialise as 8-byte big-endian size followed by the frontier hashes."""
        return self._size.to_bytes(_STATE_SIZE_BYTES, "big") + b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, state: bytes) -> MerkleAppender:
        """Inverse of ``to_bytes``; ``ValueError`` if the state is malformed."""
        body = state[_STATE_SIZE_BYTES:]
        if len(state) < _STATE_SIZE_BYTES or len(body) % HASH_SIZE:
            raise ValueError("malformed appender state")
        size = int.from_bytes(state[:_STATE_SIZE_BYTES], "big")
        hashes = [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]
        return cls(size, hashes)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole tree in one pass, for verifying the full log quickly.

    Pairs each level left to right and carries an odd last node up unchanged, which
    yields the same tree as RFC 9162's split at the largest power of two.
    """
    if any(len(h) != HASH_SIZE for h in hashes):
        raise ValueError("leaf hashes must be 32 bytes")
    if not hashes:
        return EMPTY_ROOT
    sha256 = hashlib.sha256
    level = list(hashes)
    while len(level) > 1:
        carry = [level[-1]] if len(level) % 2 else []
        level = [
            sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ] + carry
    return level[0]


def _largest_power_of_two_below(n: int) -> int:
    """The split point k of RFC 9162: the largest power of two strictly less than n > 1."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_hash(start: int, end: int, reader: NodeReader) -> bytes:
    """MTH of leaves ``[start, end)`` from perfect-subtree nodes.

    ``start`` must be a multiple of the smallest power of two >= ``end - start`` (true
    for every subtree of an RFC 9162 tree); the range then splits into at most
    log2(n) perfect subtrees, largest first, which fold right to left.
    """
    parts: list[bytes] = []
    position = start
    remaining = end - start
    while remaining:
        level = remaining.bit_length() - 1
        parts.append(reader.get_node(level, position >> level))
        position += 1 << level
        remaining -= 1 << level
    digest = parts.pop()
    for left in reversed(parts):
        digest = node_hash(left, digest)
    return digest


def tree_root(tree_size: int, reader: NodeReader) -> bytes:
    """MTH of the first ``tree_size`` leaves, e.g. to answer for an older checkpoint."""
    if tree_size < 0:
        raise ValueError("tree size must not be negative")
    return _subtree_hash(0, tree_size, reader) if tree_size else EMPTY_ROOT


def inclusion_proof(leaf_index: int, tree_size: int, reader: NodeReader) -> list[bytes]:
    """Audit path PATH(m, D[n]) of RFC 9162 section 2.1.3.1, deepest sibling first."""
    if not 0 <= leaf_index < tree_size:
        raise ValueError(f"leaf index {leaf_index} is not in a tree of size {tree_size}")
    path: list[bytes] = []
    start, end = 0, tree_size
    while end - start > 1:
        mid = start + _largest_power_of_two_below(end - start)
        if leaf_index < mid:
            path.append(_subtree_hash(mid, end, reader))
            end = mid
        else:
            path.append(_subtree_hash(start, mid, reader))
            start = mid
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, reader: NodeReader) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1; empty when m is 0 or m == n."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end = 0, new_size
    old_root_is_known = True
    while old_size != end:
        mid = start + _largest_power_of_two_below(end - start)
        if old_size <= mid:
            proof.append(_subtree_hash(mid, end, reader))
            end = mid
        else:
            proof.append(_subtree_hash(start, mid, reader))
            start = mid
            old_root_is_known = False
    if not old_root_is_known:
        proof.append(_subtree_hash(start, end, reader))
    proof.reverse()
    return proof


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(
    leaf_hash: bytes, leaf_index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Check an audit path against a root (RFC 9162 section 2.1.3.2).

    The tree size is only authenticated together with the root (a signed checkpoint),
    so callers must take both from the same checkpoint.
    """
    if not (_is_size(leaf_index) and _is_size(tree_size) and leaf_index < tree_size):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in proof)):
        return False
    fn, sn = leaf_index, tree_size - 1
    digest = leaf_hash
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and digest == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Check that the tree at ``new_size`` extends the one at ``old_size`` (section 2.1.4.2).

    Stricter than the RFC's ``0 < m < n`` case alone: for ``m == n`` the roots must be
    equal and the proof empty; for ``m == 0`` the proof must be empty and ``old_root``
    must be the empty-tree hash.
    """
    if not (_is_size(old_size) and _is_size(new_size) and old_size <= new_size):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root) and all(_is_hash(p) for p in proof)):
        return False
    if old_size == 0 and old_root != EMPTY_ROOT:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    old_digest = new_digest = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            old_digest = node_hash(node, old_digest)
            new_digest = node_hash(node, new_digest)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            new_digest = node_hash(new_digest, node)
        fn >>= 1
        sn >>= 1
    return sn == 0 and old_digest == old_root and new_digest == new_root
