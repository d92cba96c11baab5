"""Offline bundles: an air-gapped kiosk verifies root, trust list and status lists from one file."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trust.trustlist.bundle
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
    POLICY,
    ROOT_KEYS,
    ROOT_V1,
    ROOT_V2,
    SIGNED_V1,
    SIGNED_V2,
    TYPES,
    credential,
    root_v,
    status_token,
    trust_list,
)
from trust.errors import DataError
from trust.jws import UnknownKey
from trust.trustlist.bundle import LoadedBundle, TrustBundle, load_bundle
from trust.trustlist.document import TrustList, sign_trust_list
from trust.trustlist.errors import (
    BundleError,
    RollbackError,
    RootError,
    RootExpired,
    TrustListError,
    TrustListExpired,
)
from trust.trustlist.root import Role, SignedRoot
from verify.reasons import Reason
from verify.verifier import StatusSource, verify_scanned

K0, K1, K2, _ = ROOT_KEYS
V1 = trust_list(1)
V2 = trust_list(2, iat=NOW - 60)
STATUS_LISTS = {
    AMR_STATUS: status_token(AMR_STATUS, AMR_KEY, revoked=(7,)),
    BJ_STATUS: status_token(BJ_STATUS, BJ_KEY),
}
# v3 rotates the trust list keys: only LIST_KEY_2 may sign from now on.
ROOT_V3 = root_v(3, keys=[2], trust_list_role=Role(frozenset({LIST_KEY_2.kid}), 1))
SIGNED_V3 = SignedRoot.sign(ROOT_V3, [K1, K2])


def bundle(
    *,
    root: SignedRoot = SIGNED_V2,
    history: tuple[SignedRoot, ...] = (SIGNED_V1,),
    token: str | None = None,
    status_lists: Mapping[str, str] = STATUS_LISTS,
) -> bytes:
    token = token if token is not None else sign_trust_list(V1, LIST_KEY)
    return TrustBundle(root, history, token, status_lists).to_bytes()


def load(data: bytes, **kwargs: Any) -> LoadedBundle:
    kwargs.setdefault("pinned_root", ROOT_V1)
    kwargs.setdefault("now", NOW)
    return load_bundle(data, types=TYPES, **kwargs)


def scan(loaded: LoadedBundle, token: str, now: int = NOW) -> Reason:
    statuses = {u: StatusSource(s.issuer_id, s.snapshot) for u, s in loaded.statuses.items()}
    return verify_scanned(token, trust=loaded.snapshot, statuses=statuses, now=now).reason


LOADED = load(bundle())


def test_bundle_walks_the_pinned_root_to_the_newest() -> None:
    assert LOADED.root == ROOT_V2
    assert LOADED.trust_list == V1
    assert set(LOADED.statuses) == {AMR_STATUS, BJ_STATUS}
    assert LOADED.dropped == ()


OFFLINE = [
    ("valid", lambda: credential(AMR_KEY), Reason.VALID),
    ("revoked, offline", lambda: credential(AMR_KEY, idx=7), Reason.REVOKED),
    ("other region, accepted type", lambda: credential(BJ_KEY, uri=BJ_STATUS), Reason.VALID),
    (
        "other region, type outside the policy",
        lambda: credential(BJ_KEY, t="EID", uri=BJ_STATUS),
        Reason.NOT_ACCEPTED_BY_POLICY,
    ),
    ("compromised key, offline", lambda: credential(AMR_LOST), Reason.KEY_NOT_VALID_AT_ISSUANCE),
]


@pytest.mark.parametrize(("name", "token", "reason"), OFFLINE, ids=[o[0] for o in OFFLINE])
def test_offline_verification(name: str, token: Callable[[], str], reason: Reason) -> None:
    assert scan(LOADED, token()) is reason


def test_offline_answers_stale_once_the_list_expires() -> None:
    assert scan(LOADED, credential(AMR_KEY), now=V1.exp) is Reason.TRUST_LIST_STALE


def test_bundle_file_round_trip() -> None:
    data = bundle()
    again = TrustBundle.from_bytes(data)
    assert again.to_bytes() == data
    assert again.root == SIGNED_V2


# --- what is refused ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    name: str
    data: Callable[[], bytes]
    error: type[Exception]
    message: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)


REFUSED = [
    Refused(
        "no pinned root, no trust on first use",
        bundle,
        RootError,
        "found none",
        {"pinned_root": None},
    ),
    Refused(
        "bundle root older than the pinned one",
        lambda: bundle(root=SIGNED_V1, history=()),
        RollbackError,
        "version 2 (the one pinned) or later",
        {"pinned_root": ROOT_V2},
    ),
    Refused(
        "bundle root: same version as pinned, other content",
        lambda: bundle(root=SignedRoot.sign(root_v(2, keys=[2]), [K0, K2]), history=()),
        RootError,
        "expected identical content",
        {"pinned_root": ROOT_V2},
    ),
    Refused(
        "rotation path incomplete",
        lambda: bundle(root=SIGNED_V3, history=()),
        RootError,
        "[2] missing",
    ),
    Refused(
        "root signed only by its own new key",
        lambda: bundle(root=SignedRoot.sign(ROOT_V2, [K1]), history=()),
        RootError,
        "trusted version 1's root keys, found 0",
    ),
    Refused("root expired", bundle, RootExpired, "root version 2", {"now": ROOT_V2.expires}),
    Refused(
        "trust list signed by an agency key",
        lambda: bundle(token=sign_trust_list(V1, AMR_KEY)),
        UnknownKey,
    ),
    Refused(
        "trust list key rotated out by the root",
        lambda: bundle(root=SIGNED_V3, history=(SIGNED_V2,)),
        UnknownKey,
    ),
    Refused(
        "trust list for another region",
        lambda: bundle(token=sign_trust_list(trust_list(region="cn-jjj"), LIST_KEY)),
        TrustListError,
        "for the root's region 'cn-yrd'",
    ),
    Refused("trust list rolled back", bundle, RollbackError, "found 1", {"previous": V2}),
    Refused("trust list expired", bundle, TrustListExpired, "expired at", {"now": V1.exp}),
    Refused(
        "root history holds the current root again",
        lambda: bundle(history=(SIGNED_V1, SIGNED_V2)),
        BundleError,
        "found version 2 (again or later)",
    ),
    Refused(
        "root history reaches past the bundle's root",
        lambda: bundle(root=SIGNED_V2, history=(SIGNED_V1, SIGNED_V3)),
        BundleError,
        "found version 3",
    ),
    Refused(
        "root version far beyond the pinned one",
        lambda: bundle(root=SignedRoot.sign(root_v(2**53 - 1, keys=[1]), [K1]), history=()),
        RootError,
        "at most 32 root versions between the pinned version 1 and the bundle's, found 9007199",
    ),
    Refused("not JSON", lambda: b"{", BundleError, "not JSON"),
    Refused(
        "another format",
        lambda: bundle().replace(b"ecert-trust-bundle/1", b"ecert-trust-bundle/9"),
        BundleError,
        "format",
    ),
    Refused(
        "status list token not text",
        lambda: json.dumps({**json.loads(bundle()), "status_lists": {AMR_STATUS: 1}}).encode(),
        BundleError,
        "status list token strings",
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_bundle_refused(case: Refused) -> None:
    with pytest.raises(case.error) as info:
        load(case.data(), **case.kwargs)
    assert case.message in str(info.value)


def test_trust_on_first_use_only_when_asked() -> None:
    loaded = load(bundle(history=()), pinned_root=None, trust_on_first_use=True)
    assert loaded.root == ROOT_V2


def test_same_root_as_pinned_is_fine() -> None:
    assert load(bundle(), pinned_root=ROOT_V2).root == ROOT_V2


def test_newer_list_than_held_is_accepted() -> None:
    got = load(bundle(token=sign_trust_list(V2, LIST_KEY)), previous=V1)
    assert got.trust_list.version == 2


def test_rotated_trust_list_keys_forget_the_list_held() -> None:
    # TUF §5.3.11: a list pushed to version 999 with a stolen key must not block the real one.
    fast_forwarded = trust_list(999)
    data = bundle(root=SIGNED_V3, history=(SIGNED_V2,), token=sign_trust_list(V1, LIST_KEY_2))
    got = load(data, previous=fast_forwarded)
    assert (got.root.version, got.trust_list.version) == (3, 1)


def test_bundle_size_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trust.trustlist.bundle, "MAX_BUNDLE_BYTES", 1000)
    with pytest.raises(BundleError, match="at most 1000 allowed"):
        load(bundle())


# --- status lists that cannot be used are dropped and reported ----------------------------------

EXTRA = "https://ecert.unknown.gov.cn/statuslists/1"
DROPPED = [
    ("no entry names it", {EXTRA: status_token(EXTRA, AMR_KEY)}, EXTRA, "no trust list entry"),
    (
        "signed by another agency",
        {AMR_STATUS: status_token(AMR_STATUS, BJ_KEY)},
        AMR_STATUS,
        "UnknownKey",
    ),
    (
        "signed by a compromised key",
        {AMR_STATUS: status_token(AMR_STATUS, AMR_LOST)},
        AMR_STATUS,
        "UnknownKey",
    ),
    (
        "signed by a rotated key",
        {AMR_STATUS: status_token(AMR_STATUS, AMR_OLD)},
        AMR_STATUS,
        "UnknownKey",
    ),
    (
        "expired",
        {AMR_STATUS: status_token(AMR_STATUS, AMR_KEY, iat=NOW - DAY, exp=NOW)},
        AMR_STATUS,
        "StatusListExpired",
    ),
    (
        "filed under another URI",
        {AMR_STATUS: status_token(AMR_STATUS + "0", AMR_KEY)},
        AMR_STATUS,
        f"{AMR_STATUS}0",
    ),
    ("garbage", {AMR_STATUS: "not.a.token"}, AMR_STATUS, "MalformedToken"),
]


@pytest.mark.parametrize(("name", "lists", "uri", "reason"), DROPPED, ids=[d[0] for d in DROPPED])
def test_unusable_status_list_is_dropped(
    name: str, lists: dict[str, str], uri: str, reason: str
) -> None:
    loaded = load(bundle(status_lists={**STATUS_LISTS, **lists}))
    assert [d.uri for d in loaded.dropped] == [uri]
    assert reason in loaded.dropped[0].reason
    assert uri not in loaded.statuses
    if uri == AMR_STATUS:  # never VALID without a status list
        assert scan(loaded, credential(AMR_KEY)) is Reason.STATUS_UNAVAILABLE


def test_policy_name_survives_the_bundle() -> None:
    issuer = LOADED.snapshot.issuers["ag-bj-amr"]
    assert (issuer.policy, issuer.accepted) == (POLICY, frozenset({"business-licence"}))


# --- arbitrary input ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_our_errors(data: bytes) -> None:
    with pytest.raises(DataError):
        load(data)


BUNDLE_JSON = json.loads(bundle())


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(sorted(BUNDLE_JSON)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=8,
    ),
)
def test_bundle_members_raise_only_our_errors(member: str, value: object) -> None:
    raw = copy.deepcopy(BUNDLE_JSON)
    raw[member] = value
    with contextlib.suppress(DataError):
        load(json.dumps(raw).encode())


def test_loaded_trust_list_is_what_to_keep_for_next_time() -> None:
    again = load(bundle(), pinned_root=LOADED.root, previous=LOADED.trust_list)
    assert again.trust_list == LOADED.trust_list
    assert isinstance(again.trust_list, TrustList)
    assert replace(LOADED, dropped=()) == LOADED


def test_a_non_ascii_status_list_is_dropped_not_a_crash() -> None:
    h, p, s = STATUS_LISTS[BJ_STATUS].split(".")
    loaded = load(bundle(status_lists={**STATUS_LISTS, BJ_STATUS: f"{h}.{p}é.{s}"}))
    assert [d.uri for d in loaded.dropped] == [BJ_STATUS]
    assert "ASCII" in loaded.dropped[0].reason
