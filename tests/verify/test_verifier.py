"""The pure verifier: one scenario per reason code, from a fixed trust snapshot and ``now``."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trust import statuslist
from trust.claims import CREDENTIAL_TYP
from trust.encoding import jws_to_numeric
from trust.jws import sign_compact
from trust.keys import EDDSA, SigningKey, legacy_short_kid
from trust.snapshot import ChainLink, FieldLabel, IssuerRecord, KeyRecord, TrustSnapshot, TypeInfo
from verify.reasons import Reason
from verify.verifier import StatusSource, verify_scanned

NOW = 1_790_000_000
DAY = 86_400
URI = "https://ecert.hangzhou.gov.cn/statuslists/1"
AMR_USCC = "11330100MB19581230"  # shape only: the verifier does not re-check agency codes

ACTIVE = SigningKey.generate()
RETIRED = SigningKey.generate()
COMPROMISED = SigningKey.generate(EDDSA)
STRANGER = SigningKey.generate()

BL = TypeInfo(
    code="business-licence",
    qr_code="BL",
    type_code="11100000000013338W032",
    name_zh="营业执照",
    name_en="Business licence",
    labels=(FieldLabel("name", "名称", "Name"), FieldLabel("uscc", "统一社会信用代码", "USCC")),
)
EID = replace(BL, code="resident-eid", qr_code="EID", name_zh="居民身份证", name_en="Resident ID")
AMR = IssuerRecord(
    id="ag-amr",
    name="杭州市市场监督管理局",
    uscc=AMR_USCC,
    region_code="330100",
    types=frozenset({"business-licence"}),
    chain=(
        ChainLink("杭州市市场监督管理局", "agency", "ag-amr"),
        ChainLink("杭州市", "city", "330100"),
    ),
)


def _status_list(values: dict[int, int]) -> statuslist.StatusList:
    lst = statuslist.StatusList(bits=2, size=1024)
    for idx, value in values.items():
        lst.set(idx, value)
    return lst


STATUSES = {
    URI: StatusSource(
        issuer_id="ag-amr",
        snapshot=statuslist.StatusListSnapshot(
            uri=URI,
            iat=NOW - 60,
            exp=NOW + DAY,
            ttl=300,
            status_list=_status_list({7: statuslist.INVALID, 8: statuslist.SUSPENDED}),
        ),
    )
}


def _claims(**over: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "t": "BL",
        "jti": "20260000001.001",
        "iat": NOW - DAY,
        "exp": NOW + 365 * DAY,
        "status": {"status_list": {"idx": 3, "uri": URI}},
        "c": {"name": "杭州西湖龙井茶业有限公司", "uscc": "91330106MA2B3C4D5X"},
    }
    for k, v in over.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return claims


def _token(key: SigningKey = ACTIVE, typ: str = CREDENTIAL_TYP, **over: Any) -> str:
    return sign_compact(_claims(**over), key, typ=typ, kid=key.public.short_kid)


CONFIRMED = _token(COMPROMISED, iat=NOW - 10 * DAY)


def _trust(**over: Any) -> TrustSnapshot:
    return TrustSnapshot.build(
        issuers=[AMR],
        keys=[
            KeyRecord(key=ACTIVE.public, issuer_id="ag-amr", not_before=NOW - 100 * DAY),
            KeyRecord(
                key=RETIRED.public,
                issuer_id="ag-amr",
                not_before=NOW - 400 * DAY,
                retired_at=NOW - 100 * DAY,
            ),
            KeyRecord(
                key=COMPROMISED.public,
                issuer_id="ag-amr",
                not_before=NOW - 400 * DAY,
                compromised_at=NOW - 5 * DAY,
                confirmed_hashes=frozenset({hashlib.sha256(CONFIRMED.encode()).digest()}),
            ),
        ],
        types=[BL, EID],
        as_of=NOW - 30,
        **over,
    )


TRUST = _trust()


@dataclass(frozen=True)
class Case:
    name: str
    scanned: Callable[[], str]
    reason: Reason
    trust: TrustSnapshot = TRUST


CASES = [
    Case("valid bare token", lambda: _token(), Reason.VALID),
    Case(
        "valid url with numeric fragment",
        lambda: "https://ecert.hangzhou.gov.cn/v#" + jws_to_numeric(_token()),
        Reason.VALID,
    ),
    Case(
        "valid scanner gun digits with CRLF",
        lambda: jws_to_numeric(_token()) + "\r\n",
        Reason.VALID,
    ),
    Case("valid 长期 without exp", lambda: _token(exp=None), Reason.VALID),
    Case(
        "valid under the full kid",
        lambda: sign_compact(_claims(), ACTIVE, typ=CREDENTIAL_TYP, kid=ACTIVE.kid),
        Reason.VALID,
    ),
    Case(
        "valid under the 8-byte kid tokens printed before carry",
        lambda: sign_compact(
            _claims(), ACTIVE, typ=CREDENTIAL_TYP, kid=legacy_short_kid(ACTIVE.kid)
        ),
        Reason.VALID,
    ),
    Case("expired", lambda: _token(exp=NOW - 1), Reason.EXPIRED),
    Case("not yet valid", lambda: _token(nbf=NOW + DAY), Reason.NOT_YET_VALID),
    Case(
        "bad signature under trusted kid",
        lambda: sign_compact(_claims(), STRANGER, typ=CREDENTIAL_TYP, kid=ACTIVE.public.short_kid),
        Reason.BAD_SIGNATURE,
    ),
    Case("unknown issuer", lambda: _token(STRANGER), Reason.UNKNOWN_ISSUER),
    Case(
        "retired key, issued before retirement",
        lambda: _token(RETIRED, iat=NOW - 200 * DAY),
        Reason.VALID,
    ),
    Case(
        "retired key, claims issuance after retirement",
        lambda: _token(RETIRED, iat=NOW - DAY),
        Reason.KEY_NOT_VALID_AT_ISSUANCE,
    ),
    Case(
        "token older than its key",
        lambda: _token(iat=NOW - 101 * DAY),
        Reason.KEY_NOT_VALID_AT_ISSUANCE,
    ),
    Case(
        "compromised key, forged early iat",
        lambda: _token(COMPROMISED, iat=NOW - 30 * DAY),
        Reason.KEY_NOT_VALID_AT_ISSUANCE,
    ),
    Case("compromised key, confirmed by issuance record", lambda: CONFIRMED, Reason.VALID),
    Case(
        "type the issuer is not authorised for",
        lambda: _token(t="EID"),
        Reason.ISSUER_NOT_AUTHORISED,
    ),
    Case("revoked", lambda: _token(status={"status_list": {"idx": 7, "uri": URI}}), Reason.REVOKED),
    Case(
        "suspended",
        lambda: _token(status={"status_list": {"idx": 8, "uri": URI}}),
        Reason.SUSPENDED,
    ),
    Case(
        "status list not held",
        lambda: _token(status={"status_list": {"idx": 1, "uri": URI + "9"}}),
        Reason.STATUS_UNAVAILABLE,
    ),
    Case("no status reference", lambda: _token(status=None), Reason.MALFORMED),
    Case(
        "trust snapshot expired",
        lambda: _token(),
        Reason.TRUST_LIST_STALE,
        _trust(expires_at=NOW - 1),
    ),
    Case("garbage", lambda: "hello", Reason.MALFORMED),
    Case("unknown credential type", lambda: _token(t="ZZ"), Reason.UNSUPPORTED),
    Case("foreign typ", lambda: _token(typ="JWT"), Reason.UNSUPPORTED),
    Case("iat not an integer", lambda: _token(iat="yesterday"), Reason.MALFORMED),
    Case("fields claim not an object", lambda: _token(c=["x"]), Reason.MALFORMED),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reason(case: Case) -> None:
    result = verify_scanned(case.scanned(), trust=case.trust, statuses=STATUSES, now=NOW)
    assert result.reason is case.reason, result.detail
    assert result.valid is (case.reason is Reason.VALID)
    assert result.checked_at == NOW


def test_valid_result_shows_fields_issuer_chain_identifier_and_freshness() -> None:
    result = verify_scanned(_token(), trust=TRUST, statuses=STATUSES, now=NOW)
    assert result.credential is not None
    assert result.issuer is not None
    assert [(f.name, f.label_zh, f.value) for f in result.credential.fields] == [
        ("name", "名称", "杭州西湖龙井茶业有限公司"),
        ("uscc", "统一社会信用代码", "91330106MA2B3C4D5X"),
    ]
    assert result.credential.identifier is not None
    assert result.credential.identifier.startswith(
        "1.2.156.3005.2.11100000000013338W032.11330100MB19581230.20260000001.001."
    )
    assert [c.role for c in result.issuer.chain] == ["agency", "city"]
    assert result.trust_as_of == NOW - 30
    assert result.status_as_of == NOW - 60
    assert result.message_zh == "证照有效"


def test_bad_signature_shows_nothing_from_the_token() -> None:
    forged = sign_compact(_claims(), STRANGER, typ=CREDENTIAL_TYP, kid=ACTIVE.public.short_kid)
    result = verify_scanned(forged, trust=TRUST, statuses=STATUSES, now=NOW)
    assert result.credential is None


@pytest.mark.parametrize("idx", [7, 8], ids=["revoked", "suspended"])
def test_revoked_and_suspended_answers_say_how_fresh_the_status_was(idx: int) -> None:
    token = _token(status={"status_list": {"idx": idx, "uri": URI}})
    result = verify_scanned(token, trust=TRUST, statuses=STATUSES, now=NOW)
    assert result.status_as_of == NOW - 60


def test_an_issuer_whose_trust_data_expired_is_stale_not_valid() -> None:
    stale = replace(AMR, expires_at=NOW - 1)
    trust = TrustSnapshot.build(issuers=[stale], keys=TRUST.keys, types=[BL, EID], as_of=NOW)
    result = verify_scanned(_token(), trust=trust, statuses=STATUSES, now=NOW)
    assert result.reason is Reason.TRUST_LIST_STALE


def test_type_outside_the_acceptance_policy_names_the_policy() -> None:
    narrow = replace(AMR, accepted=frozenset(), policy="长三角 accepts 京津冀: permits only")
    trust = TrustSnapshot.build(issuers=[narrow], keys=TRUST.keys, types=[BL, EID], as_of=NOW)
    result = verify_scanned(_token(), trust=trust, statuses=STATUSES, now=NOW)
    assert result.reason is Reason.NOT_ACCEPTED_BY_POLICY
    assert "长三角 accepts 京津冀" in result.detail
    assert result.credential is not None  # what was refused is shown


def test_status_list_of_another_issuer_is_not_used() -> None:
    foreign = {URI: replace(STATUSES[URI], issuer_id="ag-other")}
    result = verify_scanned(_token(), trust=TRUST, statuses=foreign, now=NOW)
    assert result.reason is Reason.STATUS_UNAVAILABLE


def test_expired_status_list_is_unavailable_not_valid() -> None:
    result = verify_scanned(_token(), trust=TRUST, statuses=STATUSES, now=NOW + 2 * DAY)
    assert result.reason is Reason.STATUS_UNAVAILABLE


@settings(max_examples=200)
@given(st.text(max_size=600))
def test_never_raises_on_any_text(text: str) -> None:
    result = verify_scanned(text, trust=TRUST, statuses=STATUSES, now=NOW)
    assert result.reason is not Reason.VALID


def test_a_token_issued_in_the_second_its_key_was_retired_still_verifies() -> None:
    # Retiring means "signs no more from now on": whole-second times put both in one second.
    token = _token(RETIRED, iat=NOW - 100 * DAY)
    assert verify_scanned(token, trust=TRUST, statuses=STATUSES, now=NOW).reason is Reason.VALID
    later = _token(RETIRED, iat=NOW - 100 * DAY + 1)
    reason = verify_scanned(later, trust=TRUST, statuses=STATUSES, now=NOW).reason
    assert reason is Reason.KEY_NOT_VALID_AT_ISSUANCE
