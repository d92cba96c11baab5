"""The messages between city gateways about reference codes and uses (issue 10), checked by node
``jose`` (panva/jose 6.x) with nothing but the sender's published JWK Set (its Entity
Configuration's ``jwks``): a 苏州 request to resolve a 杭州 code, 杭州's answer, and a 苏州 use
report of a presentation. A request signed by another key is refused by jose too."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gateway import federation
from gateway.models import UseReportRow
from tests.gateway import test_references_across_cities as across
from tests.gateway.test_references_across_cities import HZ, RESOLVE, SZ, Cities
from tests.gateway.test_use_reports import _suzhou_desk
from tests.interop.conftest import NodeRunner
from trust.federation.statements import unverified_payload
from trust.keys import SigningKey
from trust.reference_request import ANSWER_TYP, REQUEST_TYP, USE_REPORT_TYP, make_request

cities = across.cities


def _jwks(cities: Cities, url: str) -> Any:
    return unverified_payload(cities.fed.client(url).get("/.well-known/openid-federation").text)[
        "jwks"
    ]


def _request(cities: Cities, key: SigningKey) -> str:
    return make_request(
        key, iss=SZ, aud=HZ, code=cities.code()["code"],
        verifier_entity_id=f"{SZ}/verifiers/{cities.sz_desk[0]}", role="hotel-desk",
        reason="旅馆住宿登记", accepted_types=["resident-eid"], now=cities.fed.clock(),
    )[1]  # fmt: skip


def test_jose_verifies_a_request_its_answer_and_a_use_report(
    cities: Cities, node: NodeRunner
) -> None:
    request = _request(cities, federation.own_signing_key(cities.sz))
    answer = cities.fed.client(HZ).post(
        RESOLVE, content=request, headers={"Content-Type": f"application/{REQUEST_TYP}"}
    )
    assert answer.status_code == 200, answer.text
    sz_desk = _suzhou_desk(cities)
    asked = sz_desk.ask()
    assert sz_desk.post(asked, sz_desk.present(asked)).status_code == 200
    with cities.sz.sessions() as session:
        report = session.scalars(select(UseReportRow.body)).one()
    forged = _request(cities, SigningKey.generate())

    got_request, got_report, got_forged = node(
        "jose_verify", {"tokens": [request, report, forged], "jwks": _jwks(cities, SZ)}
    )
    (got_answer,) = node("jose_verify", {"tokens": [answer.text], "jwks": _jwks(cities, HZ)})
    assert got_request["ok"], got_request
    assert got_request["header"]["typ"] == REQUEST_TYP
    assert got_request["payload"] == unverified_payload(request)
    assert got_request["payload"]["verifier_entity_id"].startswith(f"{SZ}/verifiers/")
    assert got_answer["ok"], got_answer
    assert got_answer["header"]["typ"] == ANSWER_TYP
    assert got_answer["payload"]["aud"] == SZ
    assert got_answer["payload"]["request_jti"] == unverified_payload(request)["jti"]
    assert got_answer["payload"]["result"]["reason"] == "VALID"
    assert got_report["ok"], got_report
    assert got_report["header"]["typ"] == USE_REPORT_TYP
    assert got_report["payload"]["aud"] == HZ
    assert got_report["payload"]["fields"] == ["name", "sex"]
    assert not got_forged["ok"]
    assert got_forged["code"] == "ERR_JWKS_NO_MATCHING_KEY"
