"""``/counter`` in a real browser (Debian's Chromium through Playwright), against real
``ecert serve`` processes on loopback (长三角's anchor and 杭州, tests/cli/hotel_desk.py): the
hotel desk signs in with its counter key, asks for name and sex with a reason, reads the
``openid4vp://`` link off the page; the CLI wallet presents to it (``ecert wallet present
--yes``, a subprocess) and the page turns, by itself, into the answer: 有效, the fields, holder
binding confirmed, the issuer's chain, the reason. After the agency revokes, the next answer
reads 无效 with the reason code. Chinese first, English by the toggle."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import counter_ask, counter_sign_in
from tests.cli.helpers import ecert
from tests.cli.hotel_desk import HotelDesk, hotel_desk
from tests.issuers.samples import SAMPLE_SUBJECTS

pytestmark = pytest.mark.slow

HOLDER = SAMPLE_SUBJECTS["resident-eid"]


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HotelDesk]:
    with hotel_desk(tmp_path_factory.mktemp("counter-page")) as desk:
        yield desk


def _present(city: HotelDesk, link: str) -> int:
    presented = ecert("wallet", "present", link, *city.walleted, *city.trusting, "--yes")
    return presented.returncode


def test_a_wrong_counter_key_is_refused_in_chinese_and_english(
    city: HotelDesk, page: Page, artifacts: Path
) -> None:
    counter_sign_in(page, city.hz_url, city.verifier["api_key"][:-4] + "AAAA")
    problem = page.locator("#problem")
    expect(problem).to_contain_text("身份验证失败")
    expect(problem).to_contain_text("unknown counter key")
    expect(page.locator("#desk")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    page.screenshot(path=str(artifacts / "wrong-key.png"), full_page=True)


def test_the_desk_asks_and_the_page_shows_the_wallets_answer_live(
    city: HotelDesk, page: Page, artifacts: Path
) -> None:
    page.set_viewport_size({"width": 900, "height": 1000})
    key = city.verifier["api_key"]
    counter_sign_in(page, city.hz_url, key)
    expect(page.locator("#desk-name")).to_have_text("西湖宾馆前台")
    expect(page.locator("#desk-role")).to_contain_text("杭州市 · 旅馆前台")
    # Only what the hotel-desk role allows is offered: name, masked ID number and sex.
    boxes = page.locator("#field-boxes input")
    offered = boxes.evaluate_all("(els) => els.map((e) => e.value)")
    assert offered == ["name", "id_number_masked", "sex"]
    expect(page.locator("#type-select")).to_have_value("resident-eid")
    # The key lives in this tab's sessionStorage only: not in the URL, not in localStorage.
    assert page.evaluate("sessionStorage.getItem('ecert.counterKey')") == key
    assert key not in page.evaluate("JSON.stringify(localStorage)")
    assert key not in page.url

    page.get_by_role("button", name="生成出示请求").click()  # no reason yet
    expect(page.locator("#problem")).to_contain_text("请填写用证事由")
    expect(page.locator("#problem")).to_contain_text("Enter the reason")

    link = counter_ask(page, "旅馆住宿登记")
    expect(page.locator("#countdown")).to_have_text(re.compile(r"^剩余 [45]:\d\d$"))
    expect(page.locator("#waiting")).to_have_text("等待持证人出示…")
    assert page.locator("#request-qr").evaluate("(img) => img.complete && img.naturalWidth") > 0
    asked = page.locator("#asked")
    expect(asked).to_contain_text("居民身份证电子证照")
    expect(asked).to_contain_text("姓名、公民身份号码（部分隐藏）、性别")
    page.screenshot(path=str(artifacts / "request-zh.png"), full_page=True)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="复制").click()
    expect(page.locator("#copied")).to_have_text("已复制")
    assert page.evaluate("navigator.clipboard.readText()") == link

    assert _present(city, link) == 0
    head = page.locator("#result .verdict-head")
    expect(head).to_contain_text("有效")  # the page turned by itself, by polling
    expect(page.locator("#request")).to_be_hidden()
    result = page.locator("#result")
    expect(result.locator(".verdict-msg")).to_have_text("证照有效")
    number = HOLDER["id_number"]
    for label, value in (
        ("姓名", HOLDER["name"]),
        ("公民身份号码（部分隐藏）", f"{number[:6]}********{number[-4:]}"),
        ("性别", HOLDER["sex"]),
    ):
        expect(result.locator("tr", has_text=label).locator("td")).to_have_text(value)
    assert number not in page.content()  # the desk never sees the full number
    expect(result.locator("tr", has_text="持证人绑定")).to_contain_text("已确认")
    expect(result.locator("tr", has_text="证照状态")).to_contain_text("有效")
    expect(result.locator(".chain")).to_contain_text("杭州市公安局")
    expect(result.locator(".chain")).to_contain_text("杭州市")
    expect(result.locator("tr", has_text="用证事由").locator("td")).to_have_text("旅馆住宿登记")
    fresh = re.compile(r"状态数据更新于 \d{4}-\d\d-\d\d \d\d:\d\d")
    expect(result.locator(".freshness").first).to_contain_text(fresh)
    expect(result).to_contain_text("核验时间")
    page.screenshot(path=str(artifacts / "answered-zh.png"), full_page=True)

    page.get_by_role("button", name="English").click()
    expect(head).to_contain_text("Valid")
    expect(result.locator(".verdict-msg")).to_have_text("Certificate is valid")
    expect(result.locator("tr", has_text="Holder binding")).to_contain_text("Confirmed")
    expect(result.locator("tr", has_text="Name").locator("td")).to_have_text(HOLDER["name"])
    expect(page.locator("#desk-role")).to_contain_text("Hotel front desk")
    page.screenshot(path=str(artifacts / "answered-en.png"), full_page=True)
    page.get_by_role("button", name="中文").click()

    # The agency revokes; the next presentation is refused, and the page says so as plainly.
    revoked = ecert("revoke", *city.hz, city.issued["id"], "--reason", "证件挂失")
    assert revoked.returncode == 0, revoked
    page.get_by_role("button", name="发起新的出示请求").click()
    link = counter_ask(page, "旅馆住宿登记")
    assert _present(city, link) == 1
    expect(head).to_contain_text("无效")
    expect(result.locator(".verdict-msg")).to_have_text("证照已被撤销")
    expect(result).to_contain_text("REVOKED")
    expect(result.locator(".caution")).to_contain_text("出示未通过")
    expect(result.locator("tr", has_text="证照状态")).to_contain_text("已撤销")
    expect(result.locator(".freshness").first).to_contain_text(fresh)  # the list that said so
    page.screenshot(path=str(artifacts / "revoked-zh.png"), full_page=True)

    page.get_by_role("button", name="退出登录").click()
    expect(page.locator("#signin")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


# Counts the page's reads of a request's result, in the page itself (synchronously, as fetch is
# called), so a test can tell that polling stopped without waiting on the network.
COUNT_POLLS = """
window.__polls = 0;
const realFetch = window.fetch;
window.fetch = (url, init) => {
  if (String(url).includes("/api/v1/presentation-requests/pr-")) window.__polls += 1;
  return realFetch(url, init);
};
"""


def test_polling_backs_off_on_errors_and_stops_when_the_request_expires(
    city: HotelDesk, page: Page, artifacts: Path
) -> None:
    page.add_init_script(COUNT_POLLS)
    page.clock.install()
    counter_sign_in(page, city.hz_url, city.verifier["api_key"])
    counter_ask(page, "旅馆住宿登记")
    waiting = page.locator("#waiting")
    expect(waiting).to_have_text("等待持证人出示…")

    # The gateway cannot be reached: the page says so and waits longer each time.
    page.route("**/api/v1/presentation-requests/pr-*", lambda route: route.abort())
    expect(waiting).to_have_text("暂时无法获取结果，2 秒后重试。")
    page.clock.fast_forward(2000)
    expect(waiting).to_have_text("暂时无法获取结果，4 秒后重试。")
    page.clock.fast_forward(4000)
    expect(waiting).to_have_text("暂时无法获取结果，8 秒后重试。")
    page.unroute("**/api/v1/presentation-requests/pr-*")
    page.clock.fast_forward(8000)
    expect(waiting).to_have_text("等待持证人出示…")

    # Nobody answers: past the request's five minutes the page says it expired and stops.
    page.clock.fast_forward("05:00")
    problem = page.locator("#problem")
    expect(problem).to_contain_text("已过期")
    expect(problem).to_contain_text("The request expired")
    expect(page.locator("#request")).to_be_hidden()
    expect(page.get_by_role("button", name="发起新的出示请求")).to_be_visible()
    page.screenshot(path=str(artifacts / "expired-zh.png"), full_page=True)
    polls = page.evaluate("window.__polls")
    page.clock.run_for(60_000)
    assert page.evaluate("window.__polls") == polls
