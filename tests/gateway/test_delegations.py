"""Delegated use (委托用证, issue 10): a 杭州 company's wallet delegates its business licence to an
agent (张三) for a purpose until a date; the agent's wallet receives a delegated copy bound to its
own key and shows it by reference code or OpenID4VP presentation at a bank counter, which sees
the licence and that an authorised delegate shows it; revoking, expiry, a reason outside the
purposes and the original's status each refuse with their reason code; the use records name the
delegate. One test per rule, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway import keystore, status, verifiers
from gateway.clock import CHINA_TZ, end_of_day
from gateway.models import CredentialRow, ReferenceUseRow
from tests.conftest import Agency, FakeClock, make_agency
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.helpers import WALLET_ORIGIN, assert_json_post_preflighted, auth
from tests.gateway.test_presentation_answers import HZ, YRD, Desk, _receive, redeem
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.holder_proof import make_holder_proof
from trust.keys import SigningKey
from trust.sdjwt.issue import SdJwt
from trust.statuslist import StatusReference

LICENCE = SAMPLE_SUBJECTS["business-licence"]
AMR_USCC = "11330100MB1958123M"
UNTIL = "2027-06-30"
PURPOSE = "银行开户"
FIELDS = ("name", "uscc", "legal_representative")
BANK_ASK = {"type": "business-licence", "fields": list(FIELDS), "reason": "银行开户（对公账户）"}


@dataclass
class Office:
    """杭州, its market regulator, a bank counter, a company's wallet holding its licence."""

    fed: Federation
    client: TestClient
    amr: Agency
    bank_key: str
    credential_id: str
    licence: SdJwt
    company: SigningKey

    @property
    def base(self) -> str:
        return str(self.client.base_url).rstrip("/")

    def proof(self, key: SigningKey, sd_jwt: SdJwt) -> str:
        ref = StatusReference.from_claims(sd_jwt.unverified_payload())
        assert ref is not None
        return make_holder_proof(key, audience=self.base, credential=ref, now=self.fed.clock())

    def delegate(
        self, key: SigningKey | None = None, sd_jwt: SdJwt | None = None, **body: Any
    ) -> Any:
        """The holder of ``sd_jwt`` (the company's licence by default) delegates it."""
        proof = self.proof(key or self.company, sd_jwt or self.licence)
        sent = {"name": "张三", "purposes": [PURPOSE], "until": UNTIL, **body}
        return self.client.post("/api/v1/delegations", json={"proof": proof, **sent})

    def listed(self, key: SigningKey | None = None, sd_jwt: SdJwt | None = None) -> Any:
        proof = self.proof(key or self.company, sd_jwt or self.licence)
        answer = self.client.post("/api/v1/delegations/list", json={"proof": proof})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def revoke(self, delegation_id: str, key: SigningKey | None = None,
               sd_jwt: SdJwt | None = None) -> Any:  # fmt: skip
        proof = self.proof(key or self.company, sd_jwt or self.licence)
        return self.client.post(
            "/api/v1/delegations/revoke", json={"proof": proof, "delegation_id": delegation_id}
        )

    def agent(self, made: dict[str, Any]) -> tuple[SigningKey, SdJwt]:
        """The agent's wallet receives the copy with the offer link and PIN."""
        key = SigningKey.generate()
        return key, redeem(self.client, self.fed.clock, made["offer"], key, "business-licence")

    def code(self, key: SigningKey, sd_jwt: SdJwt) -> Any:
        return self.client.post("/api/v1/references", json={"proof": self.proof(key, sd_jwt)})

    def resolve(self, code: str, reason: str = "银行开户（对公账户）") -> dict[str, Any]:
        answer = self.client.post(
            "/api/v1/references/resolve",
            json={"code": code, "reason": reason},
            headers=auth(self.bank_key),
        )
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def uses(self, key: SigningKey, sd_jwt: SdJwt) -> list[dict[str, Any]]:
        answer = self.client.post(
            "/api/v1/references/uses", json={"proof": self.proof(key, sd_jwt)}
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()["records"]
        payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==").decode())
        return list(payload["uses"])

    def desk(self, key: SigningKey, sd_jwt: SdJwt) -> Desk:
        """The bank counter, asking wallets for presentations (the shared test desk)."""
        return Desk(self.fed, self.client, self.bank_key, self.amr, self.credential_id, sd_jwt,
                    key)  # fmt: skip


@pytest.fixture
def office(tmp_path: Path, clock: FakeClock, db_url: str) -> Iterator[Office]:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["business-licence"],
                      database_url=db_url)  # fmt: skip
        amr = make_agency(
            hz, name="杭州市市场监督管理局", uscc=AMR_USCC, types=["business-licence"]
        )
        _row, bank = verifiers.add_verifier(
            hz, name="工商银行西湖支行对公柜台", role="bank-counter", actor="t"
        )
        client = fed.client(HZ)
        company = SigningKey.generate()
        credential_id, licence = _receive(client, clock, amr, company, "business-licence")
        yield Office(fed, client, amr, bank, credential_id, licence, company)


def _made(office: Office, **body: Any) -> dict[str, Any]:
    made = office.delegate(**body)
    assert made.status_code == 201, made.text
    return dict(made.json())


def _code(office: Office, key: SigningKey, sd_jwt: SdJwt) -> str:
    made = office.code(key, sd_jwt)
    assert made.status_code == 201, made.text
    return str(made.json()["code"])


def _fields(result: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f["value"] for f in result["fields"]}


def test_the_agent_receives_a_copy_of_its_own_status_entry_with_the_delegation_in_plain_view(
    office: Office,
) -> None:
    made = _made(office, purposes=[PURPOSE, " 税务登记 ", "银行开户"])
    assert made["delegate"] == "张三"
    assert made["purposes"] == [PURPOSE, "税务登记"]  # trimmed, the repeat dropped
    assert made["until"] == "2027-06-30T23:59:59+08:00"
    assert made["state"] == "active"
    assert made["received"] is False
    assert len(made["offer"]["tx_code"]) == 6
    agent, copy = office.agent(made)
    payload = copy.unverified_payload()
    original = office.licence.unverified_payload()
    assert payload["status"] != original["status"]  # its own entry: revoked alone
    assert payload["exp"] == end_of_day(date(2027, 6, 30))
    assert payload["cnf"]["jwk"]["x"] == agent.public.jwk["x"]
    assert payload["delegation"] == {
        "id": made["id"],
        "delegate": "张三",
        "purposes": [PURPOSE, "税务登记"],
        "until": payload["exp"],
        "by": {"name": LICENCE["name"], "status_list": original["status"]["status_list"]},
    }
    assert "delegation" not in {d.name for d in copy.disclosures}
    (listed,) = office.listed()["delegations"]
    assert (listed["id"], listed["received"], listed["state"]) == (made["id"], True, "active")
    assert listed["state_text"] == {"zh": "有效", "en": "active"}
    # The agent's own proof lists its own delegation, never the company's others.
    assert [d["id"] for d in office.listed(agent, copy)["delegations"]] == [made["id"]]
    with office.fed.gateways[HZ].sessions() as session:
        row = session.get(CredentialRow, office.credential_id)
        assert row is not None
        assert keystore.live_credentials(session, row.kid, office.fed.clock()) == [row]


def test_a_delegate_code_shows_the_licence_and_the_delegate_and_records_the_use(
    office: Office,
) -> None:
    made = _made(office)
    agent, copy = office.agent(made)
    result = office.resolve(_code(office, agent, copy))
    assert result["reason"] == "VALID", result["detail"]
    assert _fields(result)["name"] == LICENCE["name"]
    assert _fields(result)["uscc"] == LICENCE["uscc"]
    assert result["delegation"] == {
        "id": made["id"],
        "delegate": "张三",
        "purposes": [PURPOSE],
        "until": "2027-06-30T23:59:59+08:00",
        "delegated_by": {
            "name": LICENCE["name"],
            "status_list": office.licence.unverified_payload()["status"]["status_list"],
        },
    }
    # The company's own code: shown by the holder, no delegation.
    own = office.resolve(_code(office, office.company, office.licence), reason="开户")
    assert own["reason"] == "VALID"
    assert own["delegation"] is None
    with office.fed.gateways[HZ].sessions() as session:
        rows = session.scalars(select(ReferenceUseRow).order_by(ReferenceUseRow.id)).all()
    assert [(r.credential_id, r.delegation_id, r.delegate_name) for r in rows] == [
        (office.credential_id, made["id"], "张三"),
        (office.credential_id, None, None),
    ]
    company_sees = office.uses(office.company, office.licence)
    assert [u["shown_by"] for u in company_sees] == [
        {"kind": "holder"},
        {"kind": "delegate", "name": "张三", "delegation_id": made["id"]},
    ]
    assert [u["shown_by"]["kind"] for u in office.uses(agent, copy)] == ["delegate"]


def test_a_reason_outside_the_purposes_is_refused_naming_them(office: Office) -> None:
    agent, copy = office.agent(_made(office, purposes=[PURPOSE, "税务登记"]))
    result = office.resolve(_code(office, agent, copy), reason="贷款审批")
    assert result["reason"] == "DELEGATION_OUT_OF_SCOPE"
    assert result["message"] == {
        "zh": "用证事由不在委托范围内",
        "en": "The stated reason is outside the purposes of the delegation",
    }
    assert "['银行开户', '税务登记']" in result["detail"]
    assert result["fields"] == []
    assert result["delegation"]["delegate"] == "张三"
    # Case, width and blanks do not matter: "ＴＡＸ filing" names the purpose "tax filing".
    agent2, copy2 = office.agent(_made(office, name="李四", purposes=["tax filing"]))
    assert (
        office.resolve(_code(office, agent2, copy2), reason="ＴＡＸ  Filing")["reason"] == "VALID"
    )


def test_revoking_refuses_a_code_made_before_and_any_new_one(office: Office) -> None:
    made = _made(office)
    agent, copy = office.agent(made)
    code = _code(office, agent, copy)
    revoked = office.revoke(made["id"])
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    result = office.resolve(code)
    assert result["reason"] == "DELEGATION_REVOKED"
    assert result["message"]["zh"] == "持证人已撤销对该代理人的委托"
    assert result["fields"] == []
    refused = office.code(agent, copy)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"]["reason"] == "DELEGATION_REVOKED"
    assert refused.json()["detail"]["message"].startswith("持证人已撤销对该代理人的委托")
    again = office.revoke(made["id"])
    assert again.status_code == 409, again.text
    assert "已于" in again.json()["detail"]["message"]
    assert office.listed()["delegations"][0]["state"] == "revoked"
    # The company's own licence is untouched.
    assert office.resolve(_code(office, office.company, office.licence))["reason"] == "VALID"
    with office.fed.gateways[HZ].sessions() as session:
        (use,) = session.scalars(
            select(ReferenceUseRow).where(ReferenceUseRow.delegation_id.is_not(None))
        )
        assert use.reason_code == "DELEGATION_REVOKED"


def test_an_expired_delegation_refuses_codes(office: Office) -> None:
    clock = office.fed.clock
    until = clock.now + 3600
    made = _made(office, until=datetime.fromtimestamp(until, CHINA_TZ).isoformat())
    agent, copy = office.agent(made)
    clock.now = until - 100
    code = _code(office, agent, copy)  # made 100 s before the delegation ends
    clock.advance(200)  # the code lives 300 s, the delegation ended 100 s ago
    assert office.resolve(code)["reason"] == "DELEGATION_EXPIRED"
    refused = office.code(agent, copy)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"]["reason"] == "DELEGATION_EXPIRED"
    assert office.listed()["delegations"][0]["state"] == "expired"


def test_suspending_and_revoking_the_original_reach_the_delegate(office: Office) -> None:
    made = _made(office)
    agent, copy = office.agent(made)
    hz = office.fed.gateways[HZ]

    def change(action: str) -> None:
        status.change(hz, credential_id=office.credential_id, action=action, reason="经营异常",
                      actor="t", agency_id=None)  # fmt: skip

    change("suspend")
    refused = office.code(agent, copy)
    assert refused.status_code == 403
    assert refused.json()["detail"]["reason"] == "SUSPENDED"
    assert office.listed()["delegations"][0]["state"] == "suspended"
    change("reinstate")
    code = _code(office, agent, copy)
    change("suspend")
    assert office.resolve(code)["reason"] == "SUSPENDED"
    change("reinstate")
    assert office.resolve(_code(office, agent, copy))["reason"] == "VALID"
    code = _code(office, agent, copy)
    change("revoke")
    assert office.resolve(code)["reason"] == "REVOKED"  # the licence itself, not the delegation
    assert office.listed()["delegations"][0]["state"] == "ended"
    with hz.sessions() as session:
        copy_row = session.scalars(
            select(CredentialRow).where(CredentialRow.delegated_from == office.credential_id)
        ).one()
        assert copy_row.status_code == "03"


def test_a_delegate_presentation_shows_the_delegate_and_is_recorded(office: Office) -> None:
    made = _made(office)
    agent, copy = office.agent(made)
    bank = office.desk(agent, copy)
    request = bank.ask(BANK_ASK)
    answered = bank.post(request, bank.present(request, FIELDS))
    assert answered.status_code == 200, answered.text
    result = bank.result(request["id"]).json()["result"]
    assert result["reason"] == "VALID", result["detail"]
    assert result["holder_binding"] is True
    assert _fields(result) == {f: LICENCE[f] for f in FIELDS}
    assert result["delegation"]["delegate"] == "张三"
    assert result["delegation"]["delegated_by"]["name"] == LICENCE["name"]
    (use,) = office.uses(office.company, office.licence)
    assert use["shown_by"] == {"kind": "delegate", "name": "张三", "delegation_id": made["id"]}
    assert (use["reason"], sorted(use["fields"])) == (BANK_ASK["reason"], sorted(FIELDS))

    request = bank.ask({**BANK_ASK, "reason": "贷款审批"})
    assert bank.post(request, bank.present(request, FIELDS)).status_code == 400
    result = bank.result(request["id"]).json()["result"]
    assert result["reason"] == "DELEGATION_OUT_OF_SCOPE"
    assert result["fields"] == []

    assert office.revoke(made["id"]).status_code == 200
    request = bank.ask(BANK_ASK)
    refused = bank.post(request, bank.present(request, FIELDS))
    assert refused.status_code == 400
    assert "DELEGATION_REVOKED" in refused.json()["message"]
    assert bank.result(request["id"]).json()["result"]["reason"] == "DELEGATION_REVOKED"


def test_an_expired_delegate_presentation_is_refused(office: Office) -> None:
    agent, copy = office.agent(_made(office, until="2026-09-22"))
    office.fed.clock.now = end_of_day(date(2026, 9, 22)) + 1
    bank = office.desk(agent, copy)
    request = bank.ask(BANK_ASK)
    assert bank.post(request, bank.present(request, FIELDS)).status_code == 400
    result = bank.result(request["id"]).json()["result"]
    assert result["reason"] == "DELEGATION_EXPIRED"
    assert result["delegation"]["delegate"] == "张三"
    office.fed.clock.advance(60)  # past the SD-JWT's leeway on exp too
    request = bank.ask(BANK_ASK)
    assert bank.post(request, bank.present(request, FIELDS)).status_code == 400
    assert bank.result(request["id"]).json()["result"]["reason"] == "DELEGATION_EXPIRED"


@pytest.mark.parametrize(
    ("body", "field", "zh"),
    [
        ({"name": "  "}, "name", "代理人姓名"),
        ({"name": "张" * 65}, "name", "代理人姓名"),
        ({"purposes": []}, "purposes", "委托事项"),
        ({"purposes": [f"事项{i}" for i in range(6)]}, "purposes", "委托事项"),
        ({"purposes": ["长" * 61]}, "purposes", "每项委托事项"),
        ({"until": "30/06/2027"}, "until", "YYYY-MM-DD"),
        ({"until": "2026-09-20"}, "until", "委托期限须晚于当前时间"),
        ({"until": "2027-09-30"}, "until", "一年之内"),
    ],
    ids=[
        "blank-name",
        "long-name",
        "no-purpose",
        "six-purposes",
        "long-purpose",
        "bad-date",
        "past",
        "beyond-a-year",
    ],
)
def test_bad_inputs_are_422_in_chinese_and_english(
    office: Office, body: dict[str, Any], field: str, zh: str
) -> None:
    refused = office.delegate(**body)
    assert refused.status_code == 422, refused.text
    detail = refused.json()["detail"]
    (error,) = [e for e in detail["errors"] if e["field"] == field]
    assert zh in error["message"]
    assert error["message_en"].startswith("expected")
    assert office.listed()["delegations"] == []


def test_oversized_and_malformed_bodies_are_4xx_never_5xx(office: Office) -> None:
    proof = office.proof(office.company, office.licence)
    for body in (
        {"proof": proof, "name": "张三", "purposes": ["x"] * 21, "until": UNTIL},
        {"proof": proof, "name": "张三", "purposes": "银行开户", "until": UNTIL},
        {"proof": "x" * 5000, "name": "张三", "purposes": [PURPOSE], "until": UNTIL},
        {"proof": proof, "name": "张三", "purposes": [PURPOSE], "until": UNTIL, "extra": 1},
        {"proof": "not a jwt", "name": "张三", "purposes": [PURPOSE], "until": UNTIL},
    ):
        answer = office.client.post("/api/v1/delegations", json=body)
        assert 400 <= answer.status_code < 500, answer.text
        assert answer.json()["detail"]["message"]
    long_id = office.revoke("dl-" + "x" * 70)
    assert long_id.status_code == 422, long_id.text
    unknown = office.revoke("dl-unknown")
    assert unknown.status_code == 404, unknown.text
    assert "此证照没有该委托" in unknown.json()["detail"]["message"]


def test_a_copy_a_personal_type_and_a_stranger_cannot_delegate(office: Office) -> None:
    made = _made(office)
    agent, copy = office.agent(made)
    resent = office.delegate(agent, copy, name="王五")
    assert resent.status_code == 422, resent.text
    assert "委托副本" in resent.json()["detail"]["message"]
    # The agent cannot revoke the company's delegation: its proof names the copy.
    assert office.revoke(made["id"], agent, copy).status_code == 404
    forged = office.delegate(SigningKey.generate(), office.licence)
    assert forged.status_code == 401, forged.text
    hz = office.fed.gateways[HZ]
    psb = make_agency(hz, name="杭州市公安局", uscc="11330100002490365L", types=["resident-eid"])
    person = SigningKey.generate()
    _cid, eid = _receive(office.client, office.fed.clock, psb, person)
    personal = office.delegate(person, eid)
    assert personal.status_code == 422, personal.text
    assert "个人证照" in personal.json()["detail"]["message"]


def test_the_copy_is_left_out_of_a_key_compromise_re_issue(office: Office) -> None:
    _made(office)
    hz = office.fed.gateways[HZ]
    with hz.sessions() as session:
        original = session.get(CredentialRow, office.credential_id)
        assert original is not None
        kid = original.kid
    _row, affected = keystore.compromise(hz, kid=kid, at=None, reason="泄露", actor="t")
    assert [r.id for r in affected] == [office.credential_id]


def test_the_agency_sees_a_copy_as_one_and_cannot_offer_it_to_another_wallet(
    office: Office,
) -> None:
    _made(office)
    hz = office.fed.gateways[HZ]
    with hz.sessions() as session:
        copy_id = session.scalars(
            select(CredentialRow.id).where(CredentialRow.delegated_from == office.credential_id)
        ).one()
    read = office.client.get(f"/api/v1/credentials/{copy_id}", headers=auth(office.amr.api_key))
    assert read.status_code == 200, read.text
    assert read.json()["delegated_from"] == office.credential_id
    original = office.client.get(
        f"/api/v1/credentials/{office.credential_id}", headers=auth(office.amr.api_key)
    )
    assert original.json()["delegated_from"] is None
    offered = office.client.post(
        f"/api/v1/credentials/{copy_id}/wallet-offer", json={}, headers=auth(office.amr.api_key)
    )
    assert offered.status_code == 400, offered.text
    assert "委托副本" in offered.json()["message"]


def test_the_delegation_endpoints_answer_any_origin(office: Office) -> None:
    """A web wallet served by another gateway delegates, lists and revokes: answers, errors
    (every kind the three answer) and the preflight of their JSON POST carry CORS."""
    paths = ("/api/v1/delegations", "/api/v1/delegations/list", "/api/v1/delegations/revoke")
    for path in paths:
        assert_json_post_preflighted(office.client, path)
    made = office.delegate()
    listed = office.client.post(
        "/api/v1/delegations/list", json={"proof": office.proof(office.company, office.licence)}
    )
    revoked = office.revoke(made.json()["id"])
    again = office.revoke(made.json()["id"])
    agent, copy = office.agent(_made(office))
    answers = {
        "made": (made, 201),
        "listed": (listed, 200),
        "revoked": (revoked, 200),
        "revoked again": (again, 409),
        "unknown delegation": (office.revoke("dl-unknown"), 404),
        "bad fields": (office.delegate(name=" ", purposes=[], until="2026-01-01"), 422),
        "a copy delegated": (office.delegate(agent, copy, name="王五"), 422),
        "another key": (office.delegate(SigningKey.generate(), office.licence), 401),
        "malformed": (office.client.post(paths[0], json={"proof": 7}, headers=WALLET_ORIGIN), 422),
    }
    for case, (answer, status_code) in answers.items():
        assert answer.status_code == status_code, (case, answer.text)
        assert answer.headers["access-control-allow-origin"] == "*", case
        assert "access-control-allow-credentials" not in answer.headers, case
        if status_code >= 400:
            assert answer.json()["detail"]["message"], case  # readable cross-origin, in Chinese
        else:
            assert answer.headers["cache-control"] == "no-store", case  # the offer's PIN
    fields = {e["field"] for e in answers["bad fields"][0].json()["detail"]["errors"]}
    assert fields == {"name", "purposes", "until"}
