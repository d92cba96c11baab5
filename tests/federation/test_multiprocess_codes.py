"""Reference codes (亮证码), delegated use (委托用证) and use records across real processes
(issue 10, Done when): six ``ecert serve`` processes set up by ``start_federation`` (苏州's data
on PostgreSQL when the suite has one), the CLI wallet of a 杭州 holder, counters of 苏州 and 北京
resolving over HTTP. Codes live :data:`CODE_TTL` seconds here (``ECERT_REFERENCE_TTL``; 300 s
by default), so that expiry is seen without waiting five minutes.

Each record a holder reads is checked here with jwcrypto against the keys of 杭州's entity
configuration, besides the CLI wallet's own check."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwcrypto.jwk
import jwcrypto.jws
import pytest

from cli.federation_demo_procs import DemoFederation, DemoGateway
from cli.wallet_code import _proof
from gateway.clock import today_in_china
from tests.cli.helpers import ecert
from tests.cli.wallet_helpers import PASSPHRASE
from tests.federation.helpers import (
    Timings,
    http_client,
    issue,
    payload,
    reason_is,
    running_federation,
)
from tests.gateway.holders import fresh_subject

pytestmark = pytest.mark.slow

CODE_TTL = 20  # ECERT_REFERENCE_TTL for every gateway, seconds
REASON = "旅馆住宿登记"


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFederation]:
    base = tmp_path_factory.mktemp("federation") / "demo"
    with running_federation(base, refresh=2, status_ttl=3, reference_ttl=CODE_TTL) as running:
        yield running


@pytest.fixture(scope="module")
def timings() -> Timings:
    return Timings()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with http_client() as client:
        yield client


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result
    return result.json()


def _desk(g: DemoGateway, name: str, role: str = "hotel-desk") -> dict[str, Any]:
    """A counter registered with ``ecert verifier add`` on ``g``'s data, while it serves."""
    added = ecert("verifier", "add", "--data-dir", str(g.data_dir), "--name", name,
                  "--role", role, "--json", env=g.env)  # fmt: skip
    desk: dict[str, Any] = _ok(added)
    return desk


def _resolve(
    http: httpx.Client, g: DemoGateway, desk: dict[str, Any], code: str, reason: str = REASON
) -> dict[str, Any]:
    answer = http.post(
        f"{g.url}/api/v1/references/resolve",
        headers={"Authorization": f"Bearer {desk['api_key']}"},
        json={"code": code, "reason": reason},
    )
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def _fields(shown: dict[str, Any]) -> dict[str, Any]:
    return {f["name"]: f["value"] for f in shown["fields"]}


def _wallet(tmp_path: Path, name: str) -> list[str]:
    walleted = ["--wallet-dir", str(tmp_path / name), "--passphrase", PASSPHRASE]
    _ok(ecert("wallet", "init", *walleted, "--json"))
    return walleted


def _receive(walleted: list[str], offer: dict[str, Any]) -> dict[str, Any]:
    kept: dict[str, Any] = _ok(
        ecert("wallet", "receive", offer["offer_uri"], "--pin", offer["tx_code"], *walleted,
              "--json")
    )  # fmt: skip
    return kept


def _code(walleted: list[str], credential_id: str) -> dict[str, Any]:
    made: dict[str, Any] = _ok(ecert("wallet", "code", credential_id, *walleted, "--json"))
    return made


def _signed_records(http: httpx.Client, hz: DemoGateway, wallet_dir: Path, cred: str) -> Any:
    """The use records as 杭州 signs them, checked with jwcrypto (not our code) against the keys
    of 杭州's self-signed entity configuration."""
    gateway, proof = _proof(wallet_dir, cred, PASSPHRASE)
    assert gateway == hz.url
    answer = http.post(f"{hz.url}/api/v1/references/uses", json={"proof": proof})
    assert answer.status_code == 200, answer.text
    token = answer.json()["records"]
    configuration = http.get(f"{hz.url}/.well-known/openid-federation").text
    keys = jwcrypto.jwk.JWKSet.from_json(json.dumps(payload(configuration)["jwks"]))
    parsed = jwcrypto.jws.JWS()
    parsed.deserialize(token)
    parsed.verify(keys)  # by the header's kid; raises when no key of 杭州's verifies it
    assert parsed.jose_header["typ"] == "ecert-use-records+jwt"
    return json.loads(parsed.payload)


def test_a_hangzhou_holders_code_resolves_at_suzhou_once_and_is_refused_in_beijing(
    fed: DemoFederation, http: httpx.Client, tmp_path: Path, timings: Timings
) -> None:
    """A 杭州 holder shows a code; a 苏州 hotel desk resolves it with a reason and sees the
    masked ID number; the same code again is refused; the code the wallet showed before its
    refresh (a screenshot) still dies at its first use, and a code past its lifetime is
    refused; a 北京 desk is refused by policy and the code stays unused; the holder's history
    lists each 苏州 use with its reason and fields, signed by 杭州."""
    hz, sz, bj = fed["hangzhou"], fed["suzhou"], fed["beijing"]
    walleted = _wallet(tmp_path, "wallet")
    subject = {**fresh_subject("resident-eid"), "name": "钱塘"}
    full = subject["id_number"]
    eid = issue(http, hz, "resident-eid", subject, wallet_offer=True)
    kept = _receive(walleted, eid["wallet_offer"])
    reason_is(http, sz, eid["qr_text"], "VALID")  # 苏州's trust list holds 杭州's 公安局
    sz_desk, bj_desk = _desk(sz, "苏州站旅馆前台"), _desk(bj, "北京站旅馆前台")

    shown_code = _code(walleted, kept["id"])
    assert shown_code["display"].startswith("330100-"), shown_code  # 杭州's code routes there
    refreshed = _code(walleted, kept["id"])  # the wallet's next code, a minute later
    refreshed_by = time.monotonic() + CODE_TTL  # it expires before this
    assert refreshed["code"] != shown_code["code"]

    started = time.monotonic()
    shown = _resolve(http, sz, sz_desk, shown_code["display"])
    timings.record("杭州 code resolved (苏州 → 杭州, signed both ways)", "suzhou",
                   time.monotonic() - started, 10)  # fmt: skip
    assert shown["reason"] == "VALID", shown
    assert _fields(shown) == {
        "name": "钱塘",
        "sex": subject["sex"],
        "id_number_masked": f"{full[:6]}********{full[-4:]}",
    }
    assert full not in json.dumps(shown, ensure_ascii=False)
    assert [link["role"] for link in shown["issuer"]["chain"]][:2] == ["agency", "city"]
    again = _resolve(http, sz, sz_desk, shown_code["display"])
    assert again["reason"] == "REFERENCE_USED", again
    assert again["fields"] == []

    in_beijing = _code(walleted, kept["id"])
    started = time.monotonic()
    refused = _resolve(http, bj, bj_desk, in_beijing["display"])
    timings.record("杭州 code refused by policy (北京 → 杭州)", "beijing",
                   time.monotonic() - started, 10)  # fmt: skip
    assert refused["reason"] == "NOT_ACCEPTED_BY_POLICY", refused
    assert refused["fields"] == []
    later = _resolve(http, sz, sz_desk, in_beijing["display"], reason="入住复核")
    assert later["reason"] == "VALID", later  # 北京's refusal did not spend it

    # The refreshed code was never used: past its lifetime it is refused as expired.
    time.sleep(max(0.0, refreshed_by + 1 - time.monotonic()))  # at most CODE_TTL + 1 s
    expired = _resolve(http, sz, sz_desk, refreshed["display"])
    assert expired["reason"] == "REFERENCE_EXPIRED", expired

    history = _ok(ecert("wallet", "history", "--credential", kept["id"], *walleted, "--json"))
    in_suzhou = [u for u in history["uses"] if u["city"] == "苏州市"]
    assert [(u["reason"], u["reason_code"]) for u in in_suzhou] == [
        ("入住复核", "VALID"),
        (REASON, "VALID"),
    ]
    assert all(u["counter"] == "苏州站旅馆前台" for u in in_suzhou)
    assert all(sorted(u["fields"]) == ["id_number_masked", "name", "sex"] for u in in_suzhou)
    assert all("北京" not in u["city"] or u["fields"] == [] for u in history["uses"])
    signed = _signed_records(http, hz, Path(walleted[1]), kept["id"])
    assert signed["iss"] == hz.url
    assert signed["uses"] == history["uses"]
    assert full not in json.dumps(signed, ensure_ascii=False)


def test_a_hangzhou_company_delegates_its_licence_shown_at_suzhou_until_revoked(
    fed: DemoFederation, http: httpx.Client, tmp_path: Path
) -> None:
    """A 杭州 company's wallet delegates its business licence to an agent; the agent's own
    wallet shows it by a code at a 苏州 bank counter, which sees the licence shown by the
    agent by name; the company revokes the delegation and the agent's next code is refused,
    as is a code it made before; the company's signed history lists the 苏州 use by 张三."""
    hz, sz = fed["hangzhou"], fed["suzhou"]
    company, agent = _wallet(tmp_path, "company"), _wallet(tmp_path, "agent")
    subject = fresh_subject("business-licence")
    issued = issue(http, hz, "business-licence", subject, wallet_offer=True)
    licence = _receive(company, issued["wallet_offer"])
    reason_is(http, sz, issued["qr_text"], "VALID")
    bank = _desk(sz, "苏州工业园区银行对公窗口", role="bank-counter")
    until = (today_in_china(int(time.time())) + timedelta(days=30)).isoformat()
    made = _ok(ecert("wallet", "delegate", "--credential", licence["id"], "--name", "张三",
                     "--purpose", "银行开户", "--until", until, *company, "--json"))  # fmt: skip
    copy = _receive(agent, made["offer"])
    assert copy["claims"]["delegation"]["delegate"] == "张三"

    code = _code(agent, copy["id"])
    assert code["display"].startswith("330100-"), code
    before_revocation = _code(agent, copy["id"])
    shown = _resolve(http, sz, bank, code["display"], reason="银行开户（基本户）")
    assert shown["reason"] == "VALID", shown
    assert _fields(shown)["name"] == subject["name"]
    assert shown["delegation"]["delegate"] == "张三", shown["delegation"]
    assert shown["delegation"]["delegated_by"]["name"] == subject["name"]

    revoked = ecert("wallet", "revoke-delegation", made["id"], *company)
    assert revoked.returncode == 0, revoked
    refused = ecert("wallet", "code", copy["id"], *agent)
    assert refused.returncode != 0, refused
    assert "DELEGATION_REVOKED" in refused.stdout + refused.stderr, refused
    late = _resolve(http, sz, bank, before_revocation["display"], reason="银行开户")
    assert late["reason"] == "DELEGATION_REVOKED", late
    assert late["fields"] == []

    history = _ok(ecert("wallet", "history", "--credential", licence["id"], *company, "--json"))
    in_suzhou = [u for u in history["uses"] if u["city"] == "苏州市"]
    assert [(u["reason"], u["reason_code"]) for u in in_suzhou] == [
        ("银行开户", "DELEGATION_REVOKED"),
        ("银行开户（基本户）", "VALID"),
    ]
    assert all(u["counter"] == "苏州工业园区银行对公窗口" for u in in_suzhou)
    assert all(u["shown_by"] == {"kind": "delegate", "name": "张三",
                                 "delegation_id": made["id"]} for u in in_suzhou)  # fmt: skip
    assert "name" in in_suzhou[1]["fields"]
    signed = _signed_records(http, hz, Path(company[1]), licence["id"])
    assert signed["uses"] == history["uses"]


def test_resolution_times(timings: Timings) -> None:
    """The measured numbers (visible with ``-s``; kept in the test's captured log)."""
    table = timings.table(f"reference codes over real HTTP between processes (ttl {CODE_TTL}s)")
    print("\n" + table)
    assert len(timings.rows) == 2, table
    assert all(r.seconds <= r.bound for r in timings.rows), table
