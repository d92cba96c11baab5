"""A delegate presents at another city's counter (委托用证 across cities, issue 10): 杭州's
company delegates its business licence to 张三; 张三's wallet presents the delegated copy at a
苏州 bank counter, which sees the licence and the delegate through the federation's trust list
and 杭州's status list alone; once the company revokes, 苏州 reads the copy's entry INVALID and
answers DELEGATION_REVOKED, with no central database and no call to 杭州 but the status list.
The delegate's reference code resolves at 苏州 through 杭州 likewise, and is refused once
revoked."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway import trustsync, use_reports, verifiers
from gateway.core import Gateway
from tests.conftest import FakeClock, make_agency
from tests.gateway.federation_helpers import federation_of
from tests.gateway.helpers import auth
from tests.gateway.test_delegations import AMR_USCC, BANK_ASK, FIELDS, LICENCE, Office, _made
from tests.gateway.test_presentation_across_cities import HZ, LICENCES, SZ, YRD, _sync
from tests.gateway.test_presentation_answers import Desk, _receive
from trust.keys import SigningKey
from trust.sdjwt.issue import SdJwt


@dataclass(frozen=True)
class Delegated:
    office: Office  # 杭州's company, its licence, the regulator
    made: dict[str, Any]  # POST /api/v1/delegations: the delegation to 张三
    agent: SigningKey  # 张三's wallet key
    copy: SdJwt  # the delegated copy 张三's wallet received
    sz: Gateway
    bank_key: str  # a bank counter at 苏州


@contextmanager
def _delegated(tmp_path: Path, clock: FakeClock) -> Iterator[Delegated]:
    """长三角 (杭州 and 苏州, synced), a 杭州 company's licence delegated to 张三, a 苏州 bank."""
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=LICENCES)
        sz = fed.city(SZ, anchor=YRD, code="320500", name="苏州市", types=LICENCES)
        amr = make_agency(hz, name="杭州市市场监督管理局", uscc=AMR_USCC,
                          types=["business-licence"])  # fmt: skip
        company = SigningKey.generate()
        credential_id, licence = _receive(fed.client(HZ), clock, amr, company, "business-licence")
        office = Office(fed, fed.client(HZ), amr, "", credential_id, licence, company)
        made = _made(office)
        agent, copy = office.agent(made)
        for gw in (sz, hz):
            _sync(fed, gw)
        _row, key = verifiers.add_verifier(sz, name="苏州银行对公柜台", role="bank-counter",
                                           actor="t")  # fmt: skip
        yield Delegated(office, made, agent, copy, sz, key)


def test_a_hangzhou_delegate_at_a_suzhou_bank_counter_then_revoked(
    tmp_path: Path, clock: FakeClock
) -> None:
    with _delegated(tmp_path, clock) as d:
        office, made, sz = d.office, d.made, d.sz
        fed, company, licence, amr = office.fed, office.company, office.licence, office.amr
        suzhou = Desk(fed, fed.client(SZ), d.bank_key, amr, office.credential_id, d.copy, d.agent)

        request = suzhou.ask(BANK_ASK)
        answered = suzhou.post(request, suzhou.present(request, FIELDS))
        assert answered.status_code == 200, answered.text
        result = suzhou.result(request["id"]).json()["result"]
        assert result["reason"] == "VALID", result["detail"]
        assert result["issuer"]["id"] == f"{HZ}/agencies/{amr.id}"
        assert {f["name"]: f["value"] for f in result["fields"]} == {f: LICENCE[f] for f in FIELDS}
        assert result["delegation"]["delegate"] == "张三"
        assert result["delegation"]["delegated_by"]["name"] == LICENCE["name"]
        use_reports.deliver_due(sz, fed.fetcher())  # 苏州 reports the use to 杭州 (if not yet)
        (use,) = office.uses(company, licence)
        assert use["shown_by"] == {"kind": "delegate", "name": "张三", "delegation_id": made["id"]}
        assert (use["city"], use["channel"]) == ("苏州市", "presentation")

        request = suzhou.ask({**BANK_ASK, "reason": "贷款审批"})
        assert suzhou.post(request, suzhou.present(request, FIELDS)).status_code == 400
        refused = suzhou.result(request["id"]).json()["result"]
        assert refused["reason"] == "DELEGATION_OUT_OF_SCOPE"

        assert office.revoke(made["id"]).status_code == 200
        clock.advance(301)  # 苏州 holds 杭州's status list for its ttl, then fetches it again
        trustsync.refresh_status_lists(sz, fed.fetcher())
        request = suzhou.ask(BANK_ASK)
        assert suzhou.post(request, suzhou.present(request, FIELDS)).status_code == 400
        result = suzhou.result(request["id"]).json()["result"]
        assert result["reason"] == "DELEGATION_REVOKED", result["detail"]
        assert result["fields"] == []


def test_a_hangzhou_delegate_code_at_a_suzhou_bank_counter_then_revoked(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The delegate's routable code goes from 苏州 to 杭州 and back, signed both ways: 苏州's
    counter sees the licence and 张三; 杭州 records the use for the company, naming 张三."""
    with _delegated(tmp_path, clock) as d:
        office, made, fed = d.office, d.made, d.office.fed
        agent, copy, key = d.agent, d.copy, d.bank_key

        def resolve(reason: str = BANK_ASK["reason"]) -> dict[str, Any]:
            code = office.code(agent, copy)
            assert code.status_code == 201, code.text
            answer = fed.client(SZ).post(
                "/api/v1/references/resolve",
                json={"code": code.json()["display"], "reason": reason}, headers=auth(key),
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        result = resolve()
        assert result["reason"] == "VALID", result["detail"]
        assert {f["name"] for f in result["fields"]} >= {"name", "uscc"}
        assert result["delegation"]["delegate"] == "张三"
        assert result["delegation"]["delegated_by"]["name"] == LICENCE["name"]
        assert resolve("贷款审批")["reason"] == "DELEGATION_OUT_OF_SCOPE"
        use = office.uses(office.company, office.licence)[-1]  # newest first: the valid one
        assert use["shown_by"] == {"kind": "delegate", "name": "张三", "delegation_id": made["id"]}
        assert (use["city"], use["reason"]) == ("苏州市", BANK_ASK["reason"])

        code = office.code(agent, copy).json()["display"]
        assert office.revoke(made["id"]).status_code == 200
        answer = fed.client(SZ).post(
            "/api/v1/references/resolve",
            json={"code": code, "reason": BANK_ASK["reason"]}, headers=auth(key),
        )  # fmt: skip
        assert answer.json()["reason"] == "DELEGATION_REVOKED", answer.text
        assert answer.json()["fields"] == []
