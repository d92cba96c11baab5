"""Trust lists: invariants, canonical form, signing, the TUF rules, and the verifier's view."""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trust.trustlist.document
from tests.trust.test_trustlist_vectors import (
    AMR_KEY,
    AMR_LOST,
    AMR_OLD,
    AMR_STATUS,
    BJ_KEY,
    BJ_STATUS,
    DAY,
    GATEWAY,
    LIST_KEY,
    LIST_KEY_2,
    NOW,
    POLICY,
    STRANGER,
    TYPES,
    VECTORS,
    bj_entry,
    credential,
    entry,
    trust_list,
)
from trust.errors import DataError
from trust.jws import BadSignature, MalformedToken, UnknownKey, UnsupportedToken, sign_compact
from trust.snapshot import ChainLink
from trust.statuslist import StatusList, StatusListSnapshot
from trust.trustlist.document import (
    TRUST_LIST_TYP,
    TrustList,
    sign_trust_list,
    verify_trust_list,
)
from trust.trustlist.entry import TrustListEntry
from trust.trustlist.errors import RollbackError, TrustListError, TrustListExpired
from verify.reasons import Reason
from verify.verifier import StatusSource, verify_scanned

SIGNERS = (LIST_KEY.public, LIST_KEY_2.public)
V1 = trust_list(1)
V2 = trust_list(2, iat=NOW - 60)
TOKEN_V1 = sign_trust_list(V1, LIST_KEY)


# --- invariants ---------------------------------------------------------------------------------


def _invalid_entry_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = json.loads(
        (VECTORS / "invalid_entries.json").read_text(encoding="utf-8")
    )["cases"]
    return cases


@pytest.mark.parametrize("case", _invalid_entry_cases(), ids=lambda c: c["name"])
def test_entry_parser_rejects(case: dict[str, Any]) -> None:
    raw: Any = entry(AMR_KEY).to_json()
    raw.update(case.get("set", {}))
    raw["jwk"].update(case.get("set_jwk", {}))
    for name in case.get("remove", []):
        del raw[name]
    raw = case.get("entry", raw)
    with pytest.raises(TrustListError, match=None) as info:
        TrustListEntry.from_json(raw)
    assert case["error"] in str(info.value)


def test_entry_round_trips_through_json() -> None:
    for e in V1.entries:
        assert TrustListEntry.from_json(json.loads(json.dumps(e.to_json()))) == e


@dataclass(frozen=True)
class Broken:
    name: str
    build: Callable[[], object]
    error: str


def _two_issuers_one_kid() -> object:
    other = replace(entry(AMR_KEY), issuer="ag-x", chain=(ChainLink("x", "agency", "ag-x"),))
    return trust_list(entries=[entry(AMR_KEY), other])


BROKEN_LISTS = [
    Broken("version 0", lambda: trust_list(0), "version to be an integer from 1"),
    Broken("exp before iat", lambda: trust_list(exp=NOW - 7200), "iat < exp"),
    Broken("next_update after exp", lambda: trust_list(next_update=NOW + 2 * DAY), "next_update"),
    Broken(
        "exp later than a chain's expiry",
        lambda: trust_list(exp=NOW + 31 * DAY, next_update=NOW),
        "no later than the earliest chain expiry",
    ),
    Broken("empty issuer", lambda: trust_list(issuer=""), "issuer to be a non-empty string"),
    Broken("one key, two issuers", _two_issuers_one_kid, "to belong to one issuer"),
    Broken(
        "one issuer, two names",
        lambda: trust_list(entries=[entry(AMR_KEY), entry(AMR_OLD, name="别的局")]),
        "carry the same name",
    ),
    Broken(
        "one status list, two issuers",
        lambda: trust_list(
            entries=[entry(AMR_KEY), replace(bj_entry(), status_lists=(AMR_STATUS,))]
        ),
        "to belong to one issuer",
    ),
    Broken(
        "entries out of order",
        lambda: TrustList(1, NOW, NOW + 60, NOW, GATEWAY, "r", (bj_entry(), entry(AMR_KEY))),
        "sorted by (issuer, kid)",
    ),
    Broken(
        "entry twice",
        lambda: TrustList(1, NOW, NOW + 60, NOW, GATEWAY, "r", (entry(AMR_KEY), entry(AMR_KEY))),
        "without duplicates",
    ),
    Broken(
        "entry twice on the wire",
        lambda: TrustList.from_json({**V1.to_json(), "entries": [entry(AMR_KEY).to_json()] * 2}),
        "unique by (issuer, kid)",
    ),
    Broken(
        "unknown list member",
        lambda: TrustList.from_json({**V1.to_json(), "signature": "x"}),
        "unexpected members ['signature']",
    ),
    Broken(
        "version a string",
        lambda: TrustList.from_json({**V1.to_json(), "version": "2"}),
        "version to be an integer",
    ),
]


@pytest.mark.parametrize("case", BROKEN_LISTS, ids=[c.name for c in BROKEN_LISTS])
def test_list_invariants_are_checked_when_built(case: Broken) -> None:
    with pytest.raises(TrustListError) as info:
        case.build()
    assert case.error in str(info.value)


def test_entry_count_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trust.trustlist.document, "MAX_TRUST_LIST_ENTRIES", 3)
    with pytest.raises(TrustListError, match="4 entries, at most 3 allowed"):
        trust_list()
    with pytest.raises(TrustListError, match="at most 3 items"):
        TrustList.from_json(V1.to_json())


# --- canonical form and ETag --------------------------------------------------------------------


def test_build_orders_entries_so_the_bytes_do_not_depend_on_input_order() -> None:
    shuffled = trust_list(entries=list(reversed(V1.entries)))
    assert shuffled.canonical_bytes() == V1.canonical_bytes()
    assert [e.entry_key for e in V1.entries] == sorted(e.entry_key for e in V1.entries)


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    raw = V1.canonical_bytes()
    again = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert raw == again.encode("utf-8")
    assert "杭州市".encode() in raw
    assert b"\\u" not in raw


def test_etag_is_strong_and_changes_with_content() -> None:
    assert V1.etag().startswith('"sha256-')
    assert V1.etag().endswith('"')
    assert V1.etag() == trust_list(1).etag()
    assert V1.etag() != V2.etag()
    assert V1.etag() != trust_list(1, entries=V1.entries[:-1]).etag()


def test_json_round_trip_keeps_content() -> None:
    again = TrustList.from_json(json.loads(V1.canonical_bytes()))
    assert again == V1
    assert again.canonical_bytes() == V1.canonical_bytes()


# --- signing and the TUF rules ------------------------------------------------------------------


def _tampered(token: str) -> str:
    h, p, s = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    payload["exp"] += DAY
    forged = base64.urlsafe_b64encode(orjson.dumps(payload)).rstrip(b"=").decode()
    return f"{h}.{forged}.{s}"


@dataclass(frozen=True)
class Rule:
    name: str
    token: Callable[[], str]
    error: type[Exception] | None
    previous: TrustList | None = None
    now: int = NOW


RULES = [
    Rule("first list, nothing held", lambda: TOKEN_V1, None),
    Rule("signed by the second trust list key", lambda: sign_trust_list(V1, LIST_KEY_2), None),
    Rule("newer than the list held", lambda: sign_trust_list(V2, LIST_KEY), None, V1),
    Rule("same version, same content", lambda: TOKEN_V1, None, V1),
    Rule("rollback: older than the list held", lambda: TOKEN_V1, RollbackError, V2),
    Rule(
        "same version, other content",
        lambda: sign_trust_list(trust_list(1, entries=V1.entries[:-1]), LIST_KEY),
        RollbackError,
        V1,
    ),
    Rule("freeze: at exp", lambda: TOKEN_V1, TrustListExpired, now=V1.exp),
    Rule("freeze: long past exp", lambda: TOKEN_V1, TrustListExpired, now=V1.exp + 365 * DAY),
    Rule("rolled back and expired: rollback first", lambda: TOKEN_V1, RollbackError, V2, V1.exp),
    Rule("signed by a stranger", lambda: sign_trust_list(V1, STRANGER), UnknownKey),
    Rule(
        "stranger signing under a trusted kid",
        lambda: sign_compact(V1.to_json(), STRANGER, typ=TRUST_LIST_TYP, kid=LIST_KEY_2.kid),
        BadSignature,
    ),
    Rule(
        "agency key, not a trust list key",
        lambda: sign_trust_list(V1, AMR_KEY),
        UnknownKey,
    ),
    Rule("payload tampered", lambda: _tampered(TOKEN_V1), BadSignature),
    Rule(
        "other token type",
        lambda: sign_compact(V1.to_json(), LIST_KEY, typ="statuslist+jwt"),
        UnsupportedToken,
    ),
    Rule("not a JWS", lambda: "trust me", MalformedToken),
    Rule(
        "another compiler's list",
        lambda: sign_trust_list(trust_list(3, issuer="https://ecert.other.gov.cn"), LIST_KEY),
        TrustListError,
        V1,
    ),
    Rule(
        "signed payload that is not a trust list",
        lambda: sign_compact({"version": 9}, LIST_KEY, typ=TRUST_LIST_TYP),
        TrustListError,
    ),
]


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_verify_trust_list_applies_tuf_rules(rule: Rule) -> None:
    token = rule.token()
    if rule.error is None:
        tl = verify_trust_list(token, keys=SIGNERS, now=rule.now, previous=rule.previous)
        assert (
            tl.canonical_bytes()
            == TrustList.from_json(json.loads(tl.canonical_bytes())).canonical_bytes()
        )
    else:
        with pytest.raises(rule.error):
            verify_trust_list(token, keys=SIGNERS, now=rule.now, previous=rule.previous)


def test_messages_say_expected_and_found() -> None:
    with pytest.raises(RollbackError, match="expected trust list version 2 or later, found 1"):
        verify_trust_list(TOKEN_V1, keys=SIGNERS, now=NOW, previous=V2)
    with pytest.raises(TrustListExpired, match=f"expired at {V1.exp}, now is {V1.exp}"):
        verify_trust_list(TOKEN_V1, keys=SIGNERS, now=V1.exp, previous=None)


def test_token_length_is_bounded() -> None:
    with pytest.raises(MalformedToken, match="at most 100 allowed"):
        verify_trust_list(TOKEN_V1, keys=SIGNERS, now=NOW, previous=None, max_length=100)


def test_sign_refuses_a_token_verifiers_would_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trust.trustlist.document, "MAX_TRUST_LIST_TOKEN_LENGTH", 100)
    with pytest.raises(TrustListError, match="verifiers accept at most 100"):
        sign_trust_list(V1, LIST_KEY)


# --- the verifier's view ------------------------------------------------------------------------


def _statuses() -> dict[str, StatusSource]:
    lst = StatusList(bits=2, size=1024)
    lst.set(7, 1)
    return {
        uri: StatusSource(
            issuer_id=owner,
            snapshot=StatusListSnapshot(
                uri=uri, iat=NOW - 60, exp=NOW + DAY, ttl=300, status_list=lst
            ),
        )
        for uri, owner in ((AMR_STATUS, "ag-amr"), (BJ_STATUS, "ag-bj-amr"))
    }


SNAPSHOT = V1.to_snapshot(types=TYPES, now=NOW)


@dataclass(frozen=True)
class Scan:
    name: str
    token: Callable[[], str]
    reason: Reason
    now: int = NOW


SCANS = [
    Scan("active key, authorised type", lambda: credential(AMR_KEY), Reason.VALID),
    Scan(
        "other region's issuer, accepted type",
        lambda: credential(BJ_KEY, uri=BJ_STATUS),
        Reason.VALID,
    ),
    Scan(
        "other region's issuer, type outside the policy",
        lambda: credential(BJ_KEY, t="EID", uri=BJ_STATUS),
        Reason.NOT_ACCEPTED_BY_POLICY,
    ),
    Scan(
        "type the issuer is not authorised for",
        lambda: credential(AMR_KEY, t="EID"),
        Reason.ISSUER_NOT_AUTHORISED,
    ),
    Scan(
        "rotated key, issued before", lambda: credential(AMR_OLD, iat=NOW - 200 * DAY), Reason.VALID
    ),
    Scan(
        "rotated key, issued after",
        lambda: credential(AMR_OLD, iat=NOW - 50 * DAY),
        Reason.KEY_NOT_VALID_AT_ISSUANCE,
    ),
    Scan(
        "compromised key fails closed offline, whatever its iat",
        lambda: credential(AMR_LOST, iat=NOW - 300 * DAY),
        Reason.KEY_NOT_VALID_AT_ISSUANCE,
    ),
    Scan("revoked", lambda: credential(AMR_KEY, idx=7), Reason.REVOKED),
    Scan("key not in the list", lambda: credential(STRANGER), Reason.UNKNOWN_ISSUER),
    Scan(
        "the list expired since it was loaded",
        lambda: credential(AMR_KEY),
        Reason.TRUST_LIST_STALE,
        V1.exp,
    ),
]


@pytest.mark.parametrize("scan", SCANS, ids=[s.name for s in SCANS])
def test_snapshot_feeds_the_verifier(scan: Scan) -> None:
    result = verify_scanned(scan.token(), trust=SNAPSHOT, statuses=_statuses(), now=scan.now)
    assert result.reason is scan.reason, result.detail


def test_policy_refusal_names_the_policy() -> None:
    token = credential(BJ_KEY, t="EID", uri=BJ_STATUS)
    result = verify_scanned(token, trust=SNAPSHOT, statuses=_statuses(), now=NOW)
    assert POLICY in result.detail


def test_snapshot_carries_the_lists_freshness_and_chain() -> None:
    assert (SNAPSHOT.as_of, SNAPSHOT.expires_at) == (V1.iat, V1.exp)
    result = verify_scanned(credential(AMR_KEY), trust=SNAPSHOT, statuses=_statuses(), now=NOW)
    assert result.trust_as_of == V1.iat
    assert result.issuer is not None
    assert [c.role for c in result.issuer.chain] == ["agency", "city", "region"]
    lost = next(r for r in SNAPSHOT.keys if r.key == AMR_LOST.public)
    assert lost.compromised_at == NOW - 5 * DAY
    assert lost.confirmed_hashes == frozenset()


def test_no_snapshot_from_an_expired_list() -> None:
    with pytest.raises(TrustListExpired):
        V1.to_snapshot(types=TYPES, now=V1.exp)


# --- parsers raise only our errors --------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
ENTRY_JSON = entry(AMR_KEY).to_json()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(ENTRY_JSON)), JSON)
def test_entry_parser_raises_only_our_errors(member: str, value: object) -> None:
    raw = copy.deepcopy(ENTRY_JSON)
    raw[member] = value
    with contextlib.suppress(DataError):
        TrustListEntry.from_json(raw)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(V1.to_json())), JSON)
def test_list_parser_raises_only_our_errors(member: str, value: object) -> None:
    raw = V1.to_json()
    raw[member] = value
    with contextlib.suppress(DataError):
        TrustList.from_json(raw)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200) | st.just(TOKEN_V1[:-5] + "AAAAA"))
def test_verify_raises_only_our_errors(token: str) -> None:
    with pytest.raises(DataError):
        verify_trust_list(token, keys=SIGNERS, now=NOW, previous=None)
