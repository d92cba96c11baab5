"""Presentations recorded at the issuing gateway (issue 10, 用证记录): a presentation at a 杭州
counter of a 杭州 credential is recorded at once; one at a 苏州 counter is reported to 杭州,
signed by 苏州, delivered later when 杭州 was down, recorded once however often it arrives, and
refused when it is not 苏州's, not about 杭州's credential, or not the holder's key."""

from __future__ import annotations

from contextlib import closing
from typing import Any

from sqlalchemy import select

from gateway import federation, use_reports
from gateway.models import UseReportRow
from tests.gateway import test_presentation_answers as answers
from tests.gateway import test_references_across_cities as across
from tests.gateway.test_presentation_answers import Desk
from tests.gateway.test_references_across_cities import HZ, SZ, Cities
from trust.federation.common import unverified_payload
from trust.holder_proof import make_holder_proof
from trust.jws import KeyIndex, verify_compact
from trust.keys import SigningKey
from trust.reference_request import USE_REPORT_TYP, UseReport, new_jti
from trust.statuslist import StatusReference

desk = answers.desk  # 杭州 alone: its police, a desk, a holder
cities = across.cities  # 杭州, 苏州, 北京


def _uses(client: Any, desk_: Desk) -> list[dict[str, Any]]:
    """The holder's use records, read with a holder proof, their signature checked."""
    ref = StatusReference.from_claims(desk_.sd_jwt.unverified_payload())
    assert ref is not None
    proof = make_holder_proof(desk_.holder, audience=HZ, credential=ref, now=desk_.fed.clock())
    answer = client.post("/api/v1/references/uses", json={"proof": proof})
    assert answer.status_code == 200, answer.text
    with desk_.fed.gateways[HZ].sessions() as session:
        _, keys = federation.signing_key(desk_.fed.gateways[HZ], session, federation.SELF)
    signed = verify_compact(answer.json()["records"], KeyIndex(keys), typ="ecert-use-records+jwt")
    return list(signed.payload["uses"])


def test_a_presentation_of_our_own_credential_is_recorded_at_once(desk: Desk) -> None:
    request = desk.ask()
    assert desk.post(request, desk.present(request)).status_code == 200
    (use,) = _uses(desk.client, desk)
    assert (use["counter"], use["city"], use["reason"]) == (
        "西湖宾馆前台",
        "杭州市",
        "旅馆住宿登记",
    )
    assert (use["channel"], use["fields"], use["reason_code"]) == (
        "presentation", ["name", "sex"], "VALID",
    )  # fmt: skip
    with desk.fed.gateways[HZ].sessions() as session:
        assert session.scalars(select(UseReportRow)).all() == []  # nothing to report elsewhere


def _suzhou_desk(cities: Cities) -> Desk:
    return Desk(cities.fed, cities.fed.client(SZ), cities.sz_desk[1], cities.psb,
                cities.credential_id, cities.sd_jwt, cities.holder)  # fmt: skip


def _report(cities: Cities) -> UseReportRow:
    with cities.sz.sessions() as session:
        (row,) = session.scalars(select(UseReportRow)).all()
        session.expunge(row)
    return row


def test_a_suzhou_presentation_is_reported_to_hangzhou_later_when_it_was_down(
    cities: Cities,
) -> None:
    sz_desk = _suzhou_desk(cities)
    request = sz_desk.ask()
    presentation = sz_desk.present(request)
    cities.fed.transport.down.add(HZ)
    try:
        answered = sz_desk.post(request, presentation)
    finally:
        cities.fed.transport.down.discard(HZ)
    assert answered.status_code == 200, answered.text  # the counter did not wait on 杭州
    report = _report(cities)
    assert (report.to_entity, report.delivered_at, report.attempts) == (HZ, None, 1)
    assert report.last_error
    assert report.next_attempt_at == cities.fed.clock() + use_reports.FIRST_RETRY
    assert cities.uses_at_hz() == []
    with closing(cities.fed.fetcher()) as http:
        assert use_reports.deliver_due(cities.sz, http) == 0  # not due yet
        cities.fed.clock.advance(use_reports.FIRST_RETRY)
        assert use_reports.deliver_due(cities.sz, http) == 1
        assert use_reports.deliver_due(cities.sz, http) == 0  # delivered: not sent again
    assert _report(cities).delivered_at == cities.fed.clock()
    (use,) = cities.uses_at_hz()
    assert use.verifier_entity == f"{SZ}/verifiers/{cities.sz_desk[0]}"
    assert (use.verifier_name, use.city_name, use.city_code) == ("平江宾馆前台", "苏州市", "320500")
    assert (use.channel, use.fields, use.purpose, use.reason_code) == (
        "presentation", ["name", "sex"], "旅馆住宿登记", "VALID",
    )  # fmt: skip
    (listed,) = _uses(cities.fed.client(HZ), sz_desk)
    assert (listed["channel"], listed["city"]) == ("presentation", "苏州市")
    again = _post(cities, report.body)
    assert again.status_code == 200, again.text
    assert again.json() == {"status": "already_recorded"}
    assert len(cities.uses_at_hz()) == 1


def _post(cities: Cities, body: str) -> Any:
    return cities.fed.client(HZ).post(
        "/federation/use_report", content=body,
        headers={"Content-Type": f"application/{USE_REPORT_TYP}"},
    )  # fmt: skip


def _forged(cities: Cities, key: SigningKey, **changes: Any) -> str:
    """A report like the one 苏州 sent, fresh (new jti, now), with ``changes``, signed by
    ``key``."""
    payload = unverified_payload(_report(cities).body)
    ref = StatusReference.from_claims(payload)
    assert ref is not None
    fields = {
        "iss": payload["iss"], "aud": payload["aud"], "iat": cities.fed.clock(), "jti": new_jti(),
        "credential": ref, "verifier_entity_id": payload["verifier_entity_id"],
        "verifier_name": payload["verifier_name"], "city_name": payload["city_name"],
        "city_code": payload["city_code"], "at": cities.fed.clock(), "reason": payload["reason"],
        "fields": tuple(payload["fields"]), "reason_code": payload["reason_code"],
        "kb_jwt": payload["kb_jwt"], "holder_jwk": payload["holder_jwk"],
    }  # fmt: skip
    fields.update(changes)
    return UseReport(**fields).sign(key)


def test_a_report_not_signed_by_suzhou_or_not_about_our_credential_or_key_is_refused(
    cities: Cities,
) -> None:
    sz_desk = _suzhou_desk(cities)
    request = sz_desk.ask()
    assert sz_desk.post(request, sz_desk.present(request)).status_code == 200
    assert len(cities.uses_at_hz()) == 1  # delivered at once: 杭州 was up
    sz_key = federation.own_signing_key(cities.sz)
    stranger = SigningKey.generate()
    cases = {
        "signed by another key": (_forged(cities, stranger), "签名无效"),
        "not our credential": (
            _forged(cities, sz_key, credential=StatusReference(uri=f"{HZ}/status/99", idx=1)),
            "不是本网关签发的",
        ),
        "another holder key": (
            _forged(cities, sz_key, holder_jwk=dict(stranger.public.jwk)), "不是此证照发放给的",
        ),
    }  # fmt: skip
    for case, (body, message) in cases.items():
        refused = _post(cities, body)
        assert refused.status_code == 400, (case, refused.text)
        assert message in refused.json()["error_description"], case
    assert len(cities.uses_at_hz()) == 1
    fresh = _post(cities, _forged(cities, sz_key))  # the same use, another jti: a new record
    assert fresh.json() == {"status": "recorded"}, fresh.text


def test_a_gateway_that_is_down_costs_one_try_a_run_and_its_reports_wait_together(
    cities: Cities,
) -> None:
    sz_desk = _suzhou_desk(cities)
    cities.fed.transport.down.add(HZ)
    try:
        for _ in range(2):
            request = sz_desk.ask()
            assert sz_desk.post(request, sz_desk.present(request)).status_code == 200
        cities.fed.clock.advance(use_reports.FIRST_RETRY)
        with closing(cities.fed.fetcher()) as http:
            assert use_reports.deliver_due(cities.sz, http) == 0
    finally:
        cities.fed.transport.down.discard(HZ)
    with cities.sz.sessions() as session:
        rows = session.scalars(select(UseReportRow).order_by(UseReportRow.id)).all()
    assert [r.attempts for r in rows] == [2, 1]  # the second was not tried: 杭州 was down
    assert {r.next_attempt_at for r in rows} == {cities.fed.clock() + 2 * use_reports.FIRST_RETRY}
    cities.fed.clock.advance(2 * use_reports.FIRST_RETRY)
    with closing(cities.fed.fetcher()) as http:
        assert use_reports.deliver_due(cities.sz, http) == 2
    assert [u.channel for u in cities.uses_at_hz()] == ["presentation", "presentation"]
