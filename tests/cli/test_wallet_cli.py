"""End to end: `ecert serve` on loopback, `ecert issue --wallet-offer`, `ecert wallet` receives
the resident e-ID through the offer (OpenID4VCI pre-authorised code + PIN) and verifies it;
the agency revokes, and the status list entry the SD-JWT VC references says revoked."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from stdnum.cn import uscc

from tests.cli.helpers import Served, ecert, ecert_many, free_port
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust import statuslist
from trust.jws import KeyIndex
from trust.keys import PublicKey

PASSPHRASE = "wallet-passphrase-for-tests"
PSB_USCC = "11330100002490365" + uscc.calc_check_digit("11330100002490365")


def test_cli_wallet_receives_a_resident_eid_and_sees_its_revocation(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data, wallet_dir = tmp_path / "data", tmp_path / "wallet"
    where = ["--data-dir", str(data)]
    walleted = ["--wallet-dir", str(wallet_dir), "--passphrase", PASSPHRASE]
    made = ecert(
        "init", *where, "--city-code", "330100", "--city-name", "杭州市", "--public-url", url
    )
    assert made.returncode == 0, made
    agency, wallet_init = ecert_many(
        [
            ["agency", "add", *where, "--name", "杭州市公安局", "--uscc", PSB_USCC,
             "--types", "resident-eid", "--json"],
            ["wallet", "init", *walleted, "--json"],
        ]
    )  # fmt: skip
    assert agency.returncode == 0, agency
    assert wallet_init.returncode == 0, wallet_init
    subject = json.dumps(SAMPLE_SUBJECTS["resident-eid"], ensure_ascii=False)
    issued = ecert(
        "issue", *where, "--agency", agency.json()["id"], "--type", "resident-eid",
        "--subject", subject, "--wallet-offer", "--json",
    )  # fmt: skip
    assert issued.returncode == 0, issued
    offer = issued.json()["wallet_offer"]
    assert offer["offer_uri"].startswith("openid-credential-offer://?credential_offer_uri=")

    with Served(["serve", *where], tmp_path, port=port) as served:
        wrong = ecert("wallet", "receive", offer["offer_uri"], "--pin", "not-it", *walleted)
        assert "取证码错误" in wrong.one_error_line()
        got = ecert(
            "wallet", "receive", offer["offer_uri"], "--pin", offer["tx_code"], *walleted, "--json"
        )
        assert got.returncode == 0, got
        record = got.json()
        eid = SAMPLE_SUBJECTS["resident-eid"]  # and the number masked by the issuer
        masked = eid["id_number"][:6] + "*" * 8 + eid["id_number"][-4:]
        assert record["claims"] == {**eid, "id_number_masked": masked}
        assert record["issuer"] == f"{url}/agencies/{agency.json()['id']}"
        again = ecert("wallet", "receive", offer["offer_uri"], "--pin", offer["tx_code"], *walleted)
        assert "invalid_grant" in again.one_error_line() or "领取链接" in again.one_error_line()
        listed, shown = ecert_many(
            [
                ["wallet", "list", "--wallet-dir", str(wallet_dir), "--json"],
                ["wallet", "show", record["id"], "--wallet-dir", str(wallet_dir), "--json"],
            ]
        )
        assert [r["id"] for r in listed.json()] == [record["id"]]
        assert shown.json()["status"] == record["status"]

        key = {"Authorization": f"Bearer {agency.json()['api_key']}"}
        with httpx.Client(base_url=served.url, timeout=30) as client:
            revoked = client.post(
                f"/api/v1/credentials/{issued.json()['id']}/revoke",
                json={"reason": "测试撤销"},
                headers=key,
            )
            assert revoked.status_code == 200, revoked.text
            ref = record["status"]["status_list"]
            token = client.get(ref["uri"]).text
            jwks = client.get("/.well-known/jwks.json").json()["keys"]
    keys = KeyIndex([PublicKey.from_jwk(k) for k in jwks])
    snap = statuslist.verify_status_list_token(
        token, keys, expected_uri=ref["uri"], now=int(time.time())
    )
    assert snap.status(ref["idx"]) == statuslist.INVALID
