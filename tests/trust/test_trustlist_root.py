"""Root metadata: invariants, threshold signatures, and TUF §5.3 root rotation."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trust.test_trustlist_vectors import (
    DAY,
    LIST_KEY,
    NOW,
    ROOT_KEYS,
    ROOT_V1,
    ROOT_V2,
    SIGNED_V1,
    SIGNED_V2,
    STRANGER,
    root_v,
)
from trust.errors import DataError
from trust.keys import SigningKey
from trust.trustlist.errors import RootError, RootExpired, TrustListExpired
from trust.trustlist.root import (
    Role,
    RootMetadata,
    SignedRoot,
    load_initial_root,
    trust_list_signers_rotated,
    update_root,
    verify_root_update,
)

K0, K1, K2, K3 = ROOT_KEYS
THREE = root_v(1, keys=[0, 1, 2], threshold=2)  # 2-of-3


def signed(root: RootMetadata, *signers: SigningKey) -> bytes:
    return SignedRoot.sign(root, signers).to_bytes()


def _tampered_v2() -> bytes:
    raw = json.loads(SIGNED_V2.to_bytes())
    raw["signed"]["expires"] += DAY
    return json.dumps(raw).encode()


@dataclass(frozen=True)
class Rotation:
    name: str
    trusted: RootMetadata
    new: Callable[[], bytes]
    error: type[Exception] | None
    message: str = ""


ROTATIONS = [
    Rotation("v2 signed by the old and the new key", ROOT_V1, lambda: SIGNED_V2.to_bytes(), None),
    Rotation(
        "v2 signed only by the new key",
        ROOT_V1,
        lambda: signed(ROOT_V2, K1),
        RootError,
        "signed by 1 of the trusted version 1's root keys, found 0",
    ),
    Rotation(
        "v2 signed only by the old key",
        ROOT_V1,
        lambda: signed(ROOT_V2, K0),
        RootError,
        "signed by 1 of its own root keys, found 0",
    ),
    Rotation(
        "v3 skipping v2",
        ROOT_V1,
        lambda: signed(root_v(3, keys=[1]), K0, K1),
        RootError,
        "expected root version 2 after 1, found 3",
    ),
    Rotation(
        "v1 again",
        ROOT_V1,
        lambda: SIGNED_V1.to_bytes(),
        RootError,
        "expected root version 2 after 1, found 1",
    ),
    Rotation(
        "rollback to v1 from v2",
        ROOT_V2,
        lambda: signed(ROOT_V1, K0, K1),
        RootError,
        "expected root version 3 after 2, found 1",
    ),
    Rotation(
        "2-of-3: two old keys, two new keys",
        THREE,
        lambda: signed(root_v(2, keys=[1, 2, 3], threshold=2), K0, K1, K3),
        None,
    ),
    Rotation(
        "2-of-3: one old key",
        THREE,
        lambda: signed(root_v(2, keys=[1, 2, 3], threshold=2), K0, K3),
        RootError,
        "signed by 2 of the trusted version 1's root keys, found 1",
    ),
    Rotation(
        "2-of-3: one old key signing twice counts once (GHSA-r7vq-6425-j94w)",
        THREE,
        lambda: signed(root_v(2, keys=[3]), K0, K0, K3),
        RootError,
        "found 1",
    ),
    Rotation(
        "signature by a key outside the role is ignored",
        ROOT_V1,
        lambda: signed(ROOT_V2, STRANGER, LIST_KEY, K1),
        RootError,
        "trusted version 1's root keys, found 0",
    ),
    Rotation(
        "signed content changed after signing",
        ROOT_V1,
        _tampered_v2,
        RootError,
        "found 0",
    ),
    Rotation(
        "another region's root",
        ROOT_V1,
        lambda: signed(root_v(2, keys=[1], region_id="cn-jjj"), K0, K1),
        RootError,
        "expected a root for region 'cn-yrd'",
    ),
    Rotation(
        "new root already expired",
        ROOT_V1,
        lambda: signed(root_v(2, keys=[1], expires=NOW), K0, K1),
        RootExpired,
        f"expired at {NOW}, now is {NOW}",
    ),
    Rotation("not JSON", ROOT_V1, lambda: b"\xff root", RootError, "not JSON"),
]


@pytest.mark.parametrize("case", ROTATIONS, ids=[c.name for c in ROTATIONS])
def test_root_rotation(case: Rotation) -> None:
    if case.error is None:
        new = verify_root_update(case.trusted, case.new(), now=NOW)
        assert new.version == case.trusted.version + 1
    else:
        with pytest.raises(case.error) as info:
            verify_root_update(case.trusted, case.new(), now=NOW)
        assert case.message in str(info.value)


def test_expired_root_is_a_stale_trust_list_to_callers() -> None:
    assert issubclass(RootExpired, TrustListExpired)
    assert issubclass(RootExpired, RootError)


# --- walking versions ---------------------------------------------------------------------------

V3 = root_v(3, keys=[2])
SIGNED_V3 = signed(V3, K1, K2)


def test_walk_reaches_the_newest_version() -> None:
    assert update_root(ROOT_V1, {2: SIGNED_V2, 3: SIGNED_V3}, now=NOW) == V3


def test_intermediate_root_may_have_expired() -> None:
    # TUF §5.3.6: only the newest root reached is checked for expiry.
    old_v2 = root_v(2, keys=[1], expires=NOW - 300 * DAY)
    got = update_root(ROOT_V1, {2: signed(old_v2, K0, K1), 3: signed(V3, K1, K2)}, now=NOW)
    assert got == V3


def test_walk_stops_at_a_gap_then_checks_expiry() -> None:
    assert (
        update_root(ROOT_V1, {2: SIGNED_V2, 4: signed(root_v(4, keys=[3]), K2, K3)}, now=NOW)
        == ROOT_V2
    )
    with pytest.raises(RootExpired):
        update_root(ROOT_V1, {}, now=ROOT_V1.expires)


def test_one_bad_step_aborts_the_whole_walk() -> None:
    with pytest.raises(RootError, match="its own root keys"):
        update_root(ROOT_V1, {2: SIGNED_V2, 3: signed(V3, K1)}, now=NOW)


def test_walk_is_bounded() -> None:
    chain: dict[int, bytes] = {2: SIGNED_V2.to_bytes()}
    for version in range(3, 8):
        chain[version] = signed(root_v(version, keys=[1]), K1)
    assert update_root(ROOT_V1, chain, now=NOW, max_steps=3).version == 4


def test_candidate_filed_under_the_wrong_version_is_refused() -> None:
    with pytest.raises(RootError, match="expected root version 2 after 1, found 3"):
        update_root(ROOT_V1, {2: signed(V3, K0, K2)}, now=NOW)


def test_trust_list_key_rotation_is_detected() -> None:
    assert not trust_list_signers_rotated(ROOT_V1, ROOT_V2)
    fewer = replace(ROOT_V2, trust_list_role=Role(frozenset({LIST_KEY.kid}), 1))
    assert trust_list_signers_rotated(ROOT_V1, fewer)


# --- the first root and invariants --------------------------------------------------------------


def test_initial_root_needs_its_own_threshold() -> None:
    assert load_initial_root(SIGNED_V1.to_bytes()) == ROOT_V1
    with pytest.raises(RootError, match="signed by 2 of its own root keys, found 1"):
        load_initial_root(signed(THREE, K0, STRANGER))


def test_signed_root_round_trip() -> None:
    again = SignedRoot.from_bytes(SIGNED_V2.to_bytes())
    assert again == SIGNED_V2
    assert again.root.threshold == 1
    assert [k.kid for k in again.root.trust_list_keys] == sorted(ROOT_V2.trust_list_role.keyids)


def _broken(**over: Any) -> Callable[[], object]:
    return lambda: replace(ROOT_V1, **over)


def _wire(edit: Callable[[dict[str, Any]], None]) -> Callable[[], object]:
    def build() -> object:
        raw = copy.deepcopy(SIGNED_V1.to_json())
        edit(raw)
        return SignedRoot.from_json(raw)

    return build


BROKEN_ROOTS: list[tuple[str, Callable[[], object], str]] = [
    ("version 0", _broken(version=0), "root version to be an integer from 1"),
    ("no keys", _broken(keys={}), "1 to 32 keys"),
    (
        "key under another kid",
        _broken(keys={"x": K0.public, LIST_KEY.kid: LIST_KEY.public}),
        "listed by its thumbprint",
    ),
    ("threshold 0", _broken(root_role=Role(frozenset({K0.kid}), 0)), "threshold from 1 to its 1"),
    ("threshold above keys", _broken(root_role=Role(frozenset({K0.kid}), 2)), "found 2"),
    ("role key not listed", _broken(root_role=Role(frozenset({K3.kid}), 1)), "to use listed keys"),
    (
        "trust list threshold 2",
        _broken(trust_list_role=Role(frozenset({K0.kid, LIST_KEY.kid}), 2)),
        "threshold 1 (one JWS signature)",
    ),
    ("wrong _type", _wire(lambda r: r["signed"].update(_type="root")), "_type to be 'ecert-root'"),
    (
        "unknown role",
        _wire(lambda r: r["signed"]["roles"].update(targets={"keyids": [], "threshold": 1})),
        "unexpected members ['targets']",
    ),
    ("signatures not a list", _wire(lambda r: r.update(signatures={})), "signatures to be a list"),
    (
        "signature not base64url",
        _wire(lambda r: r["signatures"][0].update(sig="++++")),
        "sig in base64url",
    ),
    ("expires a string", _wire(lambda r: r["signed"].update(expires="2027")), "expires to be"),
]


@pytest.mark.parametrize(
    ("name", "build", "message"), BROKEN_ROOTS, ids=[b[0] for b in BROKEN_ROOTS]
)
def test_root_invariants(name: str, build: Callable[[], object], message: str) -> None:
    with pytest.raises(RootError) as info:
        build()
    assert message in str(info.value)


def test_root_file_size_is_bounded() -> None:
    with pytest.raises(RootError, match="at most 65536 allowed"):
        SignedRoot.from_bytes(b" " * 70_000)


# --- parsers raise only our errors --------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["_type", "version", "expires", "region", "keys", "roles"]), JSON)
def test_root_parser_raises_only_our_errors(member: str, value: object) -> None:
    raw = copy.deepcopy(SIGNED_V1.to_json())
    raw["signed"][member] = value
    with contextlib.suppress(DataError):
        verify_root_update(ROOT_V1, json.dumps(raw).encode(), now=NOW)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_root_bytes_raise_only_our_errors(data: bytes) -> None:
    with pytest.raises(DataError):
        verify_root_update(ROOT_V1, data, now=NOW)
