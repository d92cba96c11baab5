"""The whole presentation in two browser pages, as it happens at a hotel desk: the desk's screen
(``/counter``, signed in with its counter key) asks for the name and the masked ID number with a
reason; the holder's phone (``/wallet``, 390×844, its key made in the browser and a resident
e-ID received with the offer and PIN) takes the desk's link, shows who asks, for what and why,
and presents on consent; the desk's screen turns by itself to 有效 with the fields and holder
binding confirmed, and never shows the full ID number. Debian's Chromium through Playwright,
against real ``ecert serve`` processes on loopback (长三角's anchor and 杭州)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import TIMEOUT_MS
from tests.browser.pages import counter_ask, counter_sign_in, wallet_receive
from tests.cli.hotel_desk import hotel_desk
from tests.issuers.samples import SAMPLE_SUBJECTS

pytestmark = pytest.mark.slow

HOLDER = SAMPLE_SUBJECTS["resident-eid"]


def test_the_desk_page_asks_the_web_wallet_presents_and_the_desk_sees_the_answer(
    tmp_path: Path, browser: Browser, artifacts: Path
) -> None:
    number = HOLDER["id_number"]
    masked = f"{number[:6]}********{number[-4:]}"
    with hotel_desk(tmp_path, receive=False) as fed:
        desk_screen = browser.new_context(locale="zh-CN", viewport={"width": 1000, "height": 900})
        phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        try:
            for context in (desk_screen, phone):
                context.set_default_timeout(TIMEOUT_MS)
            desk, wallet = desk_screen.new_page(), phone.new_page()

            wallet.goto(f"{fed.hz_url}/wallet")
            wallet.locator("#make-key").click()
            wallet_receive(wallet, fed.issued["wallet_offer"])

            counter_sign_in(desk, fed.hz_url, fed.verifier["api_key"])
            expect(desk.locator("#desk-name")).to_have_text("西湖宾馆前台")
            desk.locator("#field-boxes input[value=sex]").uncheck()
            link = counter_ask(desk, "旅馆住宿登记")
            expect(desk.locator("#asked")).to_contain_text("姓名、公民身份号码（部分隐藏）")
            desk.screenshot(path=str(artifacts / "1-desk-asks.png"), full_page=True)

            wallet.locator("#request-input").fill(link)
            wallet.locator("#resolve-button").click()
            expect(wallet.locator("#consent-verifier")).to_have_text("西湖宾馆前台")
            expect(wallet.locator("#consent-city")).to_have_text("杭州市")
            expect(wallet.locator("#consent-purpose")).to_have_text("旅馆住宿登记")
            fields = wallet.locator("#consent-fields")
            for text in ("姓名", "公民身份号码（部分隐藏）", HOLDER["name"], masked):
                expect(fields).to_contain_text(text)
            expect(fields).not_to_contain_text("性别")
            expect(fields).not_to_contain_text(number)
            wallet.screenshot(path=str(artifacts / "2-wallet-consent.png"), full_page=True)
            wallet.locator("#consent-yes").click()
            expect(wallet.locator("#answer .verdict-head")).to_contain_text("已出示")
            wallet.screenshot(path=str(artifacts / "3-wallet-presented.png"), full_page=True)

            result = desk.locator("#result")
            expect(result.locator(".verdict-head")).to_contain_text("有效")  # by itself
            for label, value in (("姓名", HOLDER["name"]), ("公民身份号码（部分隐藏）", masked)):
                expect(result.locator("tr", has_text=label).locator("td")).to_have_text(value)
            expect(result.locator("tr", has_text="持证人绑定")).to_contain_text("已确认")
            expect(result.locator(".chain")).to_contain_text("杭州市公安局")
            assert number not in desk.content()
            desk.screenshot(path=str(artifacts / "4-desk-answered.png"), full_page=True)

            expect(wallet.locator("#history li")).to_have_count(1)
            expect(wallet.locator("#history li").first).to_contain_text("西湖宾馆前台（杭州市）")
        finally:
            desk_screen.close()
            phone.close()
