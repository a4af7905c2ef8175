"""Tests of the RFC 9162 Merkle primitives against published vectors and an
independent reference written from the RFC's recursive definitions with hashlib only."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caseops.audit import merkle
from caseops.audit.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MerkleAppender,
    Node,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.fixtures.merkle import (
    RefTree,
    _sha,
    ref_verify_consistency,
    ref_verify_inclusion,
)

# ---------------------------------------------------------------------------
# Published vectors.
# Leaf inputs, node hashes, roots and compact ranges: transparency-dev/merkle
# testonly/constants.go. Inclusion and consistency proofs: transparency-dev/merkle
# proof/verify_test.go and testonly/reference_test.go (RFC 6962 / 9162 hashing).
# ---------------------------------------------------------------------------

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

# Indexed by tree size, starting from the empty tree.
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]

# testonly/constants.go CompactTrees(): (level, index) of each frontier hash per size.
COMPACT_TREES = [
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

# (leaf index, tree size, audit path) from reference_test.go; verify_test.go's
# inclusionProofs (1-based leaf numbers) are the same proofs and add none.
INCLUSION_VECTORS = [
    (0, 1, []),
    (0, 2, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
    (1, 2, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# (old size, new size, consistency proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# proof/verify_test.go constants.
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def _hashes(hex_list: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in hex_list]


def _store_for(leaf_hashes: list[bytes]) -> MemoryNodeStore:
    store = MemoryNodeStore()
    appender = MerkleAppender()
    for h in leaf_hashes:
        store.add(appender.append(h))
    return store


VECTOR_STORE = _store_for([leaf_hash(d) for d in LEAF_INPUTS])

# ---------------------------------------------------------------------------
# Independent reference: tests/fixtures/merkle.py (RFC 9162 section 2.1, hashlib only).
# ---------------------------------------------------------------------------

REF = RefTree([b"leaf-%d" % i for i in range(300)])
REF_LEAF_HASHES = [leaf_hash(d) for d in REF.entries]
REF_STORE = _store_for(REF_LEAF_HASHES)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# ---------------------------------------------------------------------------
# Published vectors
# ---------------------------------------------------------------------------


def test_hash_functions_match_rfc_definition() -> None:
    assert leaf_hash(b"abc") == _sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == _sha(b"\x01" + b"L" * 32 + b"R" * 32)
    assert ROOTS[0] == EMPTY_ROOT


def test_published_leaf_and_node_hashes() -> None:
    appender = MerkleAppender()
    reported: dict[tuple[int, int], bytes] = {}
    for data in LEAF_INPUTS:
        for node in appender.append(leaf_hash(data)):
            reported[(node.level, node.index)] = node.hash
    expected = {
        (level, index): bytes.fromhex(h)
        for level, row in enumerate(NODE_HASHES)
        for index, h in enumerate(row)
    }
    assert reported == expected
    for (level, index), digest in expected.items():
        assert VECTOR_STORE.get_node(level, index) == digest


@pytest.mark.parametrize("size", range(len(ROOTS)))
def test_published_roots_and_compact_ranges(size: int) -> None:
    leaves = [leaf_hash(d) for d in LEAF_INPUTS[:size]]
    appender = MerkleAppender()
    for h in leaves:
        appender.append(h)
    assert appender.root() == ROOTS[size]
    assert root_from_leaf_hashes(leaves) == ROOTS[size]
    assert tree_root(size, VECTOR_STORE) == ROOTS[size]
    frontier = [bytes.fromhex(NODE_HASHES[lv][ix]) for lv, ix in COMPACT_TREES[size]]
    assert list(appender.hashes) == frontier


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    expected = _hashes(path)
    assert inclusion_proof(index, size, VECTOR_STORE) == expected
    leaf = leaf_hash(LEAF_INPUTS[index])
    assert verify_inclusion(leaf, index, size, expected, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(old: int, new: int, proof: list[str]) -> None:
    expected = _hashes(proof)
    assert consistency_proof(old, new, VECTOR_STORE) == expected
    assert verify_consistency(old, new, ROOTS[old], ROOTS[new], expected)


def _go_inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[int, int, list[bytes], bytes, bytes]]:
    """corruptInclusionProof() of proof/verify_test.go: every probe must be rejected."""
    probes = [
        (index - 1, size, proof, root, leaf),
        (index + 1, size, proof, root, leaf),
        (index ^ 2, size, proof, root, leaf),
        (index, size * 2, proof, root, leaf),
        (index, size // 2, proof, root, leaf),
        (index, size, proof, root, b"WrongLeaf"),
        (index, size, proof, EMPTY_ROOT, leaf),
        (index, size, proof, SOME_HASH, leaf),
        (index, size, [*proof, b""], root, leaf),
        (index, size, [*proof, root], root, leaf),
        (index, size, [b"", *proof], root, leaf),
        (index, size, [root, *proof], root, leaf),
    ]
    for i in range(len(proof)):
        probes.append((index, size, [*proof[:i], _flip(proof[i], 3), *proof[i + 1 :]], root, leaf))
    if proof:
        probes.append((index, size, proof[:-1], root, leaf))
    if len(proof) > 1:
        probes.append((index, size, [proof[0], SOME_HASH, *proof[1:]], root, leaf))
    return probes


@pytest.mark.parametrize(("index", "size", "path"), [v for v in INCLUSION_VECTORS if v[1] > 1])
def test_published_inclusion_corruptions_rejected(index: int, size: int, path: list[str]) -> None:
    leaf = leaf_hash(LEAF_INPUTS[index])
    for i, s, p, r, lf in _go_inclusion_probes(index, size, _hashes(path), ROOTS[size], leaf):
        assert not verify_inclusion(lf, i, s, p, r), (i, s)


@pytest.mark.parametrize(("old", "new", "path"), [v for v in CONSISTENCY_VECTORS if v[2]])
def test_published_consistency_corruptions_rejected(old: int, new: int, path: list[str]) -> None:
    """corruptConsistencyProof() of proof/verify_test.go: every probe must be rejected."""
    proof, r1, r2 = _hashes(path), ROOTS[old], ROOTS[new]
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        probes.append((old, new, r1, r2, [*proof[:i], _flip(proof[i], 4), *proof[i + 1 :]]))
    for m, n, a, b, p in probes:
        assert not verify_consistency(m, n, a, b, p), (m, n)


ROOT1 = b"\x11" * 32
ROOT2 = b"\x22" * 32


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "ok"),
    [
        # TestVerifyConsistency in proof/verify_test.go, with 32-byte stand-in roots.
        (0, 0, ROOT1, ROOT2, [], False),
        (1, 1, ROOT1, ROOT2, [], False),
        (1, 1, ROOT2, ROOT2, [], True),
        (1, 0, ROOT1, ROOT2, [], False),
        (2, 1, ROOT1, ROOT2, [], False),
        (1, 2, ROOT1, ROOT2, [], False),
        (0, 0, EMPTY_ROOT, ROOT2, [], False),
        (1, 1, EMPTY_ROOT, ROOT2, [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        # Deliberately stricter than the Go tests, which accept any roots for size 0:
        # here the old root of an empty tree must be the empty-tree hash.
        (0, 0, ROOT1, ROOT1, [], False),
        (0, 1, ROOT1, ROOT2, [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (0, 5, EMPTY_ROOT, ROOT2, [], True),
    ],
)
def test_consistency_edge_cases(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], ok: bool
) -> None:
    assert verify_consistency(old, new, old_root, new_root, proof) is ok


def test_single_entry_inclusion() -> None:
    """TestVerifyInclusionSingleEntry of proof/verify_test.go."""
    digest = leaf_hash(b"data")
    assert verify_inclusion(digest, 0, 1, [], digest)
    assert not verify_inclusion(b"", 0, 1, [], digest)
    assert not verify_inclusion(digest, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], b"")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1)])
def test_inclusion_rejects_mismatched_empty_proofs(index: int, size: int) -> None:
    """TestVerifyInclusion probes of proof/verify_test.go."""
    assert not verify_inclusion(SOME_HASH, index, size, [], b"")
    assert not verify_inclusion(b"", index, size, [], EMPTY_ROOT)
    assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)


def test_subtree_hash_vector_from_merkle_tree_certs_draft() -> None:
    """Rolling hash over every valid subtree [start, end) for sizes up to 130, leaves
    d[i] = byte i: transparency-dev/merkle testonly/vectors_test.go
    (TestSubtreeHashVectors, from draft-ietf-plants-merkle-tree-certs)."""
    store = _store_for([leaf_hash(bytes([i])) for i in range(130)])
    rolling = hashlib.sha256()
    for end in range(1, 131):
        for start in range(end):
            width = 1 << (end - start - 1).bit_length()
            if start % width:
                continue
            digest = merkle._subtree_hash(start, end, store)
            rolling.update(f"[{start}, {end}) {digest.hex()}\n".encode())
    assert rolling.hexdigest() == (
        "94a95384a8c69acea9b50d035a58285b3a777cb7a724005faa5e1f1e1190007f"
    )


# ---------------------------------------------------------------------------
# Exhaustive checks against the independent reference on small trees
# ---------------------------------------------------------------------------

SMALL = 33


def test_reference_agrees_with_published_vectors() -> None:
    """Guards the reference itself before it is used as an oracle."""
    ref = RefTree(LEAF_INPUTS)
    assert [ref.root(n) for n in range(9)] == ROOTS
    for index, size, path in INCLUSION_VECTORS:
        assert ref.path(index, size) == _hashes(path)
    for old, new, proof in CONSISTENCY_VECTORS:
        assert ref.proof(old, new) == _hashes(proof)


def test_roots_match_reference_for_all_small_sizes() -> None:
    for size in range(SMALL):
        assert tree_root(size, REF_STORE) == REF.root(size)
        assert root_from_leaf_hashes(REF_LEAF_HASHES[:size]) == REF.root(size)


def test_inclusion_exhaustive_small_trees() -> None:
    roots = [REF.root(n) for n in range(2 * SMALL + 1)]
    for size in range(1, SMALL):
        for index in range(size):
            leaf = REF_LEAF_HASHES[index]
            proof = inclusion_proof(index, size, REF_STORE)
            assert proof == REF.path(index, size)
            assert verify_inclusion(leaf, index, size, proof, roots[size])
            assert ref_verify_inclusion(leaf, index, size, proof, roots[size])

            # Structural damage and wrong hashes are always rejected.
            bad: list[tuple[bytes, int, int, list[bytes], bytes]] = []
            for i in range(len(proof)):
                for bit in (0, 3, 130, 255):
                    bad.append((leaf, index, size, _altered(proof, i, bit), roots[size]))
            bad += [
                (leaf, index, size, [*proof, proof[-1] if proof else leaf], roots[size]),
                (leaf, index, size, [SOME_HASH, *proof], roots[size]),
                (_flip(leaf, 7), index, size, proof, roots[size]),
                (REF_LEAF_HASHES[index + 1], index, size, proof, roots[size]),
                (leaf, index, size, proof, _flip(roots[size], 200)),
            ]
            if proof:
                bad.append((leaf, index, size, proof[:-1], roots[size]))
                bad.append((leaf, index, size, proof[1:], roots[size]))
                bad.append((leaf, index, size, [p[:31] for p in proof], roots[size]))
            bad += [(leaf, index, n, proof, roots[n]) for n in range(size) if n != size]
            bad += [(leaf, i, size, proof, roots[size]) for i in range(size) if i != index]
            for args in bad:
                assert not verify_inclusion(*args), (index, size)

            # Another size with the same root: accepted exactly when the audit path has
            # the same shape (sizes are authenticated by the signed checkpoint, not by
            # the proof), which the reference decides independently.
            for other in range(index + 1, 2 * SMALL):
                expected = ref_verify_inclusion(leaf, index, other, proof, roots[size])
                assert verify_inclusion(leaf, index, other, proof, roots[size]) is expected


def _altered(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    return [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]


def test_consistency_exhaustive_small_trees() -> None:
    roots = [REF.root(n) for n in range(2 * SMALL + 1)]
    for new in range(SMALL):
        for old in range(new + 1):
            proof = consistency_proof(old, new, REF_STORE)
            assert proof == REF.proof(old, new)
            assert verify_consistency(old, new, roots[old], roots[new], proof)
            assert ref_verify_consistency(old, new, roots[old], roots[new], proof)
            if not 0 < old < new:
                continue

            bad: list[tuple[int, int, bytes, bytes, list[bytes]]] = []
            for i in range(len(proof)):
                for bit in (0, 4, 129, 255):
                    bad.append((old, new, roots[old], roots[new], _altered(proof, i, bit)))
            bad += [
                (old, new, roots[old], roots[new], proof[:-1]),
                (old, new, roots[old], roots[new], proof[1:]),
                (old, new, roots[old], roots[new], [*proof, SOME_HASH]),
                (old, new, roots[old], roots[new], [proof[0], *proof]),
                (old, new, roots[old], roots[new], []),
                (old, new, roots[new], roots[old], proof),
                (old, new, _flip(roots[old], 1), roots[new], proof),
                (old, new, roots[old], _flip(roots[new], 254), proof),
                (new, old, roots[new], roots[old], proof),
            ]
            bad += [(old, new, roots[m], roots[new], proof) for m in range(new + 1) if m != old]
            bad += [(old, new, roots[old], roots[n], proof) for n in range(old, SMALL) if n != new]
            for args in bad:
                assert not verify_consistency(*args), (old, new)

            # Other sizes: same answer as the independent reference (see inclusion test).
            for m in {old - 1, old + 1, old ^ 2, old * 2, old // 2, old, 0, new}:
                for n in {new - 1, new + 1, new ^ 2, new * 2, new // 2, new, m, m + 1}:
                    expected = ref_verify_consistency(m, n, roots[old], roots[new], proof)
                    got = verify_consistency(m, n, roots[old], roots[new], proof)
                    assert got is expected, (old, new, m, n)


# ---------------------------------------------------------------------------
# Property: random sizes up to 300, every single-bit mutation is rejected
# ---------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_inclusion_every_bit_flip_rejected(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 300), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root = REF_LEAF_HASHES[index], REF.root(size)
    proof = inclusion_proof(index, size, REF_STORE)
    assert proof == REF.path(index, size)
    assert verify_inclusion(leaf, index, size, proof, root)
    for bit in range(256):
        assert not verify_inclusion(_flip(leaf, bit), index, size, proof, root)
        assert not verify_inclusion(leaf, index, size, proof, _flip(root, bit))
        for i in range(len(proof)):
            assert not verify_inclusion(leaf, index, size, _altered(proof, i, bit), root)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_consistency_every_bit_flip_rejected(data: st.DataObject) -> None:
    new = data.draw(st.integers(2, 300), label="new")
    old = data.draw(st.integers(1, new - 1), label="old")
    r1, r2 = REF.root(old), REF.root(new)
    proof = consistency_proof(old, new, REF_STORE)
    assert proof == REF.proof(old, new)
    assert verify_consistency(old, new, r1, r2, proof)
    for bit in range(256):
        assert not verify_consistency(old, new, _flip(r1, bit), r2, proof)
        assert not verify_consistency(old, new, r1, _flip(r2, bit), proof)
        for i in range(len(proof)):
            assert not verify_consistency(old, new, r1, r2, _altered(proof, i, bit))


hash_or_junk = st.one_of(
    st.binary(min_size=32, max_size=32), st.binary(max_size=40), st.sampled_from(REF_LEAF_HASHES)
)
size_or_junk = st.one_of(st.integers(-3, 600), st.integers(-(2**70), 2**70), st.booleans())


@settings(max_examples=300, deadline=None)
@given(hash_or_junk, size_or_junk, size_or_junk, st.lists(hash_or_junk, max_size=12), hash_or_junk)
def test_verifiers_never_raise(
    digest: bytes, a: int, b: int, proof: list[bytes], root: bytes
) -> None:
    assert verify_inclusion(digest, a, b, proof, root) in (True, False)
    assert verify_consistency(a, b, digest, root, proof) in (True, False)


def test_verifiers_reject_wrong_types() -> None:
    leaf, root = REF_LEAF_HASHES[0], REF.root(1)
    assert verify_inclusion(leaf, 0, 1, [], root)
    assert not verify_inclusion(leaf, False, True, [], root)
    assert not verify_inclusion(bytearray(leaf), 0, 1, [], root)  # type: ignore[arg-type]
    assert not verify_inclusion(leaf, 0, 1, ["x" * 32], root)  # type: ignore[list-item]
    proof = inclusion_proof(1, 2, REF_STORE)
    assert verify_inclusion(REF_LEAF_HASHES[1], 1, 2, proof, REF.root(2))
    assert not verify_inclusion(REF_LEAF_HASHES[1], True, 2, proof, REF.root(2))
    assert not verify_inclusion(REF_LEAF_HASHES[1], -1, 2, proof, REF.root(2))
    assert not verify_consistency(True, 1, root, root, [])
    assert not verify_consistency(1, 1.0, root, root, [])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Appender, node store and batch root
# ---------------------------------------------------------------------------


def test_appender_matches_batch_and_reference_for_every_size() -> None:
    appender = MerkleAppender()
    assert appender.root() == EMPTY_ROOT
    for size in range(1, 131):
        completed = appender.append(REF_LEAF_HASHES[size - 1])
        assert completed[0] == Node(0, size - 1, REF_LEAF_HASHES[size - 1])
        for level, index, digest in completed:
            assert digest == REF.mth(index << level, (index + 1) << level)
        # A leaf completes one node per trailing one bit of the old size, plus itself.
        assert len(completed) == 1 + ((size - 1) ^ size).bit_length() - 1
        assert appender.size == size
        assert len(appender.hashes) == size.bit_count()
        assert appender.root() == root_from_leaf_hashes(REF_LEAF_HASHES[:size])
        assert appender.root() == REF.root(size)


def test_appender_resumes_from_serialised_state() -> None:
    for split in range(0, 131):
        first = MerkleAppender()
        for h in REF_LEAF_HASHES[:split]:
            first.append(h)
        state = first.to_bytes()
        assert len(state) == 8 + 32 * split.bit_count()
        resumed = [MerkleAppender.from_bytes(state), MerkleAppender(first.size, first.hashes)]
        for appender in resumed:
            assert appender.size == split
            assert appender.root() == first.root()
            nodes = [n for h in REF_LEAF_HASHES[split:131] for n in appender.append(h)]
            assert appender.root() == REF.root(131)
            for level, index, digest in nodes:
                assert REF_STORE.get_node(level, index) == digest


@pytest.mark.parametrize(
    ("size", "hashes"),
    [(-1, []), (3, [b"\x00" * 32]), (1, []), (2, [b"\x00" * 31]), (0, [b"\x00" * 32])],
)
def test_appender_rejects_inconsistent_state(size: int, hashes: list[bytes]) -> None:
    with pytest.raises(ValueError, match=r"tree|frontier"):
        MerkleAppender(size, hashes)


@pytest.mark.parametrize(
    "state",
    [
        b"",
        b"\x00" * 7,
        b"\x00" * 8 + b"\x01",
        (1).to_bytes(8, "big"),
        (0).to_bytes(8, "big") + b"\x00" * 32,
    ],
)
def test_appender_rejects_malformed_bytes(state: bytes) -> None:
    with pytest.raises(ValueError):
        MerkleAppender.from_bytes(state)


def test_appender_rejects_bad_leaf() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleAppender().append(b"short")


def test_memory_store_requires_order_and_reports_missing_nodes() -> None:
    store = MemoryNodeStore()
    with pytest.raises(ValueError, match="out of order"):
        store.add([Node(0, 1, SOME_HASH)])
    store.add([Node(0, 0, SOME_HASH)])
    assert store.get_node(0, 0) == SOME_HASH
    for level, index in [(0, 1), (1, 0), (0, -1), (-1, 0)]:
        with pytest.raises(KeyError):
            store.get_node(level, index)


def test_proofs_read_only_complete_nodes() -> None:
    """Proof generation asks for nothing beyond the nodes appending reported."""
    for size in range(1, 70):
        store = _store_for(REF_LEAF_HASHES[:size])
        assert tree_root(size, store) == REF.root(size)
        for index in range(size):
            assert inclusion_proof(index, size, store) == REF.path(index, size)
        for old in range(size + 1):
            assert consistency_proof(old, size, store) == REF.proof(old, size)


def test_proof_reads_are_logarithmic() -> None:
    class CountingReader:
        def __init__(self) -> None:
            self.reads = 0

        def get_node(self, level: int, index: int) -> bytes:
            self.reads += 1
            return REF_STORE.get_node(level, index)

    for size in (255, 257, 299):
        bound = 2 * size.bit_length()
        for index in range(size):
            reader = CountingReader()
            inclusion_proof(index, size, reader)
            assert reader.reads <= bound
        for old in range(1, size):
            reader = CountingReader()
            consistency_proof(old, size, reader)
            assert reader.reads <= bound


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 3)])
def test_inclusion_proof_rejects_impossible_arguments(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(index, size, REF_STORE)


@pytest.mark.parametrize(("old", "new"), [(3, 2), (-1, 2)])
def test_consistency_proof_rejects_impossible_arguments(old: int, new: int) -> None:
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(old, new, REF_STORE)


def test_tree_root_rejects_negative_size() -> None:
    with pytest.raises(ValueError, match="negative"):
        tree_root(-1, REF_STORE)


def test_batch_root_matches_appender_on_larger_trees() -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(4097)]
    appender = MerkleAppender()
    checkpoints = {1023, 1024, 1025, 4095, 4096, 4097}
    for size, h in enumerate(leaves, start=1):
        appender.append(h)
        if size in checkpoints:
            assert root_from_leaf_hashes(leaves[:size]) == appender.root()


def test_batch_root_rejects_bad_hashes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        root_from_leaf_hashes([SOME_HASH, b"short"])
