"""What a clerk and a holder do on the pages, shared by the browser tests: sign in at
``/counter`` and ask, receive an offer into ``/wallet``."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect


def counter_sign_in(page: Page, city_url: str, key: str) -> None:
    page.goto(f"{city_url}/counter")
    page.get_by_label("核验点密钥").fill(key)
    page.get_by_role("button", name="登录").click()


def counter_ask(page: Page, reason: str) -> str:
    """Ask for what the form has ticked, with ``reason``; the link the page shows."""
    page.get_by_label("用证事由").fill(reason)
    page.get_by_role("button", name="生成出示请求").click()
    expect(page.locator("#request")).to_be_visible()
    link = page.locator("#request-link").input_value()
    assert link.startswith("openid4vp://?client_id=openid_federation%3A"), link
    return link


def wallet_receive(page: Page, offer: dict[str, Any]) -> None:
    """Paste a credential offer and its PIN into the web wallet; it is received and verified."""
    page.locator("#offer-input").fill(offer["offer_uri"])
    page.locator("#pin-input").fill(offer["tx_code"])
    page.locator("#receive-button").click()
    expect(page.locator("#notice")).to_contain_text("已领取并验证")
