"""RFC 9162 maths against the Certificate Transparency reference vectors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    frontier_append,
    frontier_extend,
    frontier_root,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "ct_merkle_vectors.json").read_text()
)
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in VECTORS["leaves"]]


def test_leaf_and_node_hashes_use_distinct_prefixes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert EMPTY_ROOT.hex() == VECTORS["empty_root"]


def test_roots_match_the_reference_tree_heads() -> None:
    for n, expected in enumerate(VECTORS["roots"], start=1):
        assert root_of(LEAVES[:n]).hex() == expected
        assert MerkleTree(LEAVES).root(n).hex() == expected


def test_inclusion_proofs_match_the_reference() -> None:
    tree = MerkleTree(LEAVES)
    for case in VECTORS["inclusion"]:
        proof = tree.inclusion_proof(case["index"], case["size"])
        assert [h.hex() for h in proof] == case["proof"]
        root = bytes.fromhex(VECTORS["roots"][case["size"] - 1])
        assert verify_inclusion(LEAVES[case["index"]], case["index"], case["size"], proof, root)


def test_consistency_proofs_match_the_reference() -> None:
    tree = MerkleTree(LEAVES)
    for case in VECTORS["consistency"]:
        first, second = case["first"], case["second"]
        proof = tree.consistency_proof(first, second)
        assert [h.hex() for h in proof] == case["proof"]
        r1 = bytes.fromhex(VECTORS["roots"][first - 1])
        r2 = bytes.fromhex(VECTORS["roots"][second - 1])
        assert verify_consistency(first, second, r1, r2, proof)
        assert not verify_consistency(first, second, r2, r1, proof)


@given(st.integers(min_value=1, max_value=70), st.data())
def test_every_proof_verifies_and_a_changed_one_does_not(n: int, data: st.DataObject) -> None:
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]
    tree = MerkleTree(hashes)
    root = tree.root()
    frontier: list[bytes] = []
    for size, h in enumerate(hashes):
        frontier_append(frontier, size, h)
    assert frontier_root(frontier) == root
    index = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(index)
    assert verify_inclusion(hashes[index], index, n, proof, root)
    if proof:
        bent = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        assert not verify_inclusion(hashes[index], index, n, bent, root)
    if n > 1:
        assert not verify_inclusion(hashes[index], (index + 1) % n, n, proof, root)
    first = data.draw(st.integers(0, n))
    cproof = tree.consistency_proof(first)
    assert verify_consistency(first, n, tree.root(first), root, cproof)
    if cproof:
        assert not verify_consistency(first, n, tree.root(first), root, cproof[:-1])


@given(st.integers(0, 300), st.lists(st.integers(0, 40), max_size=8))
def test_extending_the_frontier_in_blocks_is_appending_leaf_by_leaf(
    start: int, blocks: list[int]
) -> None:
    """The verifier's fast path: any cut of the leaves gives the same frontier and tree."""
    total = start + sum(blocks)
    hashes = [leaf_hash(i.to_bytes(4, "big")) for i in range(total)]
    one_by_one: list[bytes] = []
    for size, h in enumerate(hashes):
        frontier_append(one_by_one, size, h)
    blockwise: list[bytes] = []
    frontier_extend(blockwise, 0, hashes[:start])
    size = start
    for block in blocks:
        frontier_extend(blockwise, size, hashes[size : size + block])
        size += block
    assert blockwise == one_by_one
    tree = MerkleTree(hashes)
    assert frontier_root(blockwise) == tree.root()
    assert tree.frontier(start) == one_by_one_at(hashes, start)


def one_by_one_at(hashes: list[bytes], size: int) -> list[bytes]:
    frontier: list[bytes] = []
    for index, h in enumerate(hashes[:size]):
        frontier_append(frontier, index, h)
    return frontier
