"""The 杭州市 demo: two agencies, a few sample certificates, API keys kept in ``demo.json``.

Demo data only: ``demo.json`` keeps the API keys in clear so ``make run`` can print them on
every start. Real deployments never write keys to disk; ``ecert agency add`` shows them once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stdnum.cn import ric, uscc

from gateway import agencies, issuance
from gateway.core import Gateway
from gateway.settings import DEMO_PASSPHRASE


def with_uscc_check(first17: str) -> str:
    return first17 + uscc.calc_check_digit(first17)


def with_ric_check(first17: str) -> str:
    return first17 + ric.calc_check_digit(first17 + "0")  # stdnum strips the last character


AGENCIES: list[dict[str, Any]] = [
    {
        "key": "amr",
        "name": "杭州市市场监督管理局",
        "uscc": with_uscc_check("11330100MB1958123"),
        "types": [
            "business-licence",
            "food-business-permit",
            "drug-trading-permit",
            "industrial-production-permit",
        ],
    },
    {
        "key": "psb",
        "name": "杭州市公安局",
        "uscc": with_uscc_check("11330100002490365"),
        "types": ["resident-eid", "driving-licence"],
    },
]

SAMPLES: list[dict[str, Any]] = [
    {
        "agency": "amr",
        "type": "business-licence",
        "subject": {
            "name": "杭州西湖龙井茶业有限公司",
            "uscc": with_uscc_check("91330106MA2B3C4D5"),
            "entity_type": "有限责任公司（自然人投资或控股）",
            "legal_representative": "王建国",
            "registered_capital": "壹佰万元整",
            "established_on": "2019-04-18",
            "address": "浙江省杭州市西湖区龙井路1号",
            "business_scope": "茶叶种植；初级农产品收购；食品销售",
        },
    },
    {
        "agency": "amr",
        "type": "business-licence",
        "subject": {
            "name": "浙江钱塘智能制造科技股份有限公司",
            "uscc": with_uscc_check("91330100MA27Y8K9L"),
            "entity_type": "股份有限公司（非上市）",
            "legal_representative": "陈晓明",
            "registered_capital": "伍仟万元整",
            "established_on": "2016-09-01",
            "address": "浙江省杭州市钱塘区白杨街道6号大街",
            "business_scope": "工业机器人制造；智能控制系统集成",
        },
    },
    {
        "agency": "psb",
        "type": "resident-eid",
        "subject": {
            "name": "李雪梅",
            "id_number": with_ric_check("33010619900307432"),
            "sex": "女",
            "ethnicity": "汉",
            "birth_date": "1990-03-07",
            "address": "浙江省杭州市西湖区文三路100号",
        },
    },
]


def ensure_demo(gw: Gateway, path: Path) -> dict[str, Any]:
    """Create the demo agencies and samples once; afterwards read them back from ``path``."""
    if path.exists():
        info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return {**info, "data_dir": str(path.parent)}
    made: dict[str, dict[str, Any]] = {}
    for spec in AGENCIES:
        agency, api_key = agencies.add_agency(
            gw, name=spec["name"], uscc=spec["uscc"], types=spec["types"], actor="demo"
        )
        made[spec["key"]] = {
            "id": agency.id,
            "name": agency.name,
            "uscc": agency.uscc,
            "types": agency.types,
            "api_key": api_key,
        }
    samples = []
    for sample in SAMPLES:
        row, _ = issuance.issue(
            gw,
            agency_id=made[sample["agency"]]["id"],
            request=issuance.IssueRequest(type=sample["type"], subject=sample["subject"]),
        )
        samples.append(
            {
                "id": row.id,
                "type": row.type,
                "identifier": row.identifier,
                "holder": row.holder_name,
            }
        )
    info = {"agencies": list(made.values()), "samples": samples}
    path.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    path.chmod(0o600)
    return {**info, "data_dir": str(path.parent)}


def banner(info: dict[str, Any], url: str) -> str:
    lines = [
        "",
        "ecert-gateway demo · 杭州市 (330100) 电子证照网关演示",
        f"  home 首页            {url}/",
        f"  verify page 核验页   {url}/v",
        f"  API docs 接口文档    {url}/docs",
        f"  public keys 公钥     {url}/.well-known/jwks.json",
        "",
        "Demo agencies and API keys (demo only) · 演示机构与 API 密钥:",
    ]
    for a in info["agencies"]:
        lines.append(f"  {a['name']}  id={a['id']}")
        lines.append(f"    types: {', '.join(a['types'])}")
        lines.append(f"    API key: {a['api_key']}")
    lines.append("")
    lines.append("Sample certificates · 示例证照 (QR: GET /api/v1/credentials/<id>/qr.png):")
    for s in info["samples"]:
        lines.append(f"  {s['id']}  {s['type']}  {s['holder']}  {s['identifier']}")
    lines.append("")
    lines.extend(kiosk_lines(info.get("data_dir", ".ecert/demo"), url))
    return "\n".join(lines)


def kiosk_lines(data_dir: str, url: str) -> list[str]:
    """How to give an offline kiosk this city's trust bundle (issue 12). A demo data directory
    opens with the built-in demo passphrase, printed so that nobody has to look for it."""
    return [
        "离线核验机 · offline kiosk (演示口令，仅用于演示 · demo-only passphrase "
        f"ECERT_KEY_PASSPHRASE={DEMO_PASSPHRASE}, not needed with --data-dir {data_dir}):",
        f"  .venv/bin/ecert trust export --data-dir {data_dir} --out /tmp/kiosk.json",
        '  .venv/bin/ecert verify --offline --trust-file /tmp/kiosk.json --qr-text "$QR"',
        f"  (QR: a sample's qr_text, GET {url}/api/v1/credentials/<id> with its agency's key)",
        f"自助核验页 · self-service kiosk page: {url}/v?kiosk=1",
        "",
    ]
