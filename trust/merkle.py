"""Merkle tree hashing and proofs of RFC 9162 (Certificate Transparency 2.0) §2.1.

The audit log (全过程留痕) is an append-only list of entries; its state at any size is one
32-byte root. An inclusion proof shows one entry is in the tree of a given size; a consistency
proof shows the tree of size ``first`` is a prefix of the tree of size ``second``, which is what
a witness checks before it co-signs a newer checkpoint: a log that was truncated, rewritten or
restored from an old backup cannot produce one.

Pure: bytes in, bytes or :class:`MerkleError` out; no I/O, no clock. Proof generation takes a
``subtree`` function ``(start, end) -> root of leaves [start, end)`` so a store can answer it
from cached complete subtrees instead of rehashing every leaf; :func:`over` builds one from a
list of leaf hashes.

Verification follows §2.1.3.2 and §2.1.4.2 step by step, and refuses the known verifier
pitfalls besides: a consistency proof from size 0 (it proves nothing, so a caller that has seen
nothing must say so instead of asking for one), ``first > second``, equal sizes with different
roots, a proof longer than the tree allows, and any path element that is not 32 bytes. Every
proof is bound to the sizes it was checked against: the iteration must end exactly at the root
(``sn == 0``), so a proof for other sizes fails.

Deliberately not here: storing leaves, signing checkpoints (``gateway`` does both).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from trust.errors import DataError

HASH_SIZE = 32
MAX_TREE_SIZE = 2**63 - 1
# A path never has more than one hash per level of a tree of MAX_TREE_SIZE leaves, and a
# consistency path at most two per level.
MAX_PATH = 2 * 64

Subtree = Callable[[int, int], bytes]


class MerkleError(DataError):
    """A proof, size or hash that does not check out (what was expected and what was found)."""


def empty_root() -> bytes:
    """MTH({}) = HASH() (§2.1.1)."""
    return hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH({d0}) = HASH(0x00 || d0) (§2.1.1)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """HASH(0x01 || left || right) (§2.1.1)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def over(leaf_hashes: Sequence[bytes]) -> Subtree:
    """A ``subtree`` function computing roots from the leaf hashes themselves."""

    def subtree(start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return empty_root()
        if n == 1:
            return leaf_hashes[start]
        k = _split(n)
        return node_hash(subtree(start, start + k), subtree(start + k, end))

    return subtree


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the given leaf hashes."""
    compact = CompactRange()
    for h in leaf_hashes:
        compact.append(h)
    return compact.root()


class CompactRange:
    """The roots of the complete subtrees that make up a tree of ``size`` leaves (left to right,
    largest first): enough to append a leaf and compute the root in O(log n) without the leaves.
    RFC 9162's MTH splits at the largest power of two, so folding these roots from the right
    gives MTH exactly."""

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or size > MAX_TREE_SIZE:
            raise MerkleError(f"tree size must be 0..{MAX_TREE_SIZE}, found {size}")
        if len(hashes) != size.bit_count() or any(len(h) != HASH_SIZE for h in hashes):
            raise MerkleError(
                f"a compact range of size {size} has {size.bit_count()} hashes of {HASH_SIZE} "
                f"bytes, found {len(hashes)}"
            )
        self.size = size
        self.hashes = list(hashes)

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise MerkleError(f"a leaf hash is {HASH_SIZE} bytes, found {len(leaf)}")
        merged = leaf
        size = self.size
        while size & 1:  # each complete subtree of equal size on the right merges with it
            merged = node_hash(self.hashes.pop(), merged)
            size >>= 1
        self.hashes.append(merged)
        self.size += 1

    def root(self) -> bytes:
        if not self.hashes:
            return empty_root()
        result = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            result = node_hash(h, result)
        return result


def _check_size(name: str, value: int) -> None:
    if not 0 <= value <= MAX_TREE_SIZE:
        raise MerkleError(f"{name} must be 0..{MAX_TREE_SIZE}, found {value}")


def inclusion_proof(subtree: Subtree, index: int, tree_size: int) -> list[bytes]:
    """PATH(m, D[n]) (§2.1.3.1): the audit path of leaf ``index`` in the tree of ``tree_size``."""
    _check_size("tree_size", tree_size)
    if not 0 <= index < tree_size:
        raise MerkleError(f"leaf index must be 0..{tree_size - 1}, found {index}")
    path: list[bytes] = []
    start, end, m = 0, tree_size, index
    while end - start > 1:
        k = _split(end - start)
        if m < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, m = start + k, m - k
    path.reverse()  # built from the root down; the path runs from the leaf up
    return path


def consistency_proof(subtree: Subtree, first: int, second: int) -> list[bytes]:
    """PROOF(m, D[n]) (§2.1.4.1) for 0 < first <= second (empty when they are equal)."""
    _check_size("second", second)
    if not 0 < first <= second:
        raise MerkleError(f"a consistency proof needs 0 < first <= second, found {first}, {second}")
    path: list[bytes] = []
    start, end, m, complete = 0, second, first, True
    while m != end - start:  # SUBPROOF(m, D[start:end], complete)
        k = _split(end - start)
        if m <= k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        path.append(subtree(start, end))
    path.reverse()
    return path


def _check_path(path: Sequence[bytes]) -> None:
    if len(path) > MAX_PATH:
        raise MerkleError(f"a proof has at most {MAX_PATH} hashes, found {len(path)}")
    for i, h in enumerate(path):
        if len(h) != HASH_SIZE:
            raise MerkleError(f"proof hash {i} must be {HASH_SIZE} bytes, found {len(h)}")


def verify_inclusion(
    *, leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root_hash: bytes
) -> None:
    """§2.1.3.2: ``leaf`` (a leaf hash) is entry ``index`` of the tree whose root is
    ``root_hash`` at ``tree_size``. Raises :class:`MerkleError` otherwise."""
    _check_size("tree_size", tree_size)
    _check_path(proof)
    if len(leaf) != HASH_SIZE or len(root_hash) != HASH_SIZE:
        raise MerkleError(f"leaf and root hashes are {HASH_SIZE} bytes")
    if not 0 <= index < tree_size:
        raise MerkleError(f"leaf index must be 0..{tree_size - 1}, found {index}")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise MerkleError(f"the proof is longer than a tree of {tree_size} allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise MerkleError(f"the proof is shorter than a tree of {tree_size} needs")
    if r != root_hash:
        raise MerkleError(
            f"leaf {index} is not in the tree of size {tree_size}: the proof leads to "
            f"{r.hex()}, the root is {root_hash.hex()}"
        )


def verify_consistency(
    *,
    first_size: int,
    second_size: int,
    first_root: bytes,
    second_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """§2.1.4.2: the tree of ``first_size`` (root ``first_root``) is a prefix of the tree of
    ``second_size`` (root ``second_root``). Raises :class:`MerkleError` otherwise, including for
    ``first_size == 0`` (nothing to be consistent with: refuse rather than pass)."""
    _check_size("first_size", first_size)
    _check_size("second_size", second_size)
    _check_path(proof)
    if len(first_root) != HASH_SIZE or len(second_root) != HASH_SIZE:
        raise MerkleError(f"root hashes are {HASH_SIZE} bytes")
    if first_size == 0:
        raise MerkleError("a consistency proof from size 0 proves nothing; refused")
    if first_size > second_size:
        raise MerkleError(
            f"the log shrank: size {second_size} after {first_size} (truncated or rolled back)"
        )
    if first_size == second_size:
        if proof:
            raise MerkleError("a proof between equal sizes must be empty")
        if first_root != second_root:
            raise MerkleError(
                f"two different roots for size {first_size}: {first_root.hex()} and "
                f"{second_root.hex()} (the log was rewritten)"
            )
        return
    path = list(proof)
    if not path:  # step 1
        raise MerkleError("an empty consistency proof between different sizes")
    if first_size & (first_size - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, first_root)
    fn, sn = first_size - 1, second_size - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            raise MerkleError(f"the proof is longer than sizes {first_size}, {second_size} allow")
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
    if sn != 0:  # step 7
        raise MerkleError(f"the proof is shorter than sizes {first_size}, {second_size} need")
    if fr != first_root or sr != second_root:
        raise MerkleError(
            f"size {first_size} is not a prefix of size {second_size}: the log was rewritten, "
            "truncated or rolled back"
        )
