"""``ecert demo``: a throw-away 杭州市 gateway whose printed keys and samples work."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import httpx
import pytest
from stdnum.cn import uscc

from tests.cli.helpers import Served

pytestmark = pytest.mark.slow


def test_demo_prints_urls_and_keys_that_issue_and_samples_that_verify(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    with Served(["demo", "--data-dir", str(data)], tmp_path) as demo:
        banner = demo.output()
        info = json.loads((data / "demo.json").read_text(encoding="utf-8"))
        assert stat.S_IMODE((data / "demo.json").stat().st_mode) == 0o600

        for path in ("/", "/v", "/docs", "/.well-known/jwks.json"):
            assert f"{demo.url}{path}\n" in banner, banner
        printed = re.findall(r"API key: (ek_\S+)", banner)
        assert printed == [a["api_key"] for a in info["agencies"]]
        assert [a["name"] for a in info["agencies"]] == ["杭州市市场监督管理局", "杭州市公安局"]
        assert all(s["id"] in banner for s in info["samples"])
        amr, psb = info["agencies"]

        with httpx.Client(base_url=demo.url, timeout=30) as client:
            issued = client.post(
                "/api/v1/credentials",
                headers={"Authorization": f"Bearer {printed[0]}"},
                json={
                    "type": "food-business-permit",
                    "subject": {
                        "name": "杭州西湖区知味小吃店",
                        "uscc": "92330106MA2B7Q1X1" + uscc.calc_check_digit("92330106MA2B7Q1X1"),
                        "legal_representative": "孙丽",
                        "address": "浙江省杭州市西湖区文二路 5 号",
                        "premises": "浙江省杭州市西湖区文二路 5 号一层",
                        "business_format": "小餐饮",
                        "business_items": "热食类食品制售",
                        "licence_no": "JY23301060054321",
                        "valid_until": "2031-05-31",
                        "supervisory_authority": "杭州市西湖区市场监督管理局",
                        "complaint_phone": "12315",
                    },
                },
            )
            assert issued.status_code == 201, issued.text

            for sample in info["samples"]:
                owner = amr if sample["type"] in amr["types"] else psb
                record = client.get(
                    f"/api/v1/credentials/{sample['id']}",
                    headers={"Authorization": f"Bearer {owner['api_key']}"},
                )
                assert record.status_code == 200, record.text
                answer = client.post("/api/v1/verify", json={"qr": record.json()["token"]})
                assert answer.status_code == 200, answer.text
                assert answer.json()["valid"] is True, answer.json()
                assert answer.json()["reason"] == "VALID"
                assert answer.json()["credential"]["identifier"] == sample["identifier"]
                assert answer.json()["issuer"]["id"] == owner["id"]
