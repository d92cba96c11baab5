"""Issuing agencies' API: issue, read, idempotency, authorisation, status changes."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from gateway.core import Gateway
from tests.conftest import Agency
from tests.gateway.helpers import auth, client_for, count_credentials, licence_body
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.encoding import numeric_to_jws
from trust.identifiers import LicenceIdentifier


@pytest.fixture
def client(gw: Gateway) -> TestClient:
    with client_for(gw) as c:
        yield c


def _issue(client: TestClient, agency: Agency, body: dict[str, object], **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/api/v1/credentials", json=body, headers={**auth(agency.api_key), **headers}
    )


def _verify(client: TestClient, qr: str) -> dict[str, object]:
    response = client.post("/api/v1/verify", json={"qr": qr})
    assert response.status_code == 200, response.text
    return response.json()


def test_issue_business_licence_returns_signed_token_and_qr_text(
    client: TestClient, amr: Agency
) -> None:
    response = _issue(client, amr, licence_body())
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {"id", "identifier", "token", "qr_text", "status"}
    assert body["status"] == "valid"
    ident = LicenceIdentifier.parse(body["identifier"])
    assert ident.agency_code == amr.uscc
    assert ident.version == "001"
    prefix, digits = body["qr_text"].split("#")
    assert prefix == "https://ecert.hangzhou.gov.cn/v"
    assert numeric_to_jws(digits) == body["token"]
    header = jwt.get_unverified_header(body["token"])
    assert header["typ"] == "ecert+jwt"
    assert header["alg"] == "ES256"
    assert len(header["kid"]) == 12  # the first 9 bytes of the RFC 7638 thumbprint


def test_issued_licence_verifies_with_fields_and_issuer(client: TestClient, amr: Agency) -> None:
    body = _issue(client, amr, licence_body()).json()
    for scanned in (body["qr_text"], body["token"], body["qr_text"].split("#")[1]):
        result = _verify(client, scanned)
        assert result["reason"] == "VALID", result["detail"]
        assert result["valid"] is True
    fields = {f["name"]: f["value"] for f in result["credential"]["fields"]}  # type: ignore[index]
    assert fields == {
        "name": SAMPLE_SUBJECTS["business-licence"]["name"],
        "uscc": SAMPLE_SUBJECTS["business-licence"]["uscc"],
    }
    assert result["credential"]["identifier"] == body["identifier"]  # type: ignore[index]
    assert [c["role"] for c in result["issuer"]["chain"]] == ["agency", "city"]  # type: ignore[index]
    assert result["message"] == {"zh": "证照有效", "en": "Certificate is valid"}


def test_suspend_reinstate_revoke_and_revocation_is_final(client: TestClient, amr: Agency) -> None:
    issued = _issue(client, amr, licence_body()).json()
    cid, qr = issued["id"], issued["qr_text"]
    h = auth(amr.api_key)

    r = client.post(f"/api/v1/credentials/{cid}/suspend", json={"reason": "经营异常"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["status_code"] == "02"
    assert _verify(client, qr)["reason"] == "SUSPENDED"

    r = client.post(f"/api/v1/credentials/{cid}/reinstate", json={"reason": "已整改"}, headers=h)
    assert r.json()["status_code"] == "01"
    assert _verify(client, qr)["reason"] == "VALID"

    r = client.post(
        f"/api/v1/credentials/{cid}/revoke", json={"reason": "吊销", "code": "07"}, headers=h
    )
    assert r.json()["status_code"] == "07"
    assert _verify(client, qr)["reason"] == "REVOKED"

    again = client.post(f"/api/v1/credentials/{cid}/reinstate", json={"reason": "x"}, headers=h)
    assert again.status_code == 409
    assert "final" in again.json()["detail"]["message_en"]
    history = client.get(f"/api/v1/credentials/{cid}", headers=h).json()["status_history"]
    assert [(x["from"], x["to"], x["reason"]) for x in history] == [
        ("01", "02", "经营异常"),
        ("02", "01", "已整改"),
        ("01", "07", "吊销"),
    ]


def test_record_carries_the_gbt_36903_metadata(
    client: TestClient, amr: Agency, psb: Agency
) -> None:
    issued = _issue(client, amr, licence_body()).json()
    meta = client.get(f"/api/v1/credentials/{issued['id']}", headers=auth(amr.api_key)).json()[
        "metadata"
    ]
    subject = SAMPLE_SUBJECTS["business-licence"]
    assert meta["licence_name"] == "营业执照"
    assert meta["licence_identifier"] == issued["identifier"]
    assert meta["licence_number"] == subject["uscc"]
    assert meta["issuing_authority_code"] == amr.uscc
    assert (meta["holder"], meta["holder_code"], meta["holder_code_type"]) == (
        subject["name"],
        subject["uscc"],
        "001",
    )
    assert meta["status"] == {"code": "01", "zh": "有效", "en": "valid"}
    assert meta["jurisdiction_code"] == "330100"
    eid = _issue(
        client, psb, {"type": "resident-eid", "subject": SAMPLE_SUBJECTS["resident-eid"]}
    ).json()
    eid_meta = client.get(f"/api/v1/credentials/{eid['id']}", headers=auth(psb.api_key)).json()[
        "metadata"
    ]
    assert eid_meta["holder_code_type"] == "111"
    assert eid_meta["holder_code"] == SAMPLE_SUBJECTS["resident-eid"]["id_number"]


def test_status_change_needs_a_reason(client: TestClient, amr: Agency) -> None:
    cid = _issue(client, amr, licence_body()).json()["id"]
    r = client.post(
        f"/api/v1/credentials/{cid}/suspend", json={"reason": ""}, headers=auth(amr.api_key)
    )
    assert r.status_code == 422
    assert r.json()["detail"]["errors"][0]["field"] == "reason"


def test_type_not_authorised_is_403_and_persists_nothing(
    gw: Gateway, client: TestClient, amr: Agency
) -> None:
    body = {"type": "resident-eid", "subject": SAMPLE_SUBJECTS["resident-eid"]}
    response = _issue(client, amr, body)
    assert response.status_code == 403
    assert "not authorised" in response.json()["detail"]["message_en"]
    assert count_credentials(gw) == 0


def test_other_agencys_credential_cannot_be_read_or_changed(
    client: TestClient, amr: Agency, psb: Agency
) -> None:
    cid = _issue(client, amr, licence_body()).json()["id"]
    assert client.get(f"/api/v1/credentials/{cid}", headers=auth(psb.api_key)).status_code == 403
    r = client.post(
        f"/api/v1/credentials/{cid}/revoke", json={"reason": "x"}, headers=auth(psb.api_key)
    )
    assert r.status_code == 403
    still = client.get(f"/api/v1/credentials/{cid}", headers=auth(amr.api_key)).json()
    assert still["status_code"] == "01"


def test_invalid_subject_lists_every_problem_and_persists_nothing(
    gw: Gateway, client: TestClient, amr: Agency
) -> None:
    body = licence_body(uscc="91330106MA2B3C4D5A", established_on="2019-13-01", colour="red")
    response = _issue(client, amr, body)
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["detail"]["errors"]}
    assert {"uscc", "established_on", "colour"} <= fields
    for e in response.json()["detail"]["errors"]:
        assert e["message"]
        assert e["message_en"]
    assert count_credentials(gw) == 0


def test_a_derived_field_an_agency_sends_is_422_and_persists_nothing(
    gw: Gateway, client: TestClient, psb: Agency
) -> None:
    subject = {**SAMPLE_SUBJECTS["resident-eid"], "id_number_masked": "330106********1233"}
    response = _issue(client, psb, {"type": "resident-eid", "subject": subject})
    assert response.status_code == 422
    (error,) = response.json()["detail"]["errors"]
    assert (error["field"], error["code"]) == ("id_number_masked", "derived_field")
    assert "由签发方根据 id_number 生成" in error["message"]
    assert count_credentials(gw) == 0


def test_unknown_top_level_field_is_rejected(client: TestClient, amr: Agency) -> None:
    response = _issue(client, amr, {**licence_body(), "colour": "red"})
    assert response.status_code == 422
    assert response.json()["detail"]["errors"][0]["field"] == "colour"


def test_idempotency_key_replays_and_refuses_a_different_body(
    gw: Gateway, client: TestClient, amr: Agency
) -> None:
    first = _issue(client, amr, licence_body(), **{"Idempotency-Key": "req-1"})
    again = _issue(client, amr, licence_body(), **{"Idempotency-Key": "req-1"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = _issue(client, amr, licence_body(name="另一家公司"), **{"Idempotency-Key": "req-1"})
    assert other.status_code == 409
    assert count_credentials(gw) == 1


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer nope", 401), ("Bearer ek_000000000000_wrong", 401), ("Basic abc", 401)],
    ids=["missing", "malformed", "unknown", "wrong-scheme"],
)
def test_api_key_required(client: TestClient, header: str | None, status: int) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/credentials", json=licence_body(), headers=headers)
    assert response.status_code == status
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_api_key_scopes_are_enforced(gw: Gateway, client: TestClient, amr: Agency) -> None:
    from gateway.agencies import new_api_key

    with gw.transaction() as session:
        read_only = new_api_key(session, agency_id=amr.id, scopes=["read"], now=gw.clock())
    response = client.post("/api/v1/credentials", json=licence_body(), headers=auth(read_only))
    assert response.status_code == 403
    assert "'issue' scope" in response.json()["detail"]["message_en"]


def test_personal_type_puts_no_personal_field_in_the_token(client: TestClient, psb: Agency) -> None:
    subject = SAMPLE_SUBJECTS["resident-eid"]
    body = _issue(client, psb, {"type": "resident-eid", "subject": subject}).json()
    payload = jwt.api_jws.decode(body["token"], options={"verify_signature": False}).decode()
    for value in subject.values():
        assert str(value) not in payload
    assert subject["id_number"] not in body["qr_text"]
    result = _verify(client, body["qr_text"])
    assert result["valid"] is True
    assert result["credential"]["fields"] == []  # type: ignore[index]


def test_a_personal_types_qr_says_it_does_not_identify_the_holder(
    client: TestClient, psb: Agency, amr: Agency
) -> None:
    """Issue 9: a resident e-ID's QR showed a big 有效 and nothing else, so a clerk learnt
    nothing about who stood at the counter. It now says what it proves and what it does not."""
    subject = SAMPLE_SUBJECTS["resident-eid"]
    eid = _issue(client, psb, {"type": "resident-eid", "subject": subject}).json()
    result = _verify(client, eid["qr_text"])
    assert (result["valid"], result["reason"]) == (True, "VALID")
    assert result["credential"]["holder_identified"] is False  # type: ignore[index]
    assert "不能证明出示人就是持证人" in result["message"]["zh"]  # type: ignore[index]
    assert "does not show who holds it" in result["message"]["en"]  # type: ignore[index]
    licence = _verify(client, _issue(client, amr, licence_body()).json()["qr_text"])
    assert licence["credential"]["holder_identified"] is True  # type: ignore[index]
    assert licence["message"]["zh"] == "证照有效"  # type: ignore[index]


def test_a_revoked_personal_credential_says_revoked_not_the_holder_note(
    client: TestClient, psb: Agency
) -> None:
    subject = SAMPLE_SUBJECTS["resident-eid"]
    eid = _issue(client, psb, {"type": "resident-eid", "subject": subject}).json()
    revoked = client.post(
        f"/api/v1/credentials/{eid['id']}/revoke",
        json={"reason": "证件注销"},
        headers=auth(psb.api_key),
    )
    assert revoked.status_code == 200, revoked.text
    result = _verify(client, eid["qr_text"])
    assert result["reason"] == "REVOKED"
    assert "持证人" not in result["message"]["zh"]  # type: ignore[index]


def test_read_credential_never_returns_secrets(client: TestClient, amr: Agency) -> None:
    cid = _issue(client, amr, licence_body()).json()["id"]
    text = client.get(f"/api/v1/credentials/{cid}", headers=auth(amr.api_key)).text
    assert "PRIVATE" not in text
    assert "secret" not in text
    assert amr.api_key not in text


def test_an_issue_that_keeps_conflicting_answers_409_not_500(
    client: TestClient, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process taking the same status slot three times running: the database's refusal
    # reached the client as a 500 before.
    from sqlalchemy.exc import IntegrityError

    from gateway import issuance

    def always_taken(*_: Any, **__: Any) -> Any:
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: credentials.slot"))

    monkeypatch.setattr(issuance, "_write", always_taken)
    answer = client.post("/api/v1/credentials", json=licence_body(), headers=auth(amr.api_key))
    assert answer.status_code == 409, answer.text
    detail = answer.json()["detail"]
    assert "nothing was issued" in detail["message_en"]
    assert "未签发" in detail["message"]
