"""The pure presentation verifier (OpenID4VP answers at a counter): one scenario per rule, each
answering its own reason code, from a fixed trust snapshot, status list and ``now``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pytest

from trust import statuslist
from trust.jws import sign_compact
from trust.keys import SigningKey
from trust.sdjwt import holder
from trust.sdjwt.core import KB_TYP
from trust.sdjwt.disclosure import digest
from trust.sdjwt.issue import SdJwt, issue_credential
from trust.snapshot import ChainLink, IssuerRecord, KeyRecord, TrustSnapshot, TypeInfo
from trust.statuslist import StatusListSnapshot, StatusReference, StatusSource
from verify.presentation import verify_presentation
from verify.reasons import Reason

NOW = 1_790_000_000
DAY = 86_400
CITY = "https://hz.example.cn"
PEER = "https://sz.example.cn/agencies/ag-sz"
URI = f"{CITY}/statuslists/1"
AUD = f"openid_federation:{CITY}/verifiers/vf-desk"
NONCE = "n" * 32
ASKED = ("name", "sex")

ISSUER_KEY = SigningKey.generate()
PEER_KEY = SigningKey.generate()
HOLDER = SigningKey.generate()
EID = TypeInfo(
    code="resident-eid",
    qr_code="EID",
    type_code="11100000000013338W011",
    name_zh="居民身份证",
    name_en="Resident ID",
    labels=(),
    personal=True,
)
PSB = IssuerRecord(
    id="ag-psb",
    name="杭州市公安局",
    uscc="11330100002490365L",
    region_code="330100",
    types=frozenset({"resident-eid"}),
    chain=(ChainLink("杭州市公安局", "agency", "ag-psb"), ChainLink("杭州市", "city", "330100")),
)
SZ = replace(PSB, id=PEER, name="苏州市公安局", region_code="320500", chain=())
SUBJECT = {"name": "陈晓明", "sex": "男", "id_number": "330106198506150011"}


def _status(owner: str | None) -> dict[str, StatusSource]:
    if owner is None:
        return {}
    lst = statuslist.StatusList(bits=2, size=1024)
    lst.set(7, statuslist.INVALID)
    lst.set(8, statuslist.SUSPENDED)
    snap = StatusListSnapshot(uri=URI, iat=NOW - 60, exp=NOW + DAY, ttl=300, status_list=lst)
    return {URI: StatusSource(issuer_id=owner, snapshot=snap)}


@dataclass(frozen=True)
class Case:
    reason: Reason
    issuer: str = f"{CITY}/agencies/ag-psb"
    signer: SigningKey = ISSUER_KEY
    vct: str = f"{CITY}/vct/resident-eid"
    idx: int = 3
    disclose: tuple[str, ...] = ASKED
    audience: str = AUD
    nonce: str = NONCE
    kb_at: int = NOW
    present_with: SigningKey = HOLDER
    psb: IssuerRecord = PSB
    peer: IssuerRecord = SZ
    status_owner: str | None = "ag-psb"
    expires: int = NOW + DAY
    trust_expires: int | None = None


def _presentation(case: Case) -> str:
    sd_jwt = issue_credential(
        SUBJECT,
        disclosable=SUBJECT,
        signer=case.signer,
        issuer=case.issuer,
        vct=case.vct,
        holder_key=HOLDER.public,
        status=StatusReference(idx=case.idx, uri=URI),
        now=NOW - DAY,
        expires=case.expires,
    )
    chosen = holder.select(sd_jwt, case.disclose)
    if case.present_with is not HOLDER:  # a thief's KB-JWT: sign it with another key
        presented = SdJwt(sd_jwt.issuer_jwt, sd_jwt.disclosures).serialize(chosen)
        kb = {"iat": NOW, "aud": case.audience, "nonce": case.nonce, "sd_hash": digest(presented)}
        return presented + sign_compact(kb, case.present_with, typ=KB_TYP)
    return holder.present(
        sd_jwt, chosen, holder=HOLDER, audience=case.audience, nonce=case.nonce, now=case.kb_at
    )


def _verify(case: Case, presentation: str | None = None) -> Any:
    trust = TrustSnapshot.build(
        issuers=[case.psb, case.peer],
        keys=[
            KeyRecord(key=ISSUER_KEY.public, issuer_id="ag-psb", not_before=NOW - 30 * DAY),
            KeyRecord(key=PEER_KEY.public, issuer_id=PEER, not_before=NOW - 30 * DAY),
        ],
        types=[EID],
        as_of=NOW,
        expires_at=case.trust_expires,
    )
    return verify_presentation(
        presentation if presentation is not None else _presentation(case),
        audience=AUD,
        nonce=NONCE,
        credential_type="resident-eid",
        requested=ASKED,
        trust=trust,
        statuses=_status(case.status_owner),
        local_entity_id=CITY,
        now=NOW,
    )


CASES = {
    "valid": Case(Reason.VALID),
    "a-peer-issuer-its-region-accepts": Case(
        Reason.VALID, issuer=PEER, signer=PEER_KEY, status_owner=PEER
    ),
    "a-key-no-one-trusts": Case(Reason.UNKNOWN_ISSUER, signer=SigningKey.generate()),
    "iss-names-another-agency": Case(Reason.UNKNOWN_ISSUER, issuer=f"{CITY}/agencies/ag-amr"),
    "kb-jwt-for-another-counter": Case(
        Reason.HOLDER_BINDING_FAILED, audience="openid_federation:x"
    ),
    "kb-jwt-with-another-nonce": Case(Reason.HOLDER_BINDING_FAILED, nonce="m" * 32),
    "kb-jwt-61-seconds-old": Case(Reason.HOLDER_BINDING_FAILED, kb_at=NOW - 61),
    "kb-jwt-61-seconds-ahead": Case(Reason.HOLDER_BINDING_FAILED, kb_at=NOW + 61),
    "kb-jwt-by-a-thief": Case(Reason.HOLDER_BINDING_FAILED, present_with=SigningKey.generate()),
    "another-type": Case(Reason.UNSUPPORTED, vct=f"{CITY}/vct/driving-licence"),
    "issuer-not-authorised": Case(
        Reason.ISSUER_NOT_AUTHORISED, psb=replace(PSB, types=frozenset({"driving-licence"}))
    ),
    "region-does-not-accept-the-type": Case(
        Reason.NOT_ACCEPTED_BY_POLICY,
        issuer=PEER,
        signer=PEER_KEY,
        status_owner=PEER,
        peer=replace(SZ, accepted=frozenset(), policy="yrd-jjj"),
    ),
    "a-field-not-asked-for": Case(
        Reason.DISCLOSURE_NOT_REQUESTED, disclose=("name", "sex", "id_number")
    ),
    "a-field-withheld": Case(Reason.CLAIM_NOT_DISCLOSED, disclose=("name",)),
    "revoked": Case(Reason.REVOKED, idx=7),
    "suspended": Case(Reason.SUSPENDED, idx=8),
    "no-status-list-held": Case(Reason.STATUS_UNAVAILABLE, status_owner=None),
    "expired": Case(Reason.EXPIRED, expires=NOW - 3600),
    "trust-data-expired": Case(Reason.TRUST_LIST_STALE, trust_expires=NOW),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_rule_answers_its_reason(case: Case) -> None:
    result = _verify(case)
    assert result.reason is case.reason, result.detail
    assert result.valid is (case.reason is Reason.VALID)
    if result.valid:
        assert result.claims == {"name": "陈晓明", "sex": "男"}
        assert result.holder_bound
        assert result.issuer is not None
        assert result.issuer.id in ("ag-psb", PEER)
    else:
        assert result.claims == {}


@pytest.mark.parametrize(
    "case", [CASES["revoked"], CASES["suspended"]], ids=["revoked", "suspended"]
)
def test_a_refusal_by_the_status_list_says_how_old_that_list_was(case: Case) -> None:
    held = _verify(CASES["valid"]).status_as_of
    assert held is not None
    assert _verify(case).status_as_of == held
    assert _verify(CASES["a-field-withheld"]).status_as_of is None  # refused before reading it


def test_a_peer_issuer_is_not_answered_from_another_issuers_status_list() -> None:
    case = Case(Reason.STATUS_UNAVAILABLE, issuer=PEER, signer=PEER_KEY)
    result = _verify(case)
    assert result.reason is Reason.STATUS_UNAVAILABLE
    assert "is not" in result.detail


@pytest.mark.parametrize(
    "presentation",
    ["", "~", "a.b.c~", "x" * 40_000, "ey.ey.ey~WyJ~", "~".join(["a.b.c"] + ["WyJ4Il0"] * 70)],
    ids=["empty", "tilde", "junk-jwt", "oversized", "bad-disclosure", "too-many-disclosures"],
)
def test_malformed_input_answers_a_reason_and_never_raises(presentation: str) -> None:
    result = _verify(Case(Reason.MALFORMED), presentation)
    assert result.reason in (Reason.MALFORMED, Reason.UNSUPPORTED, Reason.UNKNOWN_ISSUER)
    assert not result.valid


def test_a_presentation_without_a_kb_jwt_is_refused() -> None:
    sd_jwt = issue_credential(
        SUBJECT, disclosable=SUBJECT, signer=ISSUER_KEY, issuer=f"{CITY}/agencies/ag-psb",
        vct=f"{CITY}/vct/resident-eid", holder_key=HOLDER.public,
        status=StatusReference(idx=3, uri=URI), now=NOW - DAY, expires=None,
    )  # fmt: skip
    bare = sd_jwt.serialize(holder.select(sd_jwt, ASKED))
    assert _verify(Case(Reason.VALID), bare).reason is Reason.HOLDER_BINDING_FAILED
