"""Reference codes (亮证码) in two browser pages (issue 10), against an in-process federation on
loopback sockets whose clock the test holds (长三角's anchor and 杭州, a hotel desk): the phone
(``/wallet`` of 长三角's gateway, 390×844) keeps a 杭州 resident e-ID and shows a code of it that
is renewed every 60 s with a countdown; the desk's screen (``/counter`` of 杭州) receives a
code as a scanner gun types it (characters, then Enter) with a reason, and shows the result.

The page's clock (Playwright's ``page.clock``, paused) and the gateways' ``FakeClock`` move
together, so the holder proofs' ``iat``, the 60 s renewal and the 300 s lifetime are exact.
The wallet page is served by another gateway than the one that issued the credential: the
holder endpoints and the entity configuration are read across origins (CORS)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect

from tests.browser.hangzhou import HOLDER, MASKED, NUMBER, REASON, City, browser_context
from tests.browser.hangzhou import city as city  # the fixture
from tests.browser.pages import counter_sign_in, wallet_receive
from trust.holder_proof import USES_TYP
from trust.jws import sign_compact
from trust.keys import SigningKey

pytestmark = pytest.mark.slow

# Grouped base32 as the gateway displays it, with the city's code before it once codes are
# routable across cities.
GROUPED = re.compile(r"^(\d{6}-)?[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$")
CODES_PATH = re.compile(r"/api/v1/references$")


@dataclass
class Phone:
    """The holder's phone: its page's clock paused at the gateways' time; it counts the codes
    it asks for."""

    page: Page
    city: City
    asked: list[str]

    def advance(self, seconds: int) -> None:
        """The gateways' clock, then the page's (its timers fire on the way)."""
        self.city.clock.advance(seconds)
        self.page.clock.run_for(seconds * 1000)

    def code(self) -> str:
        text = self.page.locator("#code-display").inner_text()
        assert GROUPED.match(text), text
        return text

    def qr(self) -> str:
        return str(self.page.locator("#code-qr").get_attribute("src"))


def _phone(browser: Browser, city: City) -> Phone:
    page = browser_context(browser, 390, 844).new_page()
    asked: list[str] = []

    def count(request: Request) -> None:
        if request.method == "POST" and CODES_PATH.search(request.url):
            asked.append(request.url)

    page.on("request", count)
    now = city.clock.now  # Playwright for Python takes a number as seconds since the epoch
    page.clock.install(time=now - 60)
    page.goto(f"{city.yrd_url}/wallet")
    page.clock.pause_at(now)
    page.locator("#make-key").click()
    wallet_receive(page, city.offer)
    return Phone(page, city, asked)


def _scan(desk: Page, code: str) -> None:
    """What a scanner gun does: the characters, then Enter, wherever the focus is."""
    desk.keyboard.type(code)
    desk.keyboard.press("Enter")


def test_the_wallet_renews_its_code_the_counter_scans_it_and_the_history_verifies(
    browser: Browser, city: City, artifacts: Path
) -> None:
    phone = _phone(browser, city)
    desk_context = browser_context(browser, 1000, 900)
    try:
        wallet = phone.page
        card = wallet.locator("#credentials li").first
        card.locator("summary").click()  # the kept fields under their type metadata labels
        expect(card.locator("tr", has_text="公民身份号码（部分隐藏）").locator("td")).to_have_text(
            MASKED
        )
        card.locator("summary").click()
        card.get_by_role("button", name="出示亮证码").click()
        view = wallet.locator("#code-view")
        expect(view).to_be_visible()
        expect(wallet.locator("#code-display")).to_have_text(GROUPED)
        expect(wallet.locator("#code-next")).to_have_text("1:00 后换新码")
        expect(wallet.locator("#code-expiry")).to_have_text("本码 5:00 内有效，只能核验一次")
        expect(wallet.locator("#code-type")).to_have_text("居民身份证电子证照")
        assert wallet.locator("#code-qr").evaluate("(img) => img.complete && img.naturalWidth") > 0
        first, first_qr = phone.code(), phone.qr()
        assert first_qr.startswith("data:image/png;base64,")
        wallet.screenshot(path=str(artifacts / "1-wallet-code.png"), full_page=True)

        phone.advance(30)  # the countdown moves; the code stays
        expect(wallet.locator("#code-next")).to_have_text("0:30 后换新码")
        expect(wallet.locator("#code-expiry")).to_have_text("本码 4:30 内有效，只能核验一次")
        assert phone.code() == first
        phone.advance(30)  # a minute: a new code and a new QR (the old one still lives)
        expect(wallet.locator("#code-display")).not_to_have_text(first)
        expect(wallet.locator("#code-next")).to_have_text("1:00 后换新码")
        expect(wallet.locator("#code-expiry")).to_have_text("本码 5:00 内有效，只能核验一次")
        second = phone.code()
        assert phone.qr() != first_qr
        assert len(phone.asked) == 2
        wallet.screenshot(path=str(artifacts / "2-wallet-new-code.png"), full_page=True)

        desk = desk_context.new_page()
        counter_sign_in(desk, city.hz_url, city.counter_key)
        expect(desk.locator("#desk-name")).to_have_text("西湖宾馆前台")
        desk.get_by_label("用证事由").fill(REASON)
        desk.locator("#code-input").click()
        _scan(desk, second)
        result = desk.locator("#result")
        expect(result.locator(".verdict-head")).to_contain_text("有效")
        expect(result.locator(".verdict-msg")).to_have_text("证照有效")
        for label, value in (("姓名", HOLDER["name"]), ("公民身份号码（部分隐藏）", MASKED)):
            expect(result.locator("tr", has_text=label).locator("td")).to_have_text(value)
        expect(result.locator("tr", has_text="出示方式")).to_contain_text("亮证码")
        expect(result.locator("tr", has_text="持证人绑定")).to_contain_text("已确认")
        expect(result.locator(".chain")).to_contain_text("杭州市公安局")
        expect(result.locator("tr", has_text="用证事由").locator("td")).to_have_text(REASON)
        expect(result.locator(".freshness").first).to_contain_text("信任列表更新于")
        assert NUMBER not in desk.content()  # the desk never sees the full number
        code_input = desk.locator("#code-input")
        expect(code_input).to_be_focused()  # the next scan needs no click
        expect(code_input).to_have_value("")
        desk.screenshot(path=str(artifacts / "3-counter-code-result.png"), full_page=True)

        _scan(desk, second)  # the same code again
        expect(result.locator(".verdict-head")).to_contain_text("无效")
        expect(result.locator(".verdict-msg")).to_have_text(
            "亮证码已被使用过（每个码只能核验一次）"
        )
        expect(result).to_contain_text("REFERENCE_USED")
        expect(result).not_to_contain_text(HOLDER["name"])
        expect(result).to_contain_text("核验时间")
        expect(result).not_to_contain_text("状态数据更新于")  # nothing was checked against it
        desk.screenshot(path=str(artifacts / "4-counter-code-used.png"), full_page=True)

        _scan(desk, first)  # the code from before the renewal, 60 s old: it still lives once
        expect(result.locator(".verdict-head")).to_contain_text("有效")
        expect(result.locator("tr", has_text="姓名").locator("td")).to_have_text(HOLDER["name"])

        phone.advance(60)
        expect(wallet.locator("#code-display")).not_to_have_text(second)
        third = phone.code()
        wallet.get_by_role("button", name="关闭").first.click()  # the holder closes it
        expect(view).to_be_hidden()
        asked = len(phone.asked)
        phone.advance(301)  # past the third code's 300 s; a closed view asks for nothing
        assert len(phone.asked) == asked == 3
        _scan(desk, third)
        expect(result.locator(".verdict-head")).to_contain_text("无效")
        expect(result.locator(".verdict-msg")).to_have_text(
            "亮证码已过期（5 分钟），请持证人刷新后重新出示"
        )
        expect(result).to_contain_text("REFERENCE_EXPIRED")

        card.get_by_role("button", name="用证记录").click()
        uses = wallet.locator("#uses-view")
        expect(uses).to_be_visible()
        expect(wallet.locator("#uses-verified")).to_contain_text(
            f"签名已验证：由签发网关 {city.hz_url} 的联邦密钥签名"
        )
        items = wallet.locator("#uses li")
        expect(items).to_have_count(2)  # the two codes that resolved; refusals are no use
        for item in (items.nth(0), items.nth(1)):
            expect(item).to_contain_text("西湖宾馆前台（杭州市）")
            expect(item).to_contain_text(f"用证事由：{REASON}")
            expect(item).to_contain_text("有效")
            for label in ("姓名", "性别", "公民身份号码（部分隐藏）"):
                expect(item.locator(".use-fields")).to_contain_text(label)
            expect(item.locator(".use-fields")).not_to_contain_text("id_number_masked")
        times = items.locator(".hint").all_inner_texts()
        assert times == sorted(times, reverse=True), times  # newest first
        expect(wallet.locator("#history-title")).to_have_text("出示记录（本机）")  # kept too
        wallet.screenshot(path=str(artifacts / "5-wallet-uses.png"), full_page=True)

        wallet.get_by_role("button", name="English").click()
        expect(wallet.locator("#uses-verified")).to_contain_text("Signature verified")
        expect(items.first).to_contain_text("Reason: 旅馆住宿登记")
        expect(items.first.locator(".use-fields")).to_contain_text("Citizen ID number (masked)")
        desk.get_by_role("button", name="English").click()
        expect(result.locator(".verdict-msg")).to_have_text(
            "The reference code has expired (5 minutes); ask the holder for a fresh one"
        )
    finally:
        desk_context.close()
        phone.page.context.close()


HIDE = """() => {
  Object.defineProperty(document, "visibilityState", { value: "hidden", configurable: true });
  Object.defineProperty(document, "hidden", { value: true, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  delete document.visibilityState;
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_the_code_stops_renewing_when_hidden_after_ten_minutes_and_says_why_it_failed(
    browser: Browser, city: City, artifacts: Path
) -> None:
    phone = _phone(browser, city)
    wallet = phone.page
    try:
        show = wallet.locator("#credentials li").first.get_by_role("button", name="出示亮证码")
        stopped = wallet.locator("#code-stopped")
        again = wallet.get_by_role("button", name="再次出示")

        # The page goes to the background: no more codes, and the one shown is taken away.
        show.click()
        expect(wallet.locator("#code-display")).to_have_text(GROUPED)
        wallet.evaluate(HIDE)
        expect(stopped).to_contain_text("页面已切到后台，已停止换码")
        expect(stopped).to_contain_text("The page went to the background")
        expect(wallet.locator("#code-display")).to_have_text("")
        expect(wallet.locator("#code-qr")).to_be_hidden()
        phone.advance(180)
        assert len(phone.asked) == 1
        wallet.evaluate(SHOW)
        assert len(phone.asked) == 1  # coming back asks for a tap, not a code

        # Tapped again: a code a minute, ten minutes at most, then a tap again.
        again.click()
        expect(stopped).to_be_hidden()
        expect(wallet.locator("#code-display")).to_have_text(GROUPED)
        codes = [phone.code()]
        for _minute in range(9):
            phone.advance(60)
            expect(wallet.locator("#code-display")).not_to_have_text(codes[-1])
            codes.append(phone.code())
        assert len(set(codes)) == 10
        assert len(phone.asked) == 11
        phone.advance(60)
        expect(stopped).to_contain_text("已连续出示 10 分钟")
        expect(stopped).to_contain_text("Shown for 10 minutes")
        expect(wallet.locator("#code-qr")).to_be_hidden()
        expect(again).to_be_visible()
        phone.advance(120)
        assert len(phone.asked) == 11
        wallet.screenshot(path=str(artifacts / "capped.png"), full_page=True)

        # The issuing gateway cannot be reached: the view says so in both languages.
        wallet.route(CODES_PATH, lambda route: route.abort())
        again.click()
        expect(stopped).to_contain_text("未能取得亮证码：申请亮证码：无法连接")
        expect(stopped).to_contain_text("Could not get a code: Asking for a reference code: cannot")
        wallet.screenshot(path=str(artifacts / "unreachable.png"), full_page=True)
    finally:
        wallet.context.close()


def test_use_records_whose_signature_does_not_verify_are_not_shown(
    browser: Browser, city: City, artifacts: Path
) -> None:
    phone = _phone(browser, city)
    wallet = phone.page
    forger = SigningKey.generate()

    def forged(route: Route) -> None:
        real = route.fetch()
        honest = real.json()["records"]
        payload = json.loads(_segment(honest.split(".")[1]))
        payload["uses"] = [{"counter": "伪造", "city": "杭州市", "at": "2026-09-21T00:00:00+08:00",
                            "reason": "伪造", "fields": [], "reason_code": "VALID"}]  # fmt: skip
        route.fulfill(response=real, json={"records": sign_compact(payload, forger, typ=USES_TYP)})

    try:
        wallet.route("**/api/v1/references/uses", forged)
        wallet.locator("#credentials li").first.get_by_role("button", name="用证记录").click()
        notice = wallet.locator("#notice")
        expect(notice).to_contain_text("用证记录的签名无法验证，未显示")
        expect(notice).to_contain_text("The use records' signature does not verify")
        expect(wallet.locator("#uses-view")).to_be_hidden()
        assert "伪造" not in wallet.content()
        wallet.screenshot(path=str(artifacts / "forged-records.png"), full_page=True)
    finally:
        wallet.context.close()


def _segment(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_the_counter_needs_a_reason_and_says_when_wrong_codes_are_throttled(
    browser: Browser, city: City, artifacts: Path
) -> None:
    context = browser_context(browser, 1000, 900)
    try:
        desk = context.new_page()
        counter_sign_in(desk, city.hz_url, city.counter_key)
        expect(desk.locator("#desk-name")).to_have_text("西湖宾馆前台")
        code_input = desk.locator("#code-input")
        code_input.click()
        _scan(desk, "ABCD-EFGH-JKLM-NP23")  # no reason yet
        problem = desk.locator("#problem")
        expect(problem).to_contain_text("请填写用证事由")
        expect(problem).to_contain_text("Enter the reason")
        expect(code_input).to_have_value("ABCD-EFGH-JKLM-NP23")  # kept for when it is given
        desk.get_by_label("用证事由").fill(REASON)
        result = desk.locator("#result")
        for wrong in range(5):
            code_input.fill("")
            code_input.click()
            _scan(desk, f"ABCD-EFGH-JKLM-NPA{wrong + 2}")
            expect(result.locator(".verdict-msg")).to_have_text(
                "亮证码无效（不存在），请持证人重新出示"
            )
            expect(code_input).to_be_focused()
        _scan(desk, "ABCD-EFGH-JKLM-NP77")
        expect(problem).to_contain_text("请稍后再试")
        expect(problem).to_contain_text("错误的亮证码过多（60 秒内 5 次），请 60 秒后再试")
        expect(problem).to_contain_text("retry in 60 s")
        expect(result).to_be_empty()
        expect(code_input).to_be_focused()
        desk.screenshot(path=str(artifacts / "throttled.png"), full_page=True)
    finally:
        context.close()
