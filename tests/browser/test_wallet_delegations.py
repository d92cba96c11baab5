"""Delegated use (委托用证) in the web wallet, in a real browser (Debian's Chromium through
Playwright) against an in-process federation on loopback sockets whose clock the test holds
(长三角's anchor and 杭州, a bank's business counter): a company's wallet (``/wallet`` of
长三角's gateway, so every call to 杭州 crosses origins) keeps its business licence and delegates
it to 张三 for a purpose until a date; the offer appears (QR, link, PIN, the note to give the PIN
by another channel). The agent's wallet (a second browser context) receives the copy with the
PIN and shows it as delegated, with its own delegation's state; the company's list says the
agent received it; the company revokes (after confirming), the list says revoked, and the
agent's next code is refused with DELEGATION_REVOKED in zh and en. Bad input shows the
gateway's zh/en message under each field.

The pages' clocks (Playwright's ``page.clock``, paused) and the gateways' ``FakeClock`` agree,
so holder proofs' ``iat`` and the delegation's dates are exact."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from gateway.clock import today_in_china
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.pages import wallet_receive
from tests.conftest import FakeClock, make_agency
from tests.gateway.federation_helpers import federation_of
from tests.gateway.helpers import auth
from tests.interop.serving import serve_app, two_ports
from tests.issuers.samples import SAMPLE_SUBJECTS

pytestmark = pytest.mark.slow

LICENCE = SAMPLE_SUBJECTS["business-licence"]
TYPES = {
    "business-licence": ("杭州市市场监督管理局", "11330100MB1958123M"),
    "resident-eid": ("杭州市公安局", "11330100002490365L"),
}
PURPOSE = "银行开户"


@dataclass
class Office:
    clock: FakeClock
    yrd_url: str
    hz_url: str
    offer: dict[str, Any]  # the company's business licence
    eid_offer: dict[str, Any]  # a person's resident e-ID


@pytest.fixture
def office(tmp_path: Path, clock: FakeClock) -> Iterator[Office]:
    """长三角 and 杭州 on loopback; 杭州市市场监督管理局 issues a company's business licence with
    a wallet offer, 杭州市公安局 a person's resident e-ID."""
    yrd_port, hz_port = two_ports()
    yrd, hz = f"http://127.0.0.1:{yrd_port}", f"http://127.0.0.1:{hz_port}"
    with federation_of(tmp_path, clock) as fed, ExitStack() as sockets:
        fed.anchor(yrd, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        city = fed.city(hz, anchor=yrd, code="330100", name="杭州市", types=list(TYPES))
        offers = []
        for ctype, (name, uscc) in TYPES.items():
            agency = make_agency(city, name=name, uscc=uscc, types=[ctype])
            body = {"type": ctype, "subject": SAMPLE_SUBJECTS[ctype], "wallet_offer": True}
            issued = fed.client(hz).post(
                "/api/v1/credentials", json=body, headers=auth(agency.api_key)
            )
            assert issued.status_code == 201, issued.text
            offers.append(issued.json()["wallet_offer"])
        for url, port in ((yrd, yrd_port), (hz, hz_port)):
            sockets.enter_context(serve_app(fed.client(url).app, port=port, lifespan="off"))
        yield Office(clock, yrd, hz, *offers)


def _wallet(browser: Browser, office: Office, url: str) -> Page:
    """A phone's wallet at ``url``, its clock paused at the gateways' time, with a new key."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.clock.install(time=office.clock.now - 60)
    page.goto(f"{url}/wallet")
    page.clock.pause_at(office.clock.now)
    page.locator("#make-key").click()
    return page


def _delegate(page: Page, name: str, purposes: str, until: str) -> None:
    page.get_by_label("代理人姓名").fill(name)
    page.get_by_label("委托事项（每行一项，1–5 项）").fill(purposes)
    page.get_by_label("委托期限至（含当日）").fill(until)
    page.locator("#delegate-button").click()


def _item(page: Page, delegate: str) -> Locator:
    return page.locator("#delegations li", has_text=delegate)


def test_a_company_delegates_its_licence_the_agent_receives_it_and_the_company_revokes(
    browser: Browser, office: Office, artifacts: Path
) -> None:
    today = today_in_china(office.clock.now)
    until = (today + timedelta(days=30)).isoformat()
    company = _wallet(browser, office, office.yrd_url)
    agent: Page | None = None
    try:
        wallet_receive(company, office.offer)
        card = company.locator("#credentials li").first
        card.get_by_role("button", name="委托用证").click()
        view = company.locator("#delegations-view")
        expect(view).to_be_visible()
        expect(company.locator("#delegations-type")).to_have_text("营业执照")
        expect(company.locator("#delegations")).to_contain_text("尚无委托")

        # Bad input: the gateway's message under each field, in zh and en; nothing made.
        _delegate(company, " ", "", (today - timedelta(days=1)).isoformat())
        for field, zh, en in (
            ("name", "代理人姓名须为 1–64 个字符", "expected the delegate's name of 1 to 64"),
            ("purposes", "须填写 1–5 项委托事项", "expected 1 to 5 purposes, found 0"),
            ("until", "委托期限须晚于当前时间", "expected until after now"),
        ):
            said = company.locator(f"#delegate-{field}-error")
            expect(said).to_contain_text(zh)
            expect(said).to_contain_text(en)
            expect(company.locator(f"#delegate-{field}")).to_have_attribute("aria-invalid", "true")
        expect(company.locator("#delegate-offer")).to_be_hidden()
        company.screenshot(path=str(artifacts / "1-bad-input.png"), full_page=True)

        _delegate(company, "张三", PURPOSE, until)
        expect(company.locator("#notice")).to_contain_text("已委托给 张三")
        for field in ("name", "purposes", "until"):
            expect(company.locator(f"#delegate-{field}-error")).to_be_hidden()
        offer = company.locator("#delegate-offer")
        expect(offer).to_be_visible()
        expect(offer).to_contain_text("请通过另一渠道（电话、当面）把取证码告诉代理人")
        qr = company.locator("#delegate-offer-qr")
        assert str(qr.get_attribute("src")).startswith("data:image/png;base64,")
        expect(qr).to_have_js_property("complete", True)
        assert qr.evaluate("(img) => img.naturalWidth") > 0
        link = company.locator("#delegate-offer-link").input_value()
        assert link.startswith("openid-credential-offer://?credential_offer_uri="), link
        assert office.hz_url.replace(":", "%3A").replace("/", "%2F") in link
        pin = company.locator("#delegate-offer-pin").inner_text()
        assert re.fullmatch(r"\d{6}", pin), pin
        item = _item(company, "张三")
        expect(item.locator(".delegation-state")).to_contain_text("有效")
        expect(item.locator(".delegation-purposes")).to_have_text(f"委托事项：{PURPOSE}")
        expect(item.locator(".delegation-until")).to_have_text(f"期限至：{until}")
        expect(item.locator(".delegation-received")).to_contain_text("代理人尚未领取")
        company.screenshot(path=str(artifacts / "2-offer.png"), full_page=True)

        # The agent's own wallet (another gateway's page, another browser context).
        agent = _wallet(browser, office, office.hz_url)
        wallet_receive(agent, {"offer_uri": link, "tx_code": pin})
        copy = agent.locator("#credentials li").first
        expect(copy.locator(".cred-delegated")).to_contain_text(
            f"委托副本：由 {LICENCE['name']} 委托 张三 出示；委托事项：{PURPOSE}；至 {until}"
        )
        expect(copy.locator(".cred-delegated")).to_contain_text("Delegated copy")
        copy.get_by_role("button", name="委托记录").click()
        expect(agent.locator("#delegated-copy")).to_contain_text("委托副本")
        expect(agent.locator("#delegate-form")).to_be_hidden()
        own = _item(agent, "张三")
        expect(own).to_have_count(1)
        expect(own.locator(".delegation-state")).to_contain_text("有效")
        expect(own.locator(".delegation-received")).to_contain_text("代理人已领取")
        expect(own.get_by_role("button", name="撤销")).to_have_count(0)
        agent.screenshot(path=str(artifacts / "3-agent-copy.png"), full_page=True)

        # The company's list (read again) says the agent received it; revoking asks first.
        card.get_by_role("button", name="委托用证").click()
        expect(item.locator(".delegation-received")).to_contain_text("代理人已领取")
        expect(company.locator("#delegate-offer")).to_be_hidden()  # the PIN is not kept on screen
        item.get_by_role("button", name="撤销").click()
        confirm = item.locator(".revoke-confirm")
        expect(confirm).to_contain_text("确定撤销对 张三 的委托吗")
        confirm.get_by_role("button", name="取消").click()
        expect(confirm).to_have_count(0)
        expect(item.locator(".delegation-state")).to_contain_text("有效")
        item.get_by_role("button", name="撤销").click()
        company.screenshot(path=str(artifacts / "4-confirm.png"), full_page=True)
        item.get_by_role("button", name="确认撤销").click()
        expect(company.locator("#notice")).to_contain_text("已撤销对 张三 的委托")
        expect(item.locator(".delegation-state")).to_contain_text("已撤销")
        expect(item).to_contain_text("撤销于")
        expect(item.get_by_role("button", name="撤销")).to_have_count(0)
        company.screenshot(path=str(artifacts / "5-revoked.png"), full_page=True)
        company.get_by_role("button", name="English").click()
        expect(item.locator(".delegation-state")).to_contain_text("revoked")
        expect(item.locator(".delegation-purposes")).to_have_text(f"Purposes: {PURPOSE}")
        company.screenshot(path=str(artifacts / "6-revoked-en.png"), full_page=True)

        # The agent's next code is refused with the reason; its own record says revoked.
        copy.get_by_role("button", name="出示亮证码").click()
        stopped = agent.locator("#code-stopped")
        expect(stopped).to_contain_text("未能取得亮证码")
        expect(stopped).to_contain_text("持证人已撤销对该代理人的委托（DELEGATION_REVOKED）")
        expect(stopped).to_contain_text("The holder has revoked this delegate's authorisation")
        expect(agent.locator("#code-qr")).to_be_hidden()
        agent.screenshot(path=str(artifacts / "7-agent-refused.png"), full_page=True)
        copy.get_by_role("button", name="委托记录").click()
        expect(own.locator(".delegation-state")).to_contain_text("已撤销")
    finally:
        if agent is not None:
            agent.context.close()
        company.context.close()


def test_a_personal_certificate_cannot_be_delegated_and_the_wallet_says_why(
    browser: Browser, office: Office, artifacts: Path
) -> None:
    """A person's e-ID is shown by that person only: the gateway's 422 message is shown, in zh
    and en, and nothing is made."""
    holder = _wallet(browser, office, office.yrd_url)
    try:
        wallet_receive(holder, office.eid_offer)
        holder.locator("#credentials li").first.get_by_role("button", name="委托用证").click()
        until = (today_in_china(office.clock.now) + timedelta(days=7)).isoformat()
        _delegate(holder, "张三", PURPOSE, until)
        problem = holder.locator("#delegate-problem")
        expect(problem).to_contain_text(
            "此证照不能委托：“居民身份证电子证照”是个人证照，只能本人出示"
        )
        expect(problem).to_contain_text("expected a credential that can be delegated")
        expect(holder.locator("#delegate-offer")).to_be_hidden()
        expect(holder.locator("#delegations")).to_contain_text("尚无委托")
        holder.screenshot(path=str(artifacts / "personal-refused.png"), full_page=True)
    finally:
        holder.context.close()
