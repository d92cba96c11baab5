"""``/counter`` shows who presents a delegated licence (委托用证), in a real browser (Debian's
Chromium through Playwright) against real ``ecert serve`` processes on loopback: a company's CLI
wallet delegates its business licence to 张三, whose own wallet receives the copy; the bank's
business counter asks on the page for the licence's name and USCC stating 银行开户; 张三's wallet
presents; the page reads 有效, the fields, and 由授权代理人 张三 出示 · shown by authorised
delegate 张三, with the delegating company, the purposes and the end date.

With the agent's wallet in the browser (``/wallet``): it receives the copy, shows a code, the
counter page scans it and names the delegate, and the wallet's verified use records say the use
was the delegate's."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from gateway.clock import today_in_china
from tests.browser.pages import counter_ask, counter_sign_in, wallet_receive
from tests.cli.helpers import ecert
from tests.cli.hotel_desk import BANK, hotel_desk, ok
from tests.cli.wallet_helpers import PASSPHRASE
from tests.issuers.samples import SAMPLE_SUBJECTS

pytestmark = pytest.mark.slow

LICENCE = SAMPLE_SUBJECTS["business-licence"]


def test_the_counter_page_names_the_authorised_delegate(
    tmp_path: Path, page: Page, artifacts: Path
) -> None:
    until = (today_in_china(int(time.time())) + timedelta(days=30)).isoformat()
    agent = ["--wallet-dir", str(tmp_path / "agent"), "--passphrase", PASSPHRASE]
    with hotel_desk(tmp_path, setting=BANK) as bank:
        (licence,) = bank.kept()
        ok(ecert("wallet", "init", *agent, "--json"))
        made = ok(ecert("wallet", "delegate", "--credential", licence["id"], "--name", "张三",
                        "--purpose", "银行开户", "--until", until, *bank.walleted,
                        "--json"))  # fmt: skip
        offer = made["offer"]
        ok(ecert("wallet", "receive", offer["offer_uri"], "--pin", offer["tx_code"], *agent,
                 "--json"))  # fmt: skip
        page.set_viewport_size({"width": 900, "height": 1100})
        counter_sign_in(page, bank.hz_url, bank.verifier["api_key"])
        expect(page.locator("#desk-role")).to_contain_text("银行对公窗口")
        expect(page.locator("#type-select")).to_have_value("business-licence")
        boxes = page.locator("#field-boxes input")
        for box in range(boxes.count()):
            value = boxes.nth(box).get_attribute("value")
            boxes.nth(box).set_checked(value in ("name", "uscc"))
        link = counter_ask(page, "银行开户（基本存款账户）")
        presented = ecert("wallet", "present", link, *agent, *bank.trusting, "--yes")
        assert presented.returncode == 0, presented
        result = page.locator("#result")
        expect(result.locator(".verdict-head")).to_contain_text("有效")
        expect(result.locator(".delegate")).to_have_text(
            "由授权代理人 张三 出示shown by authorised delegate 张三"
        )
        expect(result).to_contain_text(
            f"委托人：{LICENCE['name']}；委托事项：银行开户；期限至 {until}"
        )
        expect(result.locator("tr", has_text="统一社会信用代码").locator("td")).to_have_text(
            LICENCE["uscc"]
        )
        page.screenshot(path=str(artifacts / "delegate-zh.png"), full_page=True)
        page.get_by_role("button", name="English").click()
        expect(result.locator(".delegate")).to_contain_text("shown by authorised delegate 张三")
        expect(result).to_contain_text(f"delegated by {LICENCE['name']}; purposes: 银行开户")
        page.screenshot(path=str(artifacts / "delegate-en.png"), full_page=True)


def test_a_delegate_web_wallet_shows_a_code_and_reads_its_uses(
    tmp_path: Path, page: Page, artifacts: Path
) -> None:
    until = (today_in_china(int(time.time())) + timedelta(days=30)).isoformat()
    with hotel_desk(tmp_path, setting=BANK) as bank:
        (licence,) = bank.kept()
        made = ok(ecert("wallet", "delegate", "--credential", licence["id"], "--name", "张三",
                        "--purpose", "银行开户", "--until", until, *bank.walleted,
                        "--json"))  # fmt: skip
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{bank.hz_url}/wallet")
        page.locator("#make-key").click()
        wallet_receive(page, made["offer"])
        card = page.locator("#credentials li").first
        card.get_by_role("button", name="出示亮证码").click()
        shown = page.locator("#code-display")
        expect(shown).to_have_text(re.compile(r"^\d{6}-[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$"))
        code = shown.inner_text()
        page.get_by_role("button", name="关闭").first.click()

        desk = page.context.new_page()
        desk.set_viewport_size({"width": 900, "height": 1100})
        counter_sign_in(desk, bank.hz_url, bank.verifier["api_key"])
        desk.get_by_label("用证事由").fill("银行开户")
        desk.locator("#code-input").fill(code)
        desk.locator("#code-input").press("Enter")
        result = desk.locator("#result")
        expect(result.locator(".verdict-head")).to_contain_text("有效")
        expect(result.locator(".delegate")).to_contain_text("由授权代理人 张三 出示")
        desk.screenshot(path=str(artifacts / "delegate-code-counter.png"), full_page=True)

        page.bring_to_front()
        card.get_by_role("button", name="用证记录").click()
        expect(page.locator("#uses-verified")).to_contain_text("签名已验证")
        (item,) = page.locator("#uses li").all()
        expect(item.locator(".use-by")).to_contain_text("由授权代理人 张三 出示")
        expect(item).to_contain_text("工商银行西湖支行对公柜台")
        page.screenshot(path=str(artifacts / "delegate-wallet-uses.png"), full_page=True)
