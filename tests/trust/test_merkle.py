"""RFC 9162 §2.1 Merkle hashing and proofs (trust/merkle.py).

Checked three ways: the published test vectors of RFC 6962's reference implementation (the same
hashing as RFC 9162), a direct transcription of the RFC's recursive definitions for every size up
to 40, and tampering: every proof bit flipped, every size changed, the known verifier pitfalls.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust import merkle
from trust.merkle import MerkleError

# The eight leaves of the reference implementation's tests (certificate-transparency,
# merkle_tree_test), and the root of the first n of them.
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    bytes(range(0x60, 0x70)),
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _hashes(n: int) -> list[bytes]:
    return [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


# --- the RFC's definitions, transcribed literally, as the reference ----------------------------


def _mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = 1
    while k * 2 < len(d):
        k *= 2
    return merkle.node_hash(_mth(d[:k]), _mth(d[k:]))


def _path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return [*_path(m, d[:k]), _mth(d[k:])]
    return [*_path(m - k, d[k:]), _mth(d[:k])]


def _subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [_mth(d)]
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m <= k:
        return [*_subproof(m, d[:k], b), _mth(d[k:])]
    return [*_subproof(m - k, d[k:], False), _mth(d[:k])]


def test_roots_match_the_reference_vectors() -> None:
    hashes = [merkle.leaf_hash(leaf) for leaf in LEAVES]
    for n, expected in enumerate(ROOTS, start=1):
        assert merkle.root(hashes[:n]).hex() == expected
        assert merkle.over(hashes)(0, n).hex() == expected
    assert merkle.root([]) == hashlib.sha256(b"").digest() == merkle.empty_root()


def test_proofs_match_the_definitions_for_every_size() -> None:
    hashes = _hashes(40)
    subtree = merkle.over(hashes)
    for n in range(1, 41):
        top = _mth(hashes[:n])
        assert merkle.root(hashes[:n]) == top
        for m in range(n):
            proof = merkle.inclusion_proof(subtree, m, n)
            assert proof == _path(m, hashes[:n])
            merkle.verify_inclusion(
                leaf=hashes[m], index=m, tree_size=n, proof=proof, root_hash=top
            )
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(subtree, m, n)
            assert proof == _subproof(m, hashes[:n], True)
            merkle.verify_consistency(
                first_size=m,
                second_size=n,
                first_root=_mth(hashes[:m]),
                second_root=top,
                proof=proof,
            )


def test_compact_range_tracks_the_root_as_leaves_are_appended() -> None:
    hashes = _hashes(70)
    compact = merkle.CompactRange()
    for n, h in enumerate(hashes, start=1):
        compact.append(h)
        assert compact.size == n
        assert compact.root() == _mth(hashes[:n])
        again = merkle.CompactRange(compact.size, compact.hashes)  # as stored and reloaded
        assert again.root() == compact.root()
    with pytest.raises(MerkleError, match="has 2 hashes"):
        merkle.CompactRange(3, [hashes[0]])


def _flip(h: bytes, bit: int) -> bytes:
    return bytes([h[0] ^ (1 << bit), *h[1:]])


def test_any_tampered_inclusion_proof_fails() -> None:
    more = _hashes(40)
    hashes = more[:13]
    subtree = merkle.over(hashes)
    top = merkle.root(hashes)
    for m in range(13):
        proof = merkle.inclusion_proof(subtree, m, 13)
        for i in range(len(proof)):
            bad = [*proof[:i], _flip(proof[i], i % 8), *proof[i + 1 :]]
            with pytest.raises(MerkleError):
                merkle.verify_inclusion(
                    leaf=hashes[m], index=m, tree_size=13, proof=bad, root_hash=top
                )
        for size in range(m + 1, 40):  # a proof is bound to its tree size and that size's root
            if size != 13:
                with pytest.raises(MerkleError):
                    merkle.verify_inclusion(
                        leaf=hashes[m],
                        index=m,
                        tree_size=size,
                        proof=proof,
                        root_hash=merkle.root(more[:size]),
                    )
        with pytest.raises(MerkleError):  # and to its index
            merkle.verify_inclusion(
                leaf=hashes[m], index=(m + 1) % 13, tree_size=13, proof=proof, root_hash=top
            )
        with pytest.raises(MerkleError):  # one hash too many
            merkle.verify_inclusion(
                leaf=hashes[m], index=m, tree_size=13, proof=[*proof, top], root_hash=top
            )


def test_a_rewritten_or_truncated_log_has_no_consistency_proof() -> None:
    hashes = _hashes(20)
    rewritten = [*hashes[:7], merkle.leaf_hash(b"rewritten"), *hashes[8:]]
    for first in range(1, 20):
        check = {
            "first_size": first,
            "second_size": 20,
            "first_root": merkle.root(hashes[:first]),
            "second_root": merkle.root(rewritten),
            "proof": merkle.consistency_proof(merkle.over(rewritten), first, 20),
        }
        if first <= 7:  # what the witness saw is untouched: still a prefix
            merkle.verify_consistency(**check)
        else:
            with pytest.raises(MerkleError, match="not a prefix"):
                merkle.verify_consistency(**check)
    with pytest.raises(MerkleError, match="shrank"):
        merkle.verify_consistency(
            first_size=20,
            second_size=15,
            first_root=merkle.root(hashes),
            second_root=merkle.root(hashes[:15]),
            proof=[],
        )


@pytest.mark.parametrize(
    ("first", "second", "proof", "message"),
    [
        (0, 5, [], "from size 0"),
        (5, 5, [b"\x00" * 32], "must be empty"),
        (3, 5, [], "empty consistency proof"),
        (3, 5, [b"short"], "must be 32 bytes"),
        (3, 5, [b"\x00" * 32] * 200, "at most"),
        (-1, 5, [], "first_size must be"),
        (3, 2**63, [], "second_size must be"),
    ],
    ids=[
        "size-0",
        "equal-sizes-nonempty",
        "empty-proof",
        "short-hash",
        "too-long",
        "negative",
        "huge",
    ],
)
def test_known_verifier_pitfalls_are_refused(
    first: int, second: int, proof: list[bytes], message: str
) -> None:
    root = b"\x11" * 32
    with pytest.raises(MerkleError, match=message):
        merkle.verify_consistency(
            first_size=first, second_size=second, first_root=root, second_root=root, proof=proof
        )


def test_equal_sizes_with_different_roots_is_a_rewrite() -> None:
    with pytest.raises(MerkleError, match="rewritten"):
        merkle.verify_consistency(
            first_size=4, second_size=4, first_root=b"\x01" * 32, second_root=b"\x02" * 32, proof=[]
        )


def test_a_consistency_proof_is_bound_to_both_sizes() -> None:
    hashes = _hashes(40)
    proof = merkle.consistency_proof(merkle.over(hashes), 11, 30)
    for first in range(1, 40):
        for second in range(first, 40):
            if (first, second) != (11, 30):
                with pytest.raises(MerkleError):
                    merkle.verify_consistency(
                        first_size=first,
                        second_size=second,
                        first_root=merkle.root(hashes[:first]),
                        second_root=merkle.root(hashes[:second]),
                        proof=proof,
                    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.integers(min_value=1, max_value=300),
    st.data(),
)
def test_generated_proofs_always_verify(n: int, data: st.DataObject) -> None:
    hashes = _hashes(n)
    subtree = merkle.over(hashes)
    m = data.draw(st.integers(min_value=1, max_value=n))
    merkle.verify_consistency(
        first_size=m,
        second_size=n,
        first_root=merkle.root(hashes[:m]),
        second_root=merkle.root(hashes),
        proof=merkle.consistency_proof(subtree, m, n),
    )
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    merkle.verify_inclusion(
        leaf=hashes[i],
        index=i,
        tree_size=n,
        proof=merkle.inclusion_proof(subtree, i, n),
        root_hash=merkle.root(hashes),
    )
