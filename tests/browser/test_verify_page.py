"""``/v`` in a real browser (Debian's Chromium through Playwright), against a real ``ecert serve``
on loopback: a phone that scanned a certificate's QR lands on the page with the token in the
URL fragment and reads the answer, Chinese first.

Issue 9: a resident e-ID's QR showed a big green 有效 and nothing else. The page now heads it
证照有效，持证人未核验 and says how to verify the holder; a business licence still says 有效.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from stdnum.cn import uscc

from tests.cli.helpers import Served, ecert_many, hangzhou_city
from tests.issuers.samples import SAMPLE_SUBJECTS

AMR_USCC = "11330100MB1958123M"
PSB_USCC = "11330100002490365" + uscc.calc_check_digit("11330100002490365")


@dataclass(frozen=True)
class City:
    url: str
    licence_qr: str
    eid_qr: str


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    tmp = tmp_path_factory.mktemp("browser-city")
    port, url, where = hangzhou_city(tmp / "data")
    amr, psb = ecert_many(
        [
            ["agency", "add", *where, "--name", "杭州市市场监督管理局", "--uscc", AMR_USCC,
             "--types", "business-licence", "--json"],
            ["agency", "add", *where, "--name", "杭州市公安局", "--uscc", PSB_USCC,
             "--types", "resident-eid", "--json"],
        ]
    )  # fmt: skip
    licence, eid = ecert_many(
        [
            ["issue", *where, "--agency", agency.json()["id"], "--type", ctype, "--json",
             "--subject", json.dumps(SAMPLE_SUBJECTS[ctype], ensure_ascii=False)]
            for agency, ctype in ((amr, "business-licence"), (psb, "resident-eid"))
        ]
    )  # fmt: skip
    assert licence.returncode == 0, licence
    assert eid.returncode == 0, eid
    with Served(["serve", *where], tmp, port=port):
        yield City(url, licence.json()["qr_text"], eid.json()["qr_text"])


def _verdict(page: Page, qr_text: str, artifacts: Path, name: str) -> str:
    page.goto(qr_text)
    head = page.locator("#result .verdict-head").first
    expect(head).to_be_visible()
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
    return head.inner_text()


def test_a_licence_scanned_by_a_phone_reads_valid(city: City, page: Page, artifacts: Path) -> None:
    head = _verdict(page, city.licence_qr, artifacts, "licence")
    assert head.startswith("有效"), head
    expect(page.locator("#result .verdict-msg").first).to_have_text("证照有效")
    expect(page.locator("#result")).to_contain_text("杭州市市场监督管理局")
    expect(page.locator("#result .ask-holder")).to_have_count(0)  # a licence needs no holder


def test_a_resident_eid_says_the_qr_does_not_identify_its_holder(
    city: City, page: Page, artifacts: Path
) -> None:
    head = _verdict(page, city.eid_qr, artifacts, "resident-eid-zh")
    assert head.startswith("证照有效，持证人未核验"), head
    message = page.locator("#result .verdict-msg").first
    expect(message).to_contain_text("不能证明出示人就是持证人")
    expect(message).to_contain_text("钱包")
    ask = page.locator("#result .ask-holder a")
    expect(ask).to_contain_text("核验持证人：在核验点页面发起出示请求")
    page.get_by_role("button", name="English").click()
    expect(page.locator("#result .verdict-head").first).to_contain_text(
        "Valid certificate, holder not verified"
    )
    page.screenshot(path=str(artifacts / "resident-eid-en.png"), full_page=True)
    expect(ask).to_contain_text("ask for a presentation on the counter page")
    ask.click()  # the counter's page on the same gateway, to ask the wallet
    expect(page.get_by_label("Counter key")).to_be_visible()
    assert page.url == f"{city.url}/counter", page.url


def test_the_page_says_how_old_the_status_data_was_and_its_bound(
    city: City, page: Page, artifacts: Path
) -> None:
    # Issue 11: a counter reads 有效 only with the age of the status data behind it, and the
    # bound it was held to (a business licence: 24 h).
    _verdict(page, city.licence_qr, artifacts, "licence-freshness")
    fresh = page.locator("#result .freshness").first
    expect(fresh).to_contain_text(re.compile(r"状态数据更新于 .+（\d+秒前，时效上限 1天）"))
