"""Reference codes as typed and scanned, and the signed messages between city gateways about
them (trust/reference_code.py, trust/reference_request.py): one test per rule, fixed ``now``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trust.keys import SigningKey
from trust.reference_code import MAX_CODE_INPUT, TypedCode, grouped, parse, routable
from trust.reference_request import (
    ANSWER_TYP,
    MAX_REPORT_AGE,
    REQUEST_LIFETIME,
    REQUEST_TYP,
    PeerMessageRefused,
    ReferenceAnswer,
    UseReport,
    make_request,
    read_answer,
    read_request,
    read_use_report,
    unverified_sender,
)
from trust.statuslist import StatusReference

NOW = 1_800_000_000
HZ, SZ = "https://hz.example.cn", "https://sz.example.cn"
COUNTER = f"{SZ}/verifiers/vf-0123456789"
CODE = "ABCDEFGHJKLMNP23"


# --- the code -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ABCDEFGHJKLMNP23", TypedCode(CODE, None)),
        (" abcd-efgh-jklm-np23 ", TypedCode(CODE, None)),
        ("330100-ABCD-EFGH-JKLM-NP23", TypedCode(CODE, "330100")),
        ("330100 abcd efgh jklm np23", TypedCode(CODE, "330100")),
        ("330100ABCDEFGHJKLMNP23", TypedCode(CODE, "330100")),
    ],
    ids=["bare", "grouped-lower", "routable", "routable-spaces", "routable-run-together"],
)
def test_either_form_in_any_case_parses(typed: str, expected: TypedCode) -> None:
    assert parse(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "ABCDEFGHJKLMNP2",  # 15 characters
        "ABCDEFGHJKLMNP21",  # '1' is not base32
        "033010-ABCD-EFGH-JKLM-NP23",  # a region code does not start with 0
        "33010X-ABCD-EFGH-JKLM-NP23",
        "３３０１００-ABCD-EFGH-JKLM-NP23",  # full-width digits
        "330100-" + "A" * (MAX_CODE_INPUT - 6),
    ],
    ids=["short", "not-base32", "leading-zero", "letter-in-region", "full-width", "too-long"],
)
def test_what_cannot_be_a_code_is_none(typed: str) -> None:
    assert parse(typed) is None


def test_the_routable_form_is_qr_alphanumeric_and_reads_back() -> None:
    text = routable("330100", CODE)
    assert text == f"330100-{grouped(CODE)}" == "330100-ABCD-EFGH-JKLM-NP23"
    assert set(text) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert parse(text) == TypedCode(CODE, "330100")
    with pytest.raises(ValueError, match="six-digit"):
        routable("3301", CODE)


@given(st.text(max_size=80))
def test_parse_never_raises(typed: str) -> None:
    parsed = parse(typed)
    assert parsed is None or len(parsed.code) == 16


# --- requests -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sz_key() -> SigningKey:
    return SigningKey.generate()


def _request(key: SigningKey, now: int = NOW, **changes: Any) -> str:
    fields: dict[str, Any] = {
        "iss": SZ, "aud": HZ, "code": CODE, "verifier_entity_id": COUNTER, "role": "hotel-desk",
        "reason": "旅馆住宿登记", "accepted_types": ["resident-eid"], "now": now,
    }  # fmt: skip
    fields.update(changes)
    return make_request(key, **fields)[1]


def test_a_request_reads_back_with_the_askers_keys(sz_key: SigningKey) -> None:
    token = _request(sz_key)
    assert unverified_sender(token) == (SZ, COUNTER)
    request = read_request(token, [sz_key.public], audience=HZ, now=NOW + 10)
    assert (request.iss, request.code, request.role) == (SZ, CODE, "hotel-desk")
    assert request.accepted_types == frozenset({"resident-eid"})
    assert request.exp - request.iat == REQUEST_LIFETIME
    assert len(request.jti) >= 16


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("another key", "签名无效"),
        ("another audience", "expected aud"),
        ("expired", "过期"),
        ("issued in the future", "expected iat"),
        ("another typ", "签名无效"),
    ],
)
def test_a_request_that_does_not_hold_is_refused(
    sz_key: SigningKey, case: str, message: str
) -> None:
    token, keys, audience, now = _request(sz_key), [sz_key.public], HZ, NOW
    if case == "another key":
        keys = [SigningKey.generate().public]
    elif case == "another audience":
        audience = "https://bj.example.cn"
    elif case == "expired":
        now = NOW + REQUEST_LIFETIME
    elif case == "issued in the future":
        now = NOW - 120
    elif case == "another typ":
        token = ReferenceAnswer(SZ, HZ, NOW, "x", {"reason": "VALID", "fields": {}}).sign(sz_key)
    with pytest.raises(PeerMessageRefused) as refused:
        read_request(token, keys, audience=audience, now=now)
    assert message in f"{refused.value.message_zh} {refused.value.message_en}"


@pytest.mark.parametrize(
    "changes",
    [{"reason": "x" * 201}, {"accepted_types": [f"t{i}" for i in range(65)]}, {"role": ""}],
    ids=["long-reason", "too-many-types", "empty-role"],
)
def test_a_request_out_of_bounds_is_refused(sz_key: SigningKey, changes: dict[str, Any]) -> None:
    with pytest.raises(PeerMessageRefused, match="expected"):
        read_request(_request(sz_key, **changes), [sz_key.public], audience=HZ, now=NOW)


def test_a_stranger_string_is_refused_without_parsing_much() -> None:
    for token in ("", "a.b.c", "x" * 40_000, 17):
        with pytest.raises(PeerMessageRefused):
            unverified_sender(token)


# --- answers ------------------------------------------------------------------------------------


def test_an_answer_must_name_the_request_and_come_from_the_city_asked() -> None:
    hz_key = SigningKey.generate()
    result = {"reason": "VALID", "type": "resident-eid", "fields": {"name": "张三"}}
    token = ReferenceAnswer(HZ, SZ, NOW, "jti-1", result).sign(hz_key)
    keys = [hz_key.public]
    read = read_answer(token, keys, issuer=HZ, audience=SZ, request_jti="jti-1", now=NOW)
    assert read.result["fields"] == {"name": "张三"}
    assert read.iss == HZ
    for kwargs in (
        {"issuer": "https://bj.example.cn", "audience": SZ, "request_jti": "jti-1"},
        {"issuer": HZ, "audience": SZ, "request_jti": "jti-2"},
        {"issuer": HZ, "audience": HZ, "request_jti": "jti-1"},
    ):
        with pytest.raises(PeerMessageRefused):
            read_answer(token, keys, now=NOW, **kwargs)
    with pytest.raises(PeerMessageRefused, match="signed"):
        read_answer(token, [SigningKey.generate().public], issuer=HZ, audience=SZ,
                    request_jti="jti-1", now=NOW)  # fmt: skip
    stale = ReferenceAnswer(HZ, SZ, NOW - 600, "jti-1", result).sign(hz_key)
    with pytest.raises(PeerMessageRefused, match="iat"):
        read_answer(stale, keys, issuer=HZ, audience=SZ, request_jti="jti-1", now=NOW)
    assert ANSWER_TYP != REQUEST_TYP


# --- use reports --------------------------------------------------------------------------------


def _report(key: SigningKey, iat: int = NOW) -> str:
    return UseReport(
        iss=SZ, aud=HZ, iat=iat, jti="r" * 20,
        credential=StatusReference(uri=f"{HZ}/status/1", idx=42), verifier_entity_id=COUNTER,
        verifier_name="平江宾馆前台", city_name="苏州市", city_code="320500", at=iat,
        reason="旅馆住宿登记", fields=("name", "sex"), reason_code="VALID", kb_jwt="a.b.c",
        holder_jwk=None,
    ).sign(key)  # fmt: skip


def test_a_use_report_reads_back_and_expires_after_a_week(sz_key: SigningKey) -> None:
    report = read_use_report(_report(sz_key), [sz_key.public], audience=HZ, now=NOW + 3600)
    assert report.credential == StatusReference(uri=f"{HZ}/status/1", idx=42)
    assert (report.fields, report.city_code, report.holder_jwk) == (("name", "sex"), "320500", None)
    with pytest.raises(PeerMessageRefused, match="old"):
        read_use_report(_report(sz_key), [sz_key.public], audience=HZ, now=NOW + MAX_REPORT_AGE + 1)
