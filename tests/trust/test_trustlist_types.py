"""A trust list's ``types``: the display data of the credential types its issuers may issue,
signed with the list, bounded, optional (older lists lack it), and carried by deltas and bundles.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.trust.test_trustlist_bundle import STATUS_LISTS
from tests.trust.test_trustlist_vectors import (
    AMR_KEY,
    BL,
    EID,
    LIST_KEY,
    NOW,
    ROOT_V1,
    SIGNED_V1,
    SIGNED_V2,
    TYPES,
    credential,
    trust_list,
)
from trust.errors import DataError
from trust.jws import sign_compact
from trust.snapshot import FieldLabel, TypeInfo
from trust.trustlist.bundle import TrustBundle, load_bundle
from trust.trustlist.credential_types import (
    MAX_LIST_TYPES,
    MAX_NAME,
    MAX_TYPE_FIELDS,
    types_from_json,
    types_to_json,
)
from trust.trustlist.delta import DELTA_TYP, TrustListDelta, apply_delta, delta, sign_delta
from trust.trustlist.document import TrustList, sign_trust_list, verify_trust_list
from trust.trustlist.errors import DeltaError, TrustListError
from verify.reasons import Reason
from verify.result_json import verification_json
from verify.verifier import verify_scanned

TYPED = trust_list(1, types=TYPES)
UNTYPED = trust_list(1)
SIGNERS = (LIST_KEY.public,)


def _labels(n: int) -> tuple[FieldLabel, ...]:
    return tuple(FieldLabel(f"f{i}", f"字段{i}", f"Field {i}") for i in range(n))


def test_a_typed_list_round_trips_and_signs() -> None:
    token = sign_trust_list(TYPED, LIST_KEY)
    back = verify_trust_list(token, keys=SIGNERS, now=NOW, previous=None)
    assert back == TYPED
    assert back.types == (BL, EID)  # sorted by code
    assert back.to_json()["types"][0] == {
        "code": "business-licence",
        "qr_code": "BL",
        "type_code": "11100000000013338W032",
        "name": {"zh": "营业执照", "en": "Business licence"},
        "fields": [{"name": "name", "label": {"zh": "名称", "en": "Name"}}],
    }


def test_an_older_list_without_types_keeps_its_bytes_and_loads() -> None:
    assert "types" not in UNTYPED.to_json()
    assert UNTYPED.types is None
    assert TrustList.from_json(UNTYPED.to_json()) == UNTYPED
    assert UNTYPED.content_hash() != TYPED.content_hash()  # the description is signed content


def test_build_orders_types_so_the_bytes_do_not_depend_on_input_order() -> None:
    assert trust_list(1, types=(EID, BL)).canonical_bytes() == TYPED.canonical_bytes()


def test_types_json_reader_is_the_writers_inverse() -> None:
    assert types_from_json(types_to_json(TYPES)) == TYPES


def test_a_personal_type_says_so_and_the_others_keep_their_bytes() -> None:
    personal = replace(EID, personal=True)
    (written,) = types_to_json([personal])
    assert written["personal"] is True
    assert "personal" not in types_to_json([BL])[0]  # lists signed before it hash the same
    assert types_from_json([written]) == (personal,)


@pytest.mark.parametrize("value", ["yes", 1, None, []])
def test_a_personal_flag_that_is_not_a_boolean_is_refused(value: object) -> None:
    (raw,) = types_to_json([EID])
    with pytest.raises(TrustListError, match=r"types\[0\] personal to be true or false, found"):
        types_from_json([{**raw, "personal": value}])


@dataclass(frozen=True)
class Refused:
    name: str
    types: Callable[[], tuple[TypeInfo, ...]]
    message: str


REFUSED = [
    Refused("more types than allowed",
            lambda: tuple(replace(BL, code=f"t{i:04d}", qr_code=f"Q{i}") for i in range(300)),
            f"at most {MAX_LIST_TYPES} allowed"),
    Refused("a type no entry may issue",
            lambda: (replace(BL, code="driving-licence", qr_code="DL"),),
            "only types its entries may issue"),
    Refused("two types, one QR code", lambda: (BL, replace(EID, qr_code="BL")),
            "one trust list type per QR code"),
    Refused("the same code twice", lambda: (BL, replace(BL, qr_code="BX")),
            "sorted by code without duplicates"),
    Refused("an overlong name", lambda: (replace(BL, name_en="x" * (MAX_NAME + 1)),),
            f"name_en to be a non-empty string of at most {MAX_NAME}"),
    Refused("an empty QR code", lambda: (replace(BL, qr_code=""),),
            "qr_code to be a non-empty string"),
    Refused("more fields than allowed", lambda: (replace(BL, labels=_labels(MAX_TYPE_FIELDS + 1)),),
            f"at most {MAX_TYPE_FIELDS} fields, found {MAX_TYPE_FIELDS + 1}"),
    Refused("an overlong label", lambda: (replace(BL, labels=(FieldLabel("n", "名" * 201, "N"),)),),
            "zh/en labels of at most 200"),
    Refused("a field labelled twice", lambda: (replace(BL, labels=(*BL.labels, *BL.labels)),),
            "to label field 'name' once"),
]  # fmt: skip


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_list_types_are_checked_when_built(case: Refused) -> None:
    with pytest.raises(TrustListError, match=case.message):
        trust_list(1, types=case.types())


Types = list[dict[str, Any]]
BAD_JSON: list[tuple[str, Callable[[Types], object], str]] = [
    ("repeated", lambda t: [t[0], t[0]], "sorted by code without duplicates"),
    ("unknown member", lambda t: [{**t[0], "extra": 1}], "has unexpected members ['extra']"),
    ("no english", lambda t: [{**t[0], "name": {"zh": "营业执照"}}],
     "types[0] name lacks required members ['en']"),
    ("long qr code", lambda t: [{**t[0], "qr_code": "X" * 9}],
     "qr_code to be a non-empty string of at most 8 characters, found 'XXXXXXXXX'"),
    ("65 fields", lambda t: [{**t[0], "fields": t[0]["fields"] * 65}],
     "fields to be a list of at most 64 items"),
    ("257 types", lambda t: t * 257, "a list of at most 256 types"),
    ("not a list", lambda t: {"BL": t[0]}, "a list of at most 256 types"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "change", "message"), BAD_JSON, ids=[c[0] for c in BAD_JSON])
def test_a_signed_list_with_bad_types_is_refused_saying_why(
    name: str, change: Callable[[Types], object], message: str
) -> None:
    raw = TYPED.to_json()
    raw["types"] = change(raw["types"])
    with pytest.raises(TrustListError, match=re.escape(message)):
        TrustList.from_json(raw)


def test_a_delta_carries_the_types_only_when_they_change() -> None:
    same = trust_list(2, iat=NOW - 60, types=TYPES)
    d = delta(TYPED, same)
    assert "types" not in d.to_json()  # kilobytes a one-key change need not carry
    assert apply_delta(TYPED, sign_delta(d, LIST_KEY), keys=SIGNERS, now=NOW) == same
    fewer = trust_list(2, iat=NOW - 60, types=(BL,))
    d = delta(TYPED, fewer)
    assert d.to_json()["types"] == types_to_json((BL,))
    assert TrustListDelta.from_json(d.to_json()) == d
    assert apply_delta(TYPED, sign_delta(d, LIST_KEY), keys=SIGNERS, now=NOW) == fewer


@pytest.mark.parametrize(
    ("base", "new"),
    [
        (UNTYPED, trust_list(2, iat=NOW - 60, types=TYPES)),
        (UNTYPED, trust_list(2, iat=NOW - 60)),
        (TYPED, trust_list(2, iat=NOW - 60)),
    ],
    ids=["an older list gains types", "neither describes types", "a list stops describing"],
)
def test_a_delta_reproduces_the_new_lists_description(base: TrustList, new: TrustList) -> None:
    d = delta(base, new)
    assert TrustListDelta.from_json(d.to_json()) == d
    assert apply_delta(base, sign_delta(d, LIST_KEY), keys=SIGNERS, now=NOW) == new


def test_a_delta_that_drops_the_types_cannot_pass_for_one_that_keeps_them() -> None:
    raw = delta(TYPED, trust_list(2, iat=NOW - 60)).to_json()
    del raw["types"]  # "keep the base's description": the result no longer hashes as signed
    token = sign_compact(raw, LIST_KEY, typ=DELTA_TYP)
    with pytest.raises(DeltaError, match="expected the delta to yield version 2 with hash"):
        apply_delta(TYPED, token, keys=SIGNERS, now=NOW)
    with pytest.raises(DeltaError, match="expected types only in a delta that changes them"):
        replace(delta(TYPED, trust_list(2, iat=NOW - 60, types=TYPES)), types=TYPES)


def test_the_snapshot_shows_the_lists_types_before_the_callers() -> None:
    local_bl = replace(BL, name_en="Licence (local copy)")
    local_dl = replace(BL, code="driving-licence", qr_code="DL")
    snap = TYPED.to_snapshot(types=[local_bl, local_dl], now=NOW)
    assert snap.types["BL"] == BL  # signed by the issuing side's list: it wins
    assert snap.types["DL"] == local_dl  # a QR code the list does not describe
    assert set(UNTYPED.to_snapshot(now=NOW).types) == set()


def _kiosk(tl: TrustList) -> dict[str, Any]:
    data = TrustBundle(SIGNED_V2, (SIGNED_V1,), sign_trust_list(tl, LIST_KEY), STATUS_LISTS)
    loaded = load_bundle(data.to_bytes(), pinned_root=ROOT_V1, now=NOW)
    scanned = credential(AMR_KEY)
    return verification_json(
        verify_scanned(scanned, trust=loaded.snapshot, statuses=loaded.statuses, now=NOW)
    )


def test_a_kiosk_with_no_types_of_its_own_shows_the_lists_names_and_labels() -> None:
    shown = _kiosk(TYPED)
    assert shown["reason"] == Reason.VALID.value
    assert shown["credential"]["type_name"] == {"zh": "营业执照", "en": "Business licence"}
    assert shown["credential"]["fields"] == [
        {"name": "name", "label": {"zh": "名称", "en": "Name"}, "value": "杭州西湖龙井茶业有限公司"}
    ]


def test_a_kiosk_with_no_types_of_its_own_cannot_read_an_older_lists_credentials() -> None:
    # The QR carries the type's QR code ("BL"), the list's entries its code: without a
    # description nothing ties one to the other, so the kiosk says it cannot tell, never VALID.
    shown = _kiosk(UNTYPED)
    assert shown["reason"] == Reason.UNSUPPORTED.value
    assert "'BL'" in shown["detail"]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["code", "qr_code", "type_code", "name", "fields"]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
        ),
        max_leaves=8,
    ),
)
def test_types_parser_raises_only_our_errors(member: str, value: object) -> None:
    raw = copy.deepcopy(TYPED.to_json())
    raw["types"][0][member] = value
    with contextlib.suppress(DataError):
        TrustList.from_json(raw)


def test_a_types_status_age_bound_travels_with_it_to_offline_kiosks() -> None:
    bounded = replace(BL, max_status_age=86_400)
    listed = types_to_json([bounded, EID])
    assert listed[0]["max_status_age"] == 86_400
    assert "max_status_age" not in listed[1]  # unbounded: absent, as in lists signed before
    assert types_from_json(listed) == (bounded, EID)
    for bad in (0, -1, 31 * 86_400 + 1, "86400", 1.5, None):
        with pytest.raises(DataError, match="max_status_age"):
            types_from_json([{**listed[0], "max_status_age": bad}])
