"""Reference codes across cities (issue 10): a 苏州 counter resolves a 杭州 holder's code through
苏州's gateway, which asks 杭州's with a federation-signed request; 杭州 answers signed and both
record it. A 北京 counter, whose region accepts only 长三角's licences, is refused by policy and
the code stays unused. Forged, unsigned and replayed requests are refused at 杭州; a 杭州 that
is down, or an answer signed by someone else, gives the counter a refusal, never a 5xx."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway import federation, reference_requests, verifiers
from gateway.core import Gateway
from gateway.models import AuditRow, ReferenceFailureRow, ReferenceUseRow
from tests.conftest import Agency, FakeClock, make_agency
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.helpers import auth
from tests.gateway.test_presentation_across_cities import (
    BJ,
    HZ,
    LICENCES,
    SZ,
    YRD,
    _sync,
    two_regions,
)
from tests.gateway.test_presentation_answers import _receive
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.holder_proof import make_holder_proof
from trust.keys import SigningKey
from trust.reference_request import REQUEST_TYP, make_request
from trust.sdjwt.issue import SdJwt
from trust.statuslist import StatusReference

REASON = "旅馆住宿登记"
FULL = SAMPLE_SUBJECTS["resident-eid"]["id_number"]
RESOLVE = "/federation/reference_resolve"


@dataclass
class Cities:
    fed: Federation
    hz: Gateway
    sz: Gateway
    bj: Gateway
    psb: Agency
    credential_id: str
    sd_jwt: SdJwt
    holder: SigningKey
    sz_desk: tuple[str, str]  # (id, key)
    bj_desk: tuple[str, str]

    def code(self) -> dict[str, Any]:
        """A fresh code from 杭州 for the holder's e-ID (the create answer)."""
        ref = StatusReference.from_claims(self.sd_jwt.unverified_payload())
        assert ref is not None
        proof = make_holder_proof(self.holder, audience=HZ, credential=ref, now=self.fed.clock())
        made = self.fed.client(HZ).post("/api/v1/references", json={"proof": proof})
        assert made.status_code == 201, made.text
        return dict(made.json())

    def resolve(self, url: str, key: str, typed: str, reason: str = REASON) -> Any:
        return self.fed.client(url).post(
            "/api/v1/references/resolve", json={"code": typed, "reason": reason},
            headers=auth(key),
        )  # fmt: skip

    def uses_at_hz(self) -> list[ReferenceUseRow]:
        with self.hz.sessions() as session:
            rows = session.scalars(select(ReferenceUseRow).order_by(ReferenceUseRow.id)).all()
            for row in rows:
                session.expunge(row)
            return list(rows)


@pytest.fixture
def cities(tmp_path: Path, clock: FakeClock) -> Iterator[Cities]:
    """长三角 (杭州, 苏州) and 京津冀 (北京), agreements accepting each other's licences only; a
    杭州 e-ID in a holder's wallet; a hotel desk at 苏州 and one at 北京."""
    with federation_of(tmp_path, clock) as fed:
        # The tests deliver use reports themselves: the background retry waits a day.
        hz, sz, bj = two_regions(fed, use_report_retry=86_400)
        psb = make_agency(
            hz, name="杭州市公安局", uscc="11330100002490365L", types=["resident-eid"]
        )
        make_agency(bj, name="北京市市场监督管理局", uscc="11110000000021135M", types=LICENCES)
        holder = SigningKey.generate()
        credential_id, sd_jwt = _receive(fed.client(HZ), clock, psb, holder)
        for gw in (sz, bj, hz):
            _sync(fed, gw)
        sz_row, sz_key = verifiers.add_verifier(
            sz, name="平江宾馆前台", role="hotel-desk", actor="t"
        )
        bj_row, bj_key = verifiers.add_verifier(bj, name="王府井宾馆前台", role="hotel-desk",
                                                actor="t")  # fmt: skip
        yield Cities(fed, hz, sz, bj, psb, credential_id, sd_jwt, holder,
                     (sz_row.id, sz_key), (bj_row.id, bj_key))  # fmt: skip


def _fields(answer: Any) -> dict[str, Any]:
    return {f["name"]: f["value"] for f in answer.json()["fields"]}


def test_a_suzhou_counter_resolves_a_hangzhou_code_once_and_sees_the_masked_number(
    cities: Cities,
) -> None:
    made = cities.code()
    assert made["display"].startswith("330100-")
    answer = cities.resolve(SZ, cities.sz_desk[1], made["display"].lower())
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["reason"] == "VALID", result["detail"]
    assert _fields(answer) == {
        "name": SAMPLE_SUBJECTS["resident-eid"]["name"],
        "sex": SAMPLE_SUBJECTS["resident-eid"]["sex"],
        "id_number_masked": f"{FULL[:6]}********{FULL[-4:]}",
    }
    assert FULL not in answer.text
    assert {f["name"]: f["label"]["zh"] for f in result["fields"]}["name"] == "姓名"
    # The issuer chain as 苏州's trust state knows it: 杭州's agency, 杭州, 长三角.
    assert result["issuer"]["id"] == f"{HZ}/agencies/{cities.psb.id}"
    assert [c["id"] for c in result["issuer"]["chain"]][1:] == [HZ, YRD]
    assert result["freshness"]["trust"]
    assert result["freshness"]["status"]
    (use,) = cities.uses_at_hz()
    assert use.verifier_entity == f"{SZ}/verifiers/{cities.sz_desk[0]}"
    assert (use.verifier_name, use.city_name, use.city_code) == ("平江宾馆前台", "苏州市", "320500")
    assert (use.purpose, use.channel, use.reason_code) == (REASON, "code", "VALID")
    assert sorted(use.fields) == ["id_number_masked", "name", "sex"]
    with cities.sz.sessions() as session:
        actions = session.scalars(select(AuditRow.action)).all()
    assert "reference.resolve_remote" in actions

    again = cities.resolve(SZ, cities.sz_desk[1], made["display"])
    assert again.status_code == 200
    assert again.json()["reason"] == "REFERENCE_USED"
    assert again.json()["fields"] == []
    with cities.sz.sessions() as session:  # a wrong code, counted where the counter is
        assert len(session.scalars(select(ReferenceFailureRow)).all()) == 1


def test_a_beijing_counter_is_refused_by_policy_and_the_code_stays_unused(cities: Cities) -> None:
    made = cities.code()
    refused = cities.resolve(BJ, cities.bj_desk[1], made["display"])
    assert refused.status_code == 200, refused.text
    assert refused.json()["reason"] == "NOT_ACCEPTED_BY_POLICY"
    assert refused.json()["fields"] == []
    assert cities.uses_at_hz() == []
    answer = cities.resolve(SZ, cities.sz_desk[1], made["display"])  # still unused
    assert answer.json()["reason"] == "VALID", answer.text


def test_an_unknown_region_code_is_an_unknown_code(cities: Cities) -> None:
    made = cities.code()
    answer = cities.resolve(SZ, cities.sz_desk[1], "440300-" + made["display"][7:])
    assert answer.json()["reason"] == "REFERENCE_UNKNOWN"
    assert "440300" in answer.json()["detail"]


def _request(cities: Cities, key: SigningKey, code: str, **overrides: Any) -> str:
    with cities.sz.sessions() as session:
        counter = federation.verifier_entity_id(federation.config(session).entity_id,
                                                cities.sz_desk[0])  # fmt: skip
    fields: dict[str, Any] = {
        "iss": SZ, "aud": HZ, "code": code, "verifier_entity_id": counter, "role": "hotel-desk",
        "reason": REASON, "accepted_types": ["resident-eid"], "now": cities.fed.clock(),
    }  # fmt: skip
    fields.update(overrides)
    return make_request(key, **fields)[1]


def _post(cities: Cities, token: str) -> Any:
    return cities.fed.client(HZ).post(
        RESOLVE, content=token, headers={"Content-Type": f"application/{REQUEST_TYP}"}
    )


def _unsigned(token: str) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": REQUEST_TYP}).encode())
    return f"{header.decode().rstrip('=')}.{token.split('.')[1]}."


def test_forged_unsigned_replayed_or_misdirected_requests_are_refused_at_hangzhou(
    cities: Cities,
) -> None:
    code = cities.code()["code"]
    sz_key = federation.own_signing_key(cities.sz)
    forged = _post(cities, _request(cities, SigningKey.generate(), code))
    assert forged.status_code == 400, forged.text
    assert forged.json()["error"] == "invalid_request"
    assert "签名无效" in forged.json()["error_description"]
    unsigned = _post(cities, _unsigned(_request(cities, sz_key, code)))
    assert unsigned.status_code == 400, unsigned.text
    wrong_role = _post(cities, _request(cities, sz_key, code, role="police-counter"))
    assert wrong_role.status_code == 400, wrong_role.text
    assert "角色" in wrong_role.json()["error_description"]
    elsewhere = "http://127.0.0.1:9999"
    stranger = _post(
        cities,
        _request(
            cities, sz_key, code, iss=elsewhere, verifier_entity_id=f"{elsewhere}/verifiers/x"
        ),
    )
    assert stranger.status_code == 400, stranger.text
    assert "联邦成员" in stranger.json()["error_description"]
    assert cities.uses_at_hz() == []  # nothing shown or spent so far
    token = _request(cities, sz_key, code)
    first = _post(cities, token)
    assert first.status_code == 200, first.text
    replayed = _post(cities, token)
    assert replayed.status_code == 400, replayed.text
    assert "重放" in replayed.json()["error_description"]
    assert len(cities.uses_at_hz()) == 1


def test_a_hangzhou_that_is_down_gives_a_clear_refusal(cities: Cities) -> None:
    made = cities.code()
    cities.fed.transport.down.add(HZ)
    try:
        refused = cities.resolve(SZ, cities.sz_desk[1], made["display"])
    finally:
        cities.fed.transport.down.discard(HZ)
    assert refused.status_code == 200, refused.text
    assert refused.json()["reason"] == "STATUS_UNAVAILABLE"
    assert refused.json()["message"]["zh"] == "无法获取证照状态，请稍后重试"
    assert refused.json()["fields"] == []
    answer = cities.resolve(SZ, cities.sz_desk[1], made["display"])  # the code was not spent
    assert answer.json()["reason"] == "VALID", answer.text


def test_an_answer_signed_by_another_key_is_refused_at_suzhou(
    cities: Cities, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = cities.code()
    thief = SigningKey.generate()
    monkeypatch.setattr(reference_requests, "signing_key", lambda *_a: (thief, [thief.public]))
    refused = cities.resolve(SZ, cities.sz_desk[1], made["display"])
    assert refused.status_code == 200, refused.text
    assert refused.json()["reason"] == "BAD_SIGNATURE"
    assert refused.json()["fields"] == []
    assert FULL[-4:] not in refused.text


def test_a_role_that_may_see_nothing_is_forbidden_by_the_issuing_city(
    cities: Cities, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = cities.code()
    monkeypatch.setattr(reference_requests, "resolve_code", _forbidding(reference_requests))
    refused = cities.resolve(SZ, cities.sz_desk[1], made["display"])
    assert refused.status_code == 403, refused.text
    assert "签发城市拒绝" in refused.json()["detail"]["message"]


def _forbidding(module: Any) -> Any:
    real = module.resolve_code

    def resolve_code(*args: Any, **kwargs: Any) -> Any:
        kwargs["may_see"] = lambda _type: frozenset()
        return real(*args, **kwargs)

    return resolve_code


def test_a_hangzhou_paper_code_resolves_at_suzhou_at_every_visit(cities: Cities) -> None:
    made = cities.fed.client(HZ).post(
        f"/api/v1/credentials/{cities.credential_id}/paper-reference", json={"valid_days": 30},
        headers=auth(cities.psb.api_key),
    )  # fmt: skip
    assert made.status_code == 201, made.text
    for _ in range(2):
        answer = cities.resolve(SZ, cities.sz_desk[1], made.json()["display"], reason="住房核查")
        assert answer.json()["reason"] == "VALID", answer.text
    assert [(u.channel, u.city_name) for u in cities.uses_at_hz()] == [("paper", "苏州市")] * 2
