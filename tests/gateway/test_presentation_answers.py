"""A wallet answers a counter (OpenID4VP 1.0 direct_post, issue 9): the response
endpoint refuses an unknown or expired request, a wrong state, a second answer, a presentation
made for another request, oversized input; it verifies the rest and stores the result, which the
counter reads. One test per rule; presentations are built in-process with trust/sdjwt."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway import presentation_answers, status, verifiers
from gateway.core import Gateway
from gateway.models import AuditRow, PresentationRequestRow
from tests.conftest import Agency, FakeClock, make_agency
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.helpers import auth, race_past
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.jws import KeyIndex
from trust.keys import PublicKey, SigningKey
from trust.oid4vci import PRE_AUTHORIZED_GRANT, make_proof
from trust.oid4vp import ResponseRefused
from trust.sdjwt import holder
from trust.sdjwt.core import split
from trust.sdjwt.disclosure import Disclosure
from trust.sdjwt.issue import SdJwt

YRD, HZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101"
ASK = {"type": "resident-eid", "fields": ["name", "sex"], "reason": "旅馆住宿登记"}


@dataclass
class Desk:
    fed: Federation
    client: TestClient
    counter_key: str
    agency: Agency
    credential_id: str
    sd_jwt: SdJwt
    holder: SigningKey

    def ask(self, body: dict[str, Any] = ASK) -> dict[str, Any]:
        made = self.client.post(
            "/api/v1/presentation-requests", json=body, headers=auth(self.counter_key)
        )
        assert made.status_code == 201, made.text
        out = dict(made.json())
        token = self.client.get(f"/oid4vp/requests/{out['id']}").text
        part = token.split(".")[1]
        out["claims"] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return out

    def present(self, request: dict[str, Any], fields: tuple[str, ...] = ("name", "sex")) -> str:
        claims = request["claims"]
        return holder.present(
            self.sd_jwt,
            holder.select(self.sd_jwt, fields),
            holder=self.holder,
            audience=claims["client_id"],
            nonce=claims["nonce"],
            now=self.fed.clock.now,
        )

    def post(self, request: dict[str, Any], presentation: str, **form: str) -> Any:
        data = {
            "vp_token": json.dumps({"credential": [presentation]}),
            "state": request["claims"]["state"],
            **form,
        }
        return self.client.post(f"/oid4vp/responses/{request['id']}", data=data)

    def result(self, request_id: str) -> Any:
        return self.client.get(
            f"/api/v1/presentation-requests/{request_id}", headers=auth(self.counter_key)
        )


def _receive(
    client: TestClient,
    clock: FakeClock,
    agency: Agency,
    holder_key: SigningKey,
    ctype: str = "resident-eid",
) -> tuple[str, SdJwt]:
    body = {"type": ctype, "subject": SAMPLE_SUBJECTS[ctype], "wallet_offer": True}
    issued = client.post("/api/v1/credentials", json=body, headers=auth(agency.api_key))
    assert issued.status_code == 201, issued.text
    offer = issued.json()["wallet_offer"]
    return str(issued.json()["id"]), redeem(client, clock, offer, holder_key, ctype)


def redeem(
    client: TestClient,
    clock: FakeClock,
    offer: dict[str, Any],
    holder_key: SigningKey,
    type_code: str,
) -> SdJwt:
    """A wallet of ``holder_key`` takes a credential offer (its link and PIN) and checks what it
    receives against the issuing agency's published keys."""
    uri = parse_qs(urlsplit(offer["offer_uri"]).query)["credential_offer_uri"][0]
    code = client.get(urlsplit(uri).path).json()["grants"][PRE_AUTHORIZED_GRANT]
    token = client.post(
        "/oid4vci/token",
        data={
            "grant_type": PRE_AUTHORIZED_GRANT,
            "pre-authorized_code": code["pre-authorized_code"],
            "tx_code": offer["tx_code"],
        },
    ).json()["access_token"]
    nonce = client.post("/oid4vci/nonce").json()["c_nonce"]
    proof = make_proof(holder_key, audience=str(client.base_url), nonce=nonce, now=clock())
    got = client.post(
        "/oid4vci/credential",
        json={"credential_configuration_id": type_code, "proofs": {"jwt": [proof]}},
        headers=auth(token),
    )
    assert got.status_code == 200, got.text
    serialized = got.json()["credentials"][0]["credential"]
    iss = SdJwt(serialized.split("~")[0], ()).unverified_payload()["iss"]
    meta = client.get(f"/.well-known/jwt-vc-issuer{urlsplit(iss).path}").json()
    keys = KeyIndex([PublicKey.from_jwk(k) for k in meta["jwks"]["keys"]])
    sd_jwt, _verified = holder.receive(serialized, issuer_keys=keys, now=clock())
    return sd_jwt


@pytest.fixture
def desk(tmp_path: Path, clock: FakeClock, db_url: str) -> Iterator[Desk]:
    """杭州 (on SQLite, and on PostgreSQL when the suite has one), its police and a desk."""
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["resident-eid"],
                      database_url=db_url)  # fmt: skip
        psb = make_agency(
            hz, name="杭州市公安局", uscc="11330100002490365L", types=["resident-eid"]
        )
        _row, counter_key = verifiers.add_verifier(
            hz, name="西湖宾馆前台", role="hotel-desk", actor="t"
        )
        client = fed.client(HZ)
        holder_key = SigningKey.generate()
        credential_id, sd_jwt = _receive(client, clock, psb, holder_key)
        yield Desk(fed, client, counter_key, psb, credential_id, sd_jwt, holder_key)


def test_a_presentation_answers_the_counter_with_the_fields_and_holder_binding(
    desk: Desk,
) -> None:
    request = desk.ask()
    assert desk.result(request["id"]).json()["state"] == "pending"
    answered = desk.post(request, desk.present(request))
    assert answered.status_code == 200, answered.text
    assert answered.json() == {}
    shown = desk.result(request["id"]).json()
    assert shown["state"] == "answered"
    assert shown["reason"] == "旅馆住宿登记"
    result = shown["result"]
    assert result["reason"] == "VALID"
    assert result["valid"] is True
    assert result["holder_binding"] is True
    subject = SAMPLE_SUBJECTS["resident-eid"]
    assert {f["name"]: f["value"] for f in result["fields"]} == {
        "name": subject["name"],
        "sex": subject["sex"],
    }
    assert result["fields"][0]["label"]["zh"]
    assert [c["role"] for c in result["issuer"]["chain"]] == ["agency", "city"]
    assert result["message"] == {"zh": "证照有效", "en": "Certificate is valid"}


def test_a_hotel_desk_sees_the_masked_id_number_and_nothing_of_the_full_one(desk: Desk) -> None:
    fields = ("name", "id_number_masked")
    request = desk.ask({**ASK, "fields": list(fields)})
    presentation = desk.present(request, fields)
    assert [Disclosure.parse(d).name for d in split(presentation).disclosures] == list(fields)
    answered = desk.post(request, presentation)
    assert answered.status_code == 200, answered.text
    shown = desk.result(request["id"])
    result = shown.json()["result"]
    assert result["reason"] == "VALID"
    full = SAMPLE_SUBJECTS["resident-eid"]["id_number"]
    shown_fields = {f["name"]: (f["value"], f["label"]) for f in result["fields"]}
    assert shown_fields == {
        "name": (SAMPLE_SUBJECTS["resident-eid"]["name"], {"zh": "姓名", "en": "Name"}),
        "id_number_masked": (
            f"{full[:6]}********{full[-4:]}",
            {"zh": "公民身份号码（部分隐藏）", "en": "Citizen ID number (masked)"},
        ),
    }
    with desk.fed.gateways[HZ].sessions() as session:
        row = session.get(PresentationRequestRow, request["id"])
        assert row is not None
        stored = json.dumps([row.result, row.fields, row.purpose, row.token], ensure_ascii=False)
        audited = json.dumps(
            [(a.subject, a.detail) for a in session.scalars(select(AuditRow))
             if a.action.startswith("presentation")], ensure_ascii=False,
        )  # fmt: skip
    assert request["id"] in audited
    for what in (answered.text, shown.text, stored, audited):
        assert full not in what
        assert full[6:14] not in what  # the birth date the mask hides


def test_the_same_answer_replayed_is_refused(desk: Desk) -> None:
    request = desk.ask()
    presentation = desk.present(request)
    assert desk.post(request, presentation).status_code == 200
    replayed = desk.post(request, presentation)
    assert replayed.status_code == 400
    assert replayed.json()["error"] == "invalid_request"
    assert "answered" in replayed.json()["message_en"]
    assert desk.result(request["id"]).json()["result"]["reason"] == "VALID"


def test_a_presentation_made_for_another_request_is_refused(desk: Desk) -> None:
    first, second = desk.ask(), desk.ask()
    made_for_first = desk.present(first)
    refused = desk.post(second, made_for_first)
    assert refused.status_code == 400, refused.text
    assert "nonce" in refused.json()["message_en"]
    assert refused.json()["message"]
    assert desk.result(second["id"]).json()["state"] == "pending"  # still open for its wallet
    assert desk.post(second, desk.present(second)).status_code == 200


def test_a_wrong_state_is_refused(desk: Desk) -> None:
    request = desk.ask()
    other = desk.ask()
    refused = desk.post(request, desk.present(request), state=other["claims"]["state"])
    assert refused.status_code == 400
    assert "state" in refused.json()["message_en"]
    assert desk.result(request["id"]).json()["state"] == "pending"


def test_an_unknown_or_expired_request_is_refused(desk: Desk) -> None:
    request = desk.ask()
    presentation = desk.present(request)
    unknown = dict(request, id="pr-nosuchrequest")
    assert desk.post(unknown, presentation).status_code == 400
    desk.fed.clock.advance(300)
    expired = desk.post(request, presentation)
    assert expired.status_code == 400
    assert "expired" in expired.json()["message_en"]
    assert desk.result(request["id"]).json()["state"] == "expired"


def test_extra_disclosures_are_refused_and_stored(desk: Desk) -> None:
    request = desk.ask()
    refused = desk.post(request, desk.present(request, ("name", "sex", "id_number")))
    assert refused.status_code == 400
    assert refused.json()["error"] == "access_denied"
    result = desk.result(request["id"]).json()["result"]
    assert result["reason"] == "DISCLOSURE_NOT_REQUESTED"
    assert result["fields"] == []


def test_a_kb_jwt_for_another_audience_is_refused(desk: Desk) -> None:
    request = desk.ask()
    claims = request["claims"]
    presentation = holder.present(
        desk.sd_jwt, holder.select(desk.sd_jwt, ("name", "sex")), holder=desk.holder,
        audience="openid_federation:https://elsewhere.example", nonce=claims["nonce"],
        now=desk.fed.clock.now,
    )  # fmt: skip
    assert desk.post(request, presentation).status_code == 400
    assert desk.result(request["id"]).json()["result"]["reason"] == "HOLDER_BINDING_FAILED"


def test_a_stale_kb_jwt_is_refused(desk: Desk) -> None:
    request = desk.ask()
    presentation = desk.present(request)
    desk.fed.clock.advance(61)
    assert desk.post(request, presentation).status_code == 400
    assert desk.result(request["id"]).json()["result"]["reason"] == "HOLDER_BINDING_FAILED"


@pytest.mark.parametrize("action", ["revoke", "suspend"])
def test_a_revoked_or_suspended_credential_answers_its_status(desk: Desk, action: str) -> None:
    changed = desk.client.post(
        f"/api/v1/credentials/{desk.credential_id}/{action}",
        json={"reason": "测试"},
        headers=auth(desk.agency.api_key),
    )
    assert changed.status_code == 200, changed.text
    request = desk.ask()
    assert desk.post(request, desk.present(request)).status_code == 400
    result = desk.result(request["id"]).json()["result"]
    assert result["reason"] == {"revoke": "REVOKED", "suspend": "SUSPENDED"}[action]
    assert result["message"]["zh"]


@pytest.mark.parametrize(
    ("vp_token", "content_type"),
    [
        ("not json", None),
        (json.dumps({"other": ["x"]}), None),
        (json.dumps({"credential": ["a", "b"]}), None),
        (json.dumps({"credential": [7]}), None),
        (json.dumps(["x"]), None),
        ("x" * 50_000, None),
        ("", "application/json"),
    ],
    ids=["not-json", "another-query-id", "two", "not-a-string", "a-list", "too-long", "json"],
)
def test_a_malformed_answer_is_400_and_leaves_the_request_open(
    desk: Desk, vp_token: str, content_type: str | None
) -> None:
    request = desk.ask()
    data = {"vp_token": vp_token, "state": request["claims"]["state"]}
    url = f"/oid4vp/responses/{request['id']}"
    if content_type is None:
        answer = desk.client.post(url, data=data)
    else:
        answer = desk.client.post(url, json=data)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request"
    assert answer.json()["message"]
    assert desk.result(request["id"]).json()["state"] == "pending"


def test_an_oversized_body_is_refused_before_it_is_read_whole(desk: Desk) -> None:
    request = desk.ask()
    answer = desk.client.post(
        f"/oid4vp/responses/{request['id']}",
        content=b"vp_token=" + b"x" * 200_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400
    assert "at most" in answer.json()["message_en"]


def test_a_single_string_vp_token_is_accepted(desk: Desk) -> None:
    request = desk.ask()
    data = {"vp_token": json.dumps({"credential": desk.present(request)}),
            "state": request["claims"]["state"]}  # fmt: skip
    answered = desk.client.post(f"/oid4vp/responses/{request['id']}", data=data)
    assert answered.status_code == 200, answered.text


def test_a_counter_reads_only_its_own_requests(desk: Desk) -> None:
    request = desk.ask()
    assert desk.client.get(f"/api/v1/presentation-requests/{request['id']}").status_code == 401
    hz = desk.fed.gateways[HZ]
    _, other_key = verifiers.add_verifier(hz, name="另一前台", role="hotel-desk", actor="t")
    other = desk.client.get(
        f"/api/v1/presentation-requests/{request['id']}", headers=auth(other_key)
    )
    assert other.status_code == 404


def test_a_revocation_by_another_process_is_seen_by_the_next_presentation(desk: Desk) -> None:
    hz = desk.fed.gateways[HZ]
    other = Gateway.open(hz.settings, clock=desk.fed.clock)  # the CLI: own engine, own state
    try:
        status.change(
            other, credential_id=desk.credential_id, action="revoke", reason="证件挂失",
            actor="t", agency_id=None,
        )  # fmt: skip
    finally:
        other.close()
    request = desk.ask()  # at once: before this gateway's next poll of the shared version
    assert desk.post(request, desk.present(request)).status_code == 400
    assert desk.result(request["id"]).json()["result"]["reason"] == "REVOKED"


def test_two_answers_racing_past_the_read_store_one(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both pass the unanswered check before either stores: the conditional UPDATE lets one
    through and refuses the other."""
    request = desk.ask()
    presentation = desk.present(request)
    form = {
        "vp_token": json.dumps({"credential": [presentation]}),
        "state": request["claims"]["state"],
    }
    hz = desk.fed.gateways[HZ]
    outcomes: list[str] = []

    def answer() -> None:
        try:
            presentation_answers.answer(hz, request["id"], form)
            outcomes.append("stored")
        except ResponseRefused as exc:
            outcomes.append(exc.message_en)

    race_past(monkeypatch, presentation_answers, "verify_presentation", answer)
    assert sorted(outcomes)[-1] == "stored"
    assert "answered" in sorted(outcomes)[0]
    assert desk.result(request["id"]).json()["result"]["reason"] == "VALID"
