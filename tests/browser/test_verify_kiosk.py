"""``/v`` at a counter and a shared kiosk, in Debian's Chromium against a real ``ecert serve``
(issue 12): "A revoked certificate on `/v` does not say when, why, or which kind (注销 vs 吊销);
the English choice sticks on a shared kiosk; the page does not say which gateway answered."
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.cli.helpers import Served, ecert, ecert_many, hangzhou_city
from tests.gateway.holders import fresh_licence

AMR_USCC = "11330100MB1958123M"
REVOCATIONS = {
    "07": "依法吊销营业执照（行政处罚决定书 杭市监罚〔2026〕12号）",
    "04": "企业申请注销",
}


@dataclass(frozen=True)
class City:
    url: str
    revoked: dict[str, str]  # GB/T status code → the QR text of a licence revoked with it


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    tmp = tmp_path_factory.mktemp("kiosk-city")
    port, url, where = hangzhou_city(tmp / "data")
    agency = ecert("agency", "add", *where, "--name", "杭州市市场监督管理局", "--uscc", AMR_USCC,
                   "--types", "business-licence", "--json")  # fmt: skip
    assert agency.returncode == 0, agency
    issued = ecert_many(
        [["issue", *where, "--agency", agency.json()["id"], "--type", "business-licence", "--json",
          "--subject", json.dumps(fresh_licence(), ensure_ascii=False)] for _ in REVOCATIONS]
    )  # fmt: skip
    revoked = {}
    for (code, reason), done in zip(REVOCATIONS.items(), issued, strict=True):
        assert done.returncode == 0, done
        gone = ecert("revoke", done.json()["id"], *where, "--reason", reason, "--code", code)
        assert gone.returncode == 0, gone
        revoked[code] = done.json()["qr_text"]
    with Served(["serve", *where], tmp, port=port):
        yield City(url, revoked)


@pytest.mark.parametrize(("code", "kind", "kind_en"), [
    ("07", "吊销", "revoked as a penalty"), ("04", "注销", "cancelled")])  # fmt: skip
def test_a_revoked_licence_says_when_why_which_kind_and_who_answered(
    city: City, page: Page, artifacts: Path, code: str, kind: str, kind_en: str
) -> None:
    qr = city.revoked[code]
    answer = httpx.post(f"{city.url}/api/v1/verify", json={"qr": qr}, timeout=30).json()
    assert answer["reason"] == "REVOKED"
    day = answer["status_detail"]["at"][:10]  # the record's date, Beijing time
    page.goto(qr)  # a phone's camera opened the QR's URL
    result = page.locator("#result")
    expect(result.locator(".verdict-head").first).to_contain_text("无效")
    expect(result).to_contain_text(f"{kind}（状态代码 {code}）")
    expect(result).to_contain_text(REVOCATIONS[code])
    expect(result.locator("tr", has_text="撤销日期")).to_contain_text(day)
    expect(result.locator(".answered-by")).to_contain_text(f"答复网关：杭州市（330100） {city.url}")
    page.screenshot(path=str(artifacts / f"revoked-{code}-zh.png"), full_page=True)
    page.get_by_role("button", name="English").click()
    expect(result).to_contain_text(f"{kind_en} (status code {code})")
    expect(result.locator(".answered-by").first).to_contain_text(
        "Answered by the gateway of 杭州市 (330100)"
    )


def test_the_kiosk_returns_to_chinese_and_an_empty_result_after_the_idle_time(
    city: City, page: Page, artifacts: Path
) -> None:
    page.goto(f"{city.url}/v?kiosk=1&kiosk_idle=3")
    note = page.locator("#kiosk-note")
    expect(note).to_have_text("自助模式：无操作 3 秒后自动清除核验结果并恢复中文。")
    scan = page.locator("#scan-input")
    scan.fill(city.revoked["07"])
    scan.press("Enter")
    result = page.locator("#result .result-item")
    expect(result).to_have_count(1)
    page.get_by_role("button", name="English").click()
    expect(page.locator("#result .verdict-head").first).to_contain_text("Not valid")
    expect(note).to_contain_text("after 3 s without use")
    expect(page.locator("#kiosk-countdown")).to_contain_text("Clearing in")
    page.screenshot(path=str(artifacts / "kiosk-english-with-result.png"), full_page=True)
    assert page.evaluate("localStorage.getItem('ecert.lang')") is None  # never remembered

    expect(result).to_have_count(0, timeout=10_000)  # 3 s without use, then the reset
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(note).to_have_text("自助模式：无操作 3 秒后自动清除核验结果并恢复中文。")
    expect(page.locator("#kiosk-countdown")).to_have_text("")
    expect(page.locator("#scan-title")).to_have_text("扫描证照二维码")
    expect(scan).to_have_value("")
    expect(scan).to_be_focused()
    page.screenshot(path=str(artifacts / "kiosk-after-reset.png"), full_page=True)

    page.goto(f"{city.url}/v?kiosk=1&kiosk_idle=3")  # a reload does not bring English back
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_the_page_without_kiosk_keeps_no_idle_reset(city: City, page: Page) -> None:
    page.goto(f"{city.url}/v")
    expect(page.locator("#scan-title")).to_be_visible()
    expect(page.locator("#kiosk-idle")).to_have_count(0)


@pytest.mark.parametrize("idle", ["1", "3601", "soon"])
def test_an_idle_time_out_of_bounds_is_a_field_level_422(city: City, idle: str) -> None:
    answer = httpx.get(f"{city.url}/v", params={"kiosk": "1", "kiosk_idle": idle}, timeout=30)
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    (error,) = detail["errors"]
    assert error["field"].endswith("kiosk_idle"), error
    assert idle in error["message_en"] or "integer" in error["message_en"], error
