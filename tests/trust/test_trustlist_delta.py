"""Trust list deltas: round trip with tombstones, and every way a delta must be refused."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, replace

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trust.test_trustlist_vectors import (
    AMR_KEY,
    AMR_LOST,
    DAY,
    LIST_KEY,
    LIST_KEY_2,
    NOW,
    STRANGER,
    bj_entry,
    entries,
    entry,
    es_key,
    trust_list,
)
from trust.errors import DataError
from trust.jws import BadSignature, UnknownKey, UnsupportedToken, sign_compact
from trust.trustlist.delta import (
    DELTA_TYP,
    TrustListDelta,
    apply_delta,
    delta,
    sign_delta,
)
from trust.trustlist.document import TrustList, sign_trust_list
from trust.trustlist.errors import DeltaError, TrustListExpired

SIGNERS = (LIST_KEY.public, LIST_KEY_2.public)
NEW_KEY = es_key("amr-new")
V1 = trust_list(1)
# v2: the compromised key is removed, 北京's acceptance widens, 杭州 adds a key.
V2 = trust_list(
    2,
    iat=NOW - 60,
    entries=[
        *(e for e in entries() if e.key != AMR_LOST.public and e.issuer != "ag-bj-amr"),
        replace(bj_entry(), accepted=frozenset({"business-licence", "resident-eid"})),
        entry(NEW_KEY, not_before=NOW - DAY),
    ],
)
D12 = delta(V1, V2)
TOKEN_12 = sign_delta(D12, LIST_KEY)


def test_delta_carries_only_the_changes() -> None:
    assert sorted(e.issuer for e in D12.upserts) == ["ag-amr", "ag-bj-amr"]
    assert D12.tombstones == (("ag-amr", AMR_LOST.kid),)
    assert (D12.from_version, D12.to_version) == (1, 2)
    assert (D12.from_hash, D12.to_hash) == (V1.content_hash(), V2.content_hash())


def test_delta_round_trip_reproduces_the_full_list() -> None:
    got = apply_delta(V1, TOKEN_12, keys=SIGNERS, now=NOW)
    assert got == V2
    assert got.canonical_bytes() == V2.canonical_bytes()
    assert got.etag() == V2.etag()


def test_delta_with_no_entry_changes() -> None:
    v2 = trust_list(2, iat=NOW - 60)
    d = delta(V1, v2)
    assert (d.upserts, d.tombstones) == ((), ())
    assert apply_delta(V1, sign_delta(d, LIST_KEY), keys=SIGNERS, now=NOW) == v2


def test_delta_json_round_trip() -> None:
    assert TrustListDelta.from_json(json.loads(json.dumps(D12.to_json()))) == D12


def _tampered(token: str) -> str:
    h, p, s = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload["tombstones"] = []
    forged = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
    return f"{h}.{forged}.{s}"


def _partial() -> str:
    """Correctly signed, but one upsert left out: it cannot reach ``to_hash``."""
    return sign_delta(replace(D12, upserts=D12.upserts[:-1]), LIST_KEY)


@dataclass(frozen=True)
class Refused:
    name: str
    token: Callable[[], str]
    error: type[Exception]
    message: str = ""
    base: TrustList = V1
    now: int = NOW


REFUSED = [
    Refused(
        "base is another version",
        lambda: TOKEN_12,
        DeltaError,
        "expected a delta from version 2",
        base=V2,
    ),
    Refused(
        "base has the version but not the content",
        lambda: TOKEN_12,
        DeltaError,
        "the list held), found one from version 1",
        base=trust_list(1, entries=entries()[:-1]),
    ),
    Refused("payload tampered", lambda: _tampered(TOKEN_12), BadSignature),
    Refused("signed by a stranger", lambda: sign_delta(D12, STRANGER), UnknownKey),
    Refused("partial delta", _partial, DeltaError, f"with hash {V2.content_hash()}, found hash"),
    Refused(
        "tombstone for an entry not held",
        lambda: sign_delta(replace(D12, tombstones=(("ag-amr", STRANGER.kid),)), LIST_KEY),
        DeltaError,
        "which the list held does not have",
    ),
    Refused(
        "result breaks a list invariant",
        lambda: sign_delta(
            replace(D12, upserts=(*D12.upserts, entry(AMR_KEY, name="别的局")), tombstones=()),
            LIST_KEY,
        ),
        DeltaError,
        "yields an invalid trust list",
    ),
    Refused("result already expired", lambda: TOKEN_12, TrustListExpired, now=V2.exp),
    Refused("a full list is not a delta", lambda: sign_trust_list(V2, LIST_KEY), UnsupportedToken),
    Refused(
        "another compiler's delta",
        lambda: sign_delta(replace(D12, issuer="https://ecert.other.gov.cn"), LIST_KEY),
        DeltaError,
        "expected a delta of 'https://ecert.suzhou.gov.cn'",
    ),
    Refused(
        "signed payload that is not a delta",
        lambda: sign_compact({"from_version": 1}, LIST_KEY, typ=DELTA_TYP),
        DeltaError,
        "lacks required members",
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_apply_delta_refuses(case: Refused) -> None:
    with pytest.raises(case.error) as info:
        apply_delta(case.base, case.token(), keys=SIGNERS, now=case.now)
    assert case.message in str(info.value)


def test_delta_builder_refuses_unrelated_or_backward_lists() -> None:
    with pytest.raises(DeltaError, match="one compiler and region"):
        delta(V1, trust_list(2, region="cn-jjj"))
    with pytest.raises(DeltaError, match="to a later version, found 2 → 1"):
        delta(V2, V1)


def test_delta_refuses_an_entry_both_upserted_and_removed() -> None:
    with pytest.raises(DeltaError, match="at most once"):
        replace(D12, tombstones=(D12.upserts[0].entry_key,))


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(D12.to_json())),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=8,
    ),
)
def test_delta_parser_raises_only_our_errors(member: str, value: object) -> None:
    raw = copy.deepcopy(D12.to_json())
    raw[member] = value
    with contextlib.suppress(DataError):
        TrustListDelta.from_json(raw)
