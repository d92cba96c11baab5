"""One trusted state for peers' data (issue 8): one named test per rule it enforces.

Each refusal asserts the error class and that the state still holds the good data it held
before (root, trust list, status list), as python-tuf's ``TrustedMetadataSet`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.trust.test_trustlist_vectors import (
    AMR_KEY,
    AMR_LOST,
    AMR_OLD,
    AMR_STATUS,
    BJ_KEY,
    BJ_STATUS,
    DAY,
    LIST_KEY,
    LIST_KEY_2,
    NOW,
    ROOT_KEYS,
    ROOT_V1,
    ROOT_V2,
    SIGNED_V1,
    SIGNED_V2,
    STRANGER,
    TYPES,
    credential,
    root_v,
    status_token,
    trust_list,
)
from trust.errors import StatusListError
from trust.jws import UnknownKey
from trust.keys import PublicKey, SigningKey
from trust.peer_statuslists import HeldStatusList, StatusListReplay
from trust.trusted_state import TrustedState
from trust.trustlist.document import TrustList, sign_trust_list
from trust.trustlist.errors import (
    RollbackError,
    RootError,
    RootExpired,
    TrustListError,
    TrustListExpired,
)
from trust.trustlist.root import Role, RootMetadata, SignedRoot
from verify.reasons import Reason
from verify.verifier import verify_scanned

K0, K1, K2, K3 = ROOT_KEYS
V2_LIST = trust_list(2, iat=NOW - 60)
GOOD_STATUS = status_token(AMR_STATUS, AMR_KEY, revoked=(7,))


@dataclass(frozen=True)
class Held:
    """What a state holds, to compare before and after a refused update."""

    root: RootMetadata
    trust_list: TrustList | None
    status: HeldStatusList | None

    @classmethod
    def of(cls, state: TrustedState) -> Held:
        return cls(state.root, state.trust_list, state.status_list(AMR_STATUS, now=NOW))


def _state() -> TrustedState:
    """Root v2 (walked from v1), trust list v2, 杭州's status list: all good."""
    state = TrustedState.from_root(SIGNED_V1)
    assert state.update_root(SIGNED_V2, now=NOW)
    assert state.update_trust_list(sign_trust_list(V2_LIST, LIST_KEY), now=NOW)
    state.update_status_list(AMR_STATUS, GOOD_STATUS, now=NOW)
    return state


def _refused(state: TrustedState) -> Held:
    held = Held.of(state)
    assert held.root == ROOT_V2
    assert held.trust_list == V2_LIST
    assert held.status is not None
    return held


def test_the_good_path_gives_the_verifier_its_snapshot_and_statuses() -> None:
    state = _state()
    snapshot = state.snapshot(types=TYPES, now=NOW)
    statuses = state.statuses(now=NOW)
    assert set(statuses) == {AMR_STATUS}
    scan = verify_scanned(credential(AMR_KEY, idx=7), trust=snapshot, statuses=statuses, now=NOW)
    assert scan.reason is Reason.REVOKED
    assert state.expires_at == V2_LIST.exp


# --- trust lists --------------------------------------------------------------------------------


def test_a_trust_list_signed_by_a_key_outside_the_roots_trust_list_role_is_refused() -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(UnknownKey):
        state.update_trust_list(sign_trust_list(trust_list(3), STRANGER), now=NOW)
    with pytest.raises(UnknownKey):  # a root key is not a trust list key either
        state.update_trust_list(sign_trust_list(trust_list(3), K1), now=NOW)
    assert Held.of(state) == held


def test_an_older_trust_list_after_a_newer_one_is_a_rollback() -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(RollbackError, match="expected trust list version 2 or later, found 1"):
        state.update_trust_list(sign_trust_list(trust_list(1), LIST_KEY), now=NOW)
    assert Held.of(state) == held


def test_the_same_trust_list_version_with_other_content_is_refused() -> None:
    state = _state()
    held = _refused(state)
    other = trust_list(2, iat=NOW - 60, next_update=NOW + 7200)
    with pytest.raises(RollbackError, match="expected identical content"):
        state.update_trust_list(sign_trust_list(other, LIST_KEY), now=NOW)
    assert Held.of(state) == held


def test_an_expired_trust_list_is_refused() -> None:
    state = _state()
    held = _refused(state)
    expired = trust_list(3, iat=NOW - 2 * DAY, next_update=NOW - DAY, exp=NOW - 1)
    with pytest.raises(TrustListExpired, match="expected a list whose exp is after now"):
        state.update_trust_list(sign_trust_list(expired, LIST_KEY), now=NOW)
    assert Held.of(state) == held


def test_a_trust_list_for_another_region_is_refused() -> None:
    state = TrustedState(ROOT_V2)
    with pytest.raises(TrustListError, match="for the root's region 'cn-yrd', found one for"):
        state.update_trust_list(sign_trust_list(trust_list(region="cn-jjj"), LIST_KEY), now=NOW)
    assert state.trust_list is None
    good = _state()
    held = _refused(good)
    with pytest.raises(TrustListError):
        good.update_trust_list(sign_trust_list(trust_list(3, region="cn-jjj"), LIST_KEY), now=NOW)
    assert Held.of(good) == held


def test_rotated_trust_list_signers_forget_a_fast_forwarded_list() -> None:
    # TUF §5.3.11: a list pushed to version 999 by a stolen key must not block the real one.
    state = TrustedState(ROOT_V2)
    state.update_trust_list(sign_trust_list(trust_list(999), LIST_KEY), now=NOW)
    v3 = root_v(3, keys=[2], trust_list_role=Role(frozenset({LIST_KEY_2.kid}), 1))
    assert state.update_root(SignedRoot.sign(v3, [K1, K2]), now=NOW)
    assert state.trust_list is None
    assert state.update_trust_list(sign_trust_list(trust_list(1), LIST_KEY_2), now=NOW)
    assert state.trust_list == trust_list(1)


# --- roots --------------------------------------------------------------------------------------

V3 = root_v(3, keys=[2])
SIGNED_V3 = SignedRoot.sign(V3, [K1, K2])


def test_root_n_plus_2_skipping_n_plus_1_is_refused() -> None:
    state = TrustedState.from_root(SIGNED_V1)
    held = Held.of(state)
    with pytest.raises(RootError, match=r"\[2\] missing"):
        state.update_root(SIGNED_V3, now=NOW)
    forged = SignedRoot.sign(V3, [K0, K2])  # signed as if it followed v1 directly
    with pytest.raises(RootError, match=r"\[2\] missing"):
        state.update_root(forged, now=NOW)
    assert Held.of(state) == held
    assert state.root == ROOT_V1


def test_root_n_plus_1_signed_only_by_the_new_keys_is_refused() -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(RootError, match="trusted version 2's root keys, found 0"):
        state.update_root(SignedRoot.sign(V3, [K2]), now=NOW)
    assert Held.of(state) == held


def test_root_n_plus_1_signed_only_by_the_old_keys_is_refused() -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(RootError, match="signed by 1 of its own root keys, found 0"):
        state.update_root(SignedRoot.sign(V3, [K1]), now=NOW)
    assert Held.of(state) == held


def test_a_rollback_of_the_root_is_refused() -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(RollbackError, match="version 2 \\(the one pinned\\) or later"):
        state.update_root(SIGNED_V1, now=NOW)
    assert Held.of(state) == held


def test_the_same_root_version_with_other_content_is_refused() -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(RootError, match="expected identical content"):
        state.update_root(SignedRoot.sign(root_v(2, keys=[3]), [K0, K3]), now=NOW)
    assert state.update_root(SIGNED_V2, now=NOW) is False  # the same root again: nothing
    assert Held.of(state) == held


def test_a_root_walk_is_bounded() -> None:
    state = _state()
    held = _refused(state)
    far = SignedRoot.sign(root_v(2 + 33, keys=[2]), [K1, K2])
    with pytest.raises(RootError, match="at most 32 root versions between the pinned version 2"):
        state.update_root(far, now=NOW)
    assert Held.of(state) == held


def test_an_expired_root_vouches_for_no_new_trust_list() -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(RootExpired):
        state.update_trust_list(sign_trust_list(trust_list(3), LIST_KEY), now=ROOT_V2.expires)
    with pytest.raises(RootExpired):
        state.snapshot(types=TYPES, now=ROOT_V2.expires)
    assert Held.of(state) == held


def test_a_root_walk_takes_the_versions_between_from_the_history() -> None:
    state = TrustedState.from_root(SIGNED_V1)
    assert state.update_root(SIGNED_V3, history=[SIGNED_V2.to_bytes(), SIGNED_V1], now=NOW)
    assert state.root == V3


# --- status lists -------------------------------------------------------------------------------


def test_a_status_list_signed_by_another_issuers_key_is_refused() -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(UnknownKey):
        state.update_status_list(AMR_STATUS, status_token(AMR_STATUS, BJ_KEY, iat=NOW), now=NOW)
    assert Held.of(state) == held


@pytest.mark.parametrize("key", [AMR_OLD, AMR_LOST], ids=["retired", "compromised"])
def test_a_status_list_signed_by_a_retired_or_compromised_key_of_its_owner_is_refused(
    key: SigningKey,
) -> None:
    state = _state()
    held = _refused(state)
    with pytest.raises(UnknownKey):
        state.update_status_list(AMR_STATUS, status_token(AMR_STATUS, key, iat=NOW), now=NOW)
    assert Held.of(state) == held


def test_a_replayed_older_status_list_is_refused() -> None:
    state = _state()
    newer = status_token(AMR_STATUS, AMR_KEY, revoked=(7, 8), iat=NOW)
    assert state.update_status_list(AMR_STATUS, newer, now=NOW)[1]
    held = Held.of(state)
    with pytest.raises(StatusListReplay, match="replay of an older list"):
        state.update_status_list(AMR_STATUS, GOOD_STATUS, now=NOW)
    assert Held.of(state) == held
    assert held.status is not None
    assert held.status.snapshot.status(8) == 1


def test_a_status_list_no_trust_list_entry_names_is_refused() -> None:
    state = _state()
    held = _refused(state)
    uri = "https://ecert.unknown.gov.cn/statuslists/1"
    with pytest.raises(StatusListError, match="no trust list entry names it"):
        state.update_status_list(uri, status_token(uri, AMR_KEY), now=NOW)
    assert Held.of(state) == held
    assert set(state.statuses(now=NOW)) == {AMR_STATUS}


# --- nothing unchanged is verified again ---------------------------------------------------------


def test_unchanged_bytes_are_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    state = _state()
    bj_status = status_token(BJ_STATUS, BJ_KEY)
    state.update_status_list(BJ_STATUS, bj_status, now=NOW)
    counted = {"verify": 0}
    verify = PublicKey.verify

    def counting(self: PublicKey, signature: bytes, signing_input: bytes) -> bool:
        counted["verify"] += 1
        return verify(self, signature, signing_input)

    monkeypatch.setattr(PublicKey, "verify", counting)
    before = state.verifications
    for later in (NOW, NOW + 60, NOW + 600):
        assert state.update_root(SIGNED_V2, now=later) is False
        assert state.update_trust_list(sign_trust_list(V2_LIST, LIST_KEY), now=later) is False
        for uri, token in ((AMR_STATUS, GOOD_STATUS), (BJ_STATUS, bj_status)):
            assert state.update_status_list(uri, token, now=later)[1] is False
        assert set(state.statuses(now=later)) == {AMR_STATUS, BJ_STATUS}
    assert (counted["verify"], state.verifications) == (0, before)
    # Something new is verified, once.
    assert state.update_trust_list(sign_trust_list(trust_list(3), LIST_KEY), now=NOW)
    assert (counted["verify"], state.verifications) == (1, before + 1)
