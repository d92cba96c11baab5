"""Delegated use end to end with real processes (委托用证, issue 10): the company's CLI wallet
delegates its business licence to an agent (``ecert wallet delegate``), the agent's own wallet
receives the delegated copy with the printed link and PIN, shows it at the bank counter by a
reference code and by a presentation, and the counter sees the licence shown by 张三; the company
lists its delegations and reads the uses naming the delegate, revokes, and the agent's next code
is refused with DELEGATION_REVOKED."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

from gateway.clock import today_in_china
from tests.cli.helpers import ecert
from tests.cli.hotel_desk import BANK, hotel_desk, ok
from tests.cli.wallet_helpers import PASSPHRASE
from tests.issuers.samples import SAMPLE_SUBJECTS

LICENCE = SAMPLE_SUBJECTS["business-licence"]


def test_a_company_delegates_its_licence_to_an_agent_and_revokes_it(tmp_path: Path) -> None:
    until = (today_in_china(int(time.time())) + timedelta(days=30)).isoformat()
    agent = ["--wallet-dir", str(tmp_path / "agent"), "--passphrase", PASSPHRASE]
    with hotel_desk(tmp_path, setting=BANK) as d:
        (licence,) = d.kept()
        ok(ecert("wallet", "init", *agent, "--json"))
        delegate = ["wallet", "delegate", "--credential", licence["id"], "--name", "张三",
                    "--purpose", "银行开户", "--purpose", "税务登记", "--until", until,
                    *d.walleted]  # fmt: skip
        printed = ecert(*delegate)
        assert printed.returncode == 0, printed
        lines = printed.stdout.splitlines()
        assert lines[0].startswith("已委托 · delegated：dl-")
        assert "给代理人 to 张三（银行开户、税务登记；至 until " in lines[0]
        assert lines[2].startswith("领取链接 · offer：openid-credential-offer://")
        assert lines[3].startswith("取证码 · PIN：")
        made = ok(ecert(*delegate, "--json"))  # a second delegation, to the same agent
        offer = made["offer"]
        copy = ok(ecert("wallet", "receive", offer["offer_uri"], "--pin", offer["tx_code"],
                        *agent, "--json"))  # fmt: skip
        assert copy["claims"]["delegation"]["delegate"] == "张三"

        code = ok(ecert("wallet", "code", copy["id"], *agent, "--json"))
        resolve = ["counter", "resolve", *d.hz, "--verifier", d.verifier["id"]]
        shown = ecert(*resolve, "--reason", "银行开户（基本户）", code["display"])
        assert shown.returncode == 0, shown
        assert "✓ 证照有效 · Certificate is valid (VALID)" in shown.stdout
        assert "由授权代理人 张三 出示 · shown by authorised delegate 张三" in shown.stdout
        assert f"委托人 · delegated by：{LICENCE['name']}" in shown.stdout
        assert f"名称 Name：{LICENCE['name']}" in shown.stdout
        scope = ok(ecert("wallet", "code", copy["id"], *agent, "--json"))
        outside = ecert(*resolve, "--reason", "贷款审批", scope["code"], "--json")
        assert outside.returncode == 1, outside
        assert outside.json()["reason"] == "DELEGATION_OUT_OF_SCOPE"

        request = ok(ecert(*d.ask("name,uscc")))
        presented = ecert("wallet", "present", request["uri"], *agent, *d.trusting, "--yes")
        assert presented.returncode == 0, presented
        result = ecert("counter", "result", request["id"], *d.hz)
        assert result.returncode == 0, result
        assert "由授权代理人 张三 出示 · shown by authorised delegate 张三" in result.stdout

        listed = ecert("wallet", "delegations", *d.walleted)
        assert listed.returncode == 0, listed
        (mine,) = [line for line in listed.stdout.splitlines() if line.startswith(made["id"])]
        assert "张三  银行开户、税务登记" in mine
        assert "有效 · active  已领取 · received" in mine
        assert len(listed.stdout.splitlines()) == 2  # the first delegation, never received
        uses = ok(ecert("wallet", "uses", licence["id"], *d.walleted, "--json"))["uses"]
        assert [u["shown_by"]["kind"] for u in uses] == ["delegate"] * 3
        assert {u["reason_code"] for u in uses} == {"VALID", "DELEGATION_OUT_OF_SCOPE"}
        read = ecert("wallet", "uses", licence["id"], *d.walleted)
        assert "由代理人 张三 出示 · shown by delegate 张三" in read.stdout

        revoked = ecert("wallet", "revoke-delegation", made["id"], *d.walleted)
        assert revoked.returncode == 0, revoked
        assert revoked.stdout.startswith(f"已撤销委托 · delegation revoked：{made['id']}")
        refused = ecert("wallet", "code", copy["id"], *agent)
        assert refused.returncode != 0, refused
        assert "DELEGATION_REVOKED" in refused.one_error_line()
        assert "持证人已撤销对该代理人的委托" in refused.one_error_line()
        unknown = ecert("wallet", "revoke-delegation", "dl-none", *d.walleted)
        assert "--credential" in unknown.one_error_line()
        bad = ecert(*delegate[:-4], "--until", "someday", *d.walleted)
        assert bad.returncode != 0
        assert "YYYY-MM-DD" in bad.one_error_line()
