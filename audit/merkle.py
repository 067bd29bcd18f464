"""Merkle tree mathematics of RFC 9162 (Certificate Transparency v2), with no I/O.

Leaves are hashed as SHA-256(0x00 || leaf) and interior nodes as
SHA-256(0x01 || left || right), so a leaf can never be passed off as a node.
The tree over n leaves splits at the largest power of two below n, which is
what makes it append-only: the old tree is always a prefix of the new one.

The writer never holds the whole tree. It keeps the *compact frontier*: the
roots of the perfect subtrees that make up the current size (one per set bit
of the size, largest first). Appending a leaf merges equal-sized subtrees like
binary addition carries, and the root is the frontier folded from the right.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


# ---------------------------------------------------------------- frontier


def frontier_append(frontier: list[bytes], size: int, leaf: bytes) -> None:
    """Add a leaf hash to the frontier of a tree of `size` leaves, in place."""
    frontier.append(leaf)
    while size & 1:
        right = frontier.pop()
        frontier[-1] = _sha256(b"\x01" + frontier[-1] + right).digest()
        size >>= 1


def frontier_extend(frontier: list[bytes], size: int, leaves: Sequence[bytes]) -> None:
    """Add many leaf hashes to the frontier of a tree of `size` leaves, in place.

    The same result as `frontier_append` leaf by leaf, in about two thirds of
    the time: the leaves are cut into the largest aligned perfect subtrees and
    each is hashed level by level, so the per-leaf work is one list step.
    """
    done, count = 0, len(leaves)
    sha = _sha256
    while done < count:
        aligned = (size & -size).bit_length() - 1 if size else 64
        level = min(aligned, (count - done).bit_length() - 1)
        nodes = leaves[done : done + (1 << level)]
        while len(nodes) > 1:
            pairs = iter(nodes)
            nodes = [
                sha(b"\x01" + left + right).digest()
                for left, right in zip(pairs, pairs, strict=True)
            ]
        frontier.append(nodes[0])
        carry = size >> level
        while carry & 1:
            right = frontier.pop()
            frontier[-1] = sha(b"\x01" + frontier[-1] + right).digest()
            carry >>= 1
        size += 1 << level
        done += 1 << level


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


def pack_frontier(frontier: Sequence[bytes]) -> bytes:
    return b"".join(frontier)


def unpack_frontier(blob: bytes, size: int) -> list[bytes]:
    count = bin(size).count("1")
    if len(blob) != count * HASH_SIZE:
        raise ValueError(f"a frontier for size {size} has {count} hashes")
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    frontier: list[bytes] = []
    for size, h in enumerate(leaf_hashes):
        frontier_append(frontier, size, h)
    return frontier_root(frontier)


# ---------------------------------------------------------------- proofs


class MerkleTree:
    """A whole tree in memory, for producing proofs (exports, tests).

    `levels[k][i]` is the root of the perfect subtree of 2**k leaves starting
    at leaf i * 2**k; any RFC 9162 subtree is assembled from these in
    O(log n) hashes.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); start is always aligned the way RFC 9162 recursion needs."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        level = n.bit_length() - 1
        if n == 1 << level and start % n == 0:
            return self.levels[level][start >> level]
        k = split_point(n)
        return node_hash(self.subtree(start, start + k), self.subtree(start + k, end))

    def frontier(self, size: int) -> list[bytes]:
        """The compact frontier of the first `size` leaves (largest subtree first)."""
        if not 0 <= size <= self.size:
            raise ValueError("size out of range")
        found, start = [], 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                found.append(self.levels[level][start >> level])
                start += 1 << level
        return found

    def root(self, size: int | None = None) -> bytes:
        return self.subtree(0, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError("index out of range")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = split_point(n)
        if m < k:
            return [*self._path(m, start, start + k), self.subtree(start + k, end)]
        return [*self._path(m - k, start + k, end), self.subtree(start, start + k)]

    def consistency_proof(self, first: int, second: int | None = None) -> list[bytes]:
        second = self.size if second is None else second
        if not 0 <= first <= second <= self.size:
            raise ValueError("sizes out of range")
        if first in (0, second):
            return []
        return self._subproof(first, 0, second, True)

    def _subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [self.subtree(start, end)]
        k = split_point(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, whole), self.subtree(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self.subtree(start, start + k)]


# ---------------------------------------------------------------- verifiers


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2, given the leaf's hash."""
    if not 0 <= index < size or len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 <= first <= second:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof and first_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root
