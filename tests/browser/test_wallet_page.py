"""``/wallet`` in a real browser (Debian's Chromium through Playwright, a 390×844 phone), against
real ``ecert serve`` processes on loopback (长三角's anchor and 杭州, see
:mod:`tests.cli.hotel_desk`): the holder key is made in the browser, a resident e-ID is
received with its offer and PIN (a wrong PIN first, refused in zh/en), a hotel desk's request
for name and sex is pasted, the consent screen names the desk, its city, the fields and the
reason, and the presentation is answered VALID with holder binding at the desk. The history
lists it; after a reload the key (non-extractable) and the credential are still there."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.pages import wallet_receive
from tests.cli.helpers import ecert
from tests.cli.hotel_desk import hotel_desk, ok
from tests.gateway.holders import fresh_subject
from tests.issuers.samples import SAMPLE_SUBJECTS

pytestmark = pytest.mark.slow

# The holder key as IndexedDB keeps it: a CryptoKey that refuses to be exported.
KEY_IN_STORAGE = """() => new Promise((resolve, reject) => {
  const opening = indexedDB.open("ecert-wallet");
  opening.onerror = () => reject(opening.error);
  opening.onsuccess = () => {
    const got = opening.result.transaction("keys").objectStore("keys").get("holder");
    got.onerror = () => reject(got.error);
    got.onsuccess = () => {
      const key = got.result.privateKey;
      resolve({type: key.type, extractable: key.extractable, kid: got.result.kid,
               usages: key.usages, algorithm: key.algorithm.namedCurve});
    };
  };
})"""


CREDENTIALS_IN_STORAGE = """() => new Promise((resolve, reject) => {
  const opening = indexedDB.open("ecert-wallet");
  opening.onerror = () => reject(opening.error);
  opening.onsuccess = () => {
    const got = opening.result.transaction("credentials").objectStore("credentials").getAll();
    got.onerror = () => reject(got.error);
    got.onsuccess = () => resolve(got.result.map((r) => ({id: r.id, receivedAt: r.receivedAt})));
  };
})"""


def _second_offer(
    hz_url: str, agency_key: str, subject: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = {
        "type": "resident-eid",
        "subject": subject or SAMPLE_SUBJECTS["resident-eid"],
        "wallet_offer": True,
    }
    issued = httpx.post(
        f"{hz_url}/api/v1/credentials",
        json=body,
        headers={"Authorization": f"Bearer {agency_key}"},
        timeout=30,
    )
    assert issued.status_code == 201, issued.text
    return dict(issued.json()["wallet_offer"])


def _ask(hz_url: str, counter_key: str) -> dict[str, Any]:
    made = httpx.post(
        f"{hz_url}/api/v1/presentation-requests",
        json={"type": "resident-eid", "fields": ["name", "sex"], "reason": "旅馆住宿登记"},
        headers={"Authorization": f"Bearer {counter_key}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def test_a_holder_receives_and_presents_from_the_web_wallet(
    tmp_path: Path, page: Page, artifacts: Path
) -> None:
    subject = SAMPLE_SUBJECTS["resident-eid"]
    with hotel_desk(tmp_path, receive=False) as fed:
        page.goto(f"{fed.hz_url}/wallet")
        expect(page.locator("#setup")).to_be_visible()
        page.screenshot(path=str(artifacts / "1-setup.png"), full_page=True)
        page.locator("#make-key").click()
        expect(page.locator("#wallet")).to_be_visible()
        kid = page.locator("#holder-kid").inner_text()
        assert len(kid) == 43, kid  # an RFC 7638 thumbprint, base64url of SHA-256

        # A wrong PIN is refused, Chinese first, English beside.
        offer = fed.issued["wallet_offer"]
        wrong = "000000" if offer["tx_code"] != "000000" else "111111"
        page.locator("#offer-input").fill(offer["offer_uri"])
        page.locator("#pin-input").fill(wrong)
        page.locator("#receive-button").click()
        notice = page.locator("#notice")
        expect(notice).to_contain_text("验证取证码失败")
        expect(notice).to_contain_text("Checking the PIN failed")
        expect(notice).to_contain_text("invalid_grant")
        page.screenshot(path=str(artifacts / "2-wrong-pin.png"), full_page=True)

        wallet_receive(page, offer)
        expect(page.locator("#credentials [data-credential]")).to_have_count(1)
        page.screenshot(path=str(artifacts / "3-received.png"), full_page=True)

        request = _ask(fed.hz_url, fed.verifier["api_key"])
        page.locator("#request-input").fill(request["uri"])
        page.locator("#resolve-button").click()
        expect(page.locator("#consent")).to_be_visible()
        expect(page.locator("#consent-verifier")).to_have_text("西湖宾馆前台")
        expect(page.locator("#consent-city")).to_have_text("杭州市")
        fields = page.locator("#consent-fields")
        for text in ("姓名", "性别", subject["name"], subject["sex"]):
            expect(fields).to_contain_text(text)
        expect(fields).not_to_contain_text(subject["id_number"])
        expect(page.locator("#consent-purpose")).to_have_text("旅馆住宿登记")
        expect(page.locator("#consent")).to_contain_text("旅馆前台")
        page.screenshot(path=str(artifacts / "4-consent.png"), full_page=True)

        page.locator("#consent-yes").click()
        expect(page.locator("#answer .verdict-head")).to_contain_text("已出示")
        expect(page.locator("#answer")).to_contain_text("核验点已接受")
        page.screenshot(path=str(artifacts / "5-presented.png"), full_page=True)

        shown = httpx.get(
            f"{fed.hz_url}/api/v1/presentation-requests/{request['id']}",
            headers={"Authorization": f"Bearer {fed.verifier['api_key']}"},
            timeout=30,
        ).json()
        assert shown["state"] == "answered", shown
        result = shown["result"]
        assert result["reason"] == "VALID", result
        assert result["holder_binding"] is True
        assert {f["name"]: f["value"] for f in result["fields"]} == {
            "name": subject["name"],
            "sex": subject["sex"],
        }

        history = page.locator("#history li")
        expect(history).to_have_count(1)
        expect(history.first).to_contain_text("西湖宾馆前台（杭州市）")
        expect(history.first).to_contain_text("旅馆住宿登记")
        expect(history.first).to_contain_text("接受")

        # After a reload the key and the credential are still there (IndexedDB).
        page.reload()
        expect(page.locator("#wallet")).to_be_visible()
        expect(page.locator("#setup")).to_be_hidden()
        expect(page.locator("#holder-kid")).to_have_text(kid)
        expect(page.locator("#credentials [data-credential]")).to_have_count(1)
        expect(page.locator("#history li")).to_have_count(1)
        stored = page.evaluate(KEY_IN_STORAGE)
        assert stored == {
            "type": "private",
            "extractable": False,
            "kid": kid,
            "usages": ["sign"],
            "algorithm": "P-256",
        }

        page.get_by_role("button", name="English").click()
        expect(page.locator("#history-title")).to_have_text("Presentation history (this device)")
        page.screenshot(path=str(artifacts / "6-reloaded-en.png"), full_page=True)
        page.get_by_role("button", name="中文").click()

        # A second e-ID, issued once the first was reported lost and revoked (one live e-ID a
        # person): the holder picks which to present; the revoked one is refused.
        # It comes as a link to the page itself (#offer=…), as an offer QR may carry it.
        ok(ecert("revoke", *fed.hz, fed.issued["id"], "--reason", "证件挂失", "--json"))
        second = _second_offer(fed.hz_url, fed.agency["api_key"])
        page.goto(f"{fed.hz_url}/wallet#offer={quote(second['offer_uri'], safe='')}")
        expect(page.locator("#offer-input")).to_have_value(second["offer_uri"])
        wallet_receive(page, second)
        expect(page.locator("#credentials [data-credential]")).to_have_count(2)
        first_id = min(page.evaluate(CREDENTIALS_IN_STORAGE), key=lambda c: c["receivedAt"])["id"]
        for pick_revoked in (True, False):
            request = _ask(fed.hz_url, fed.verifier["api_key"])
            page.locator("#request-input").fill(request["uri"])
            page.locator("#resolve-button").click()
            picks = page.locator(".consent-pick input[type=radio]")
            expect(picks).to_have_count(2)
            wanted = picks.and_(page.locator(f"[value='{first_id}']"))
            if not pick_revoked:
                wanted = picks.and_(page.locator(f":not([value='{first_id}'])"))
            wanted.check()
            page.locator("#consent-yes").click()
            head = page.locator("#answer .verdict-head")
            expect(head).to_contain_text("核验点拒绝" if pick_revoked else "已出示")
            if pick_revoked:
                expect(page.locator("#answer")).to_contain_text("证照已被撤销")
                expect(page.locator("#answer")).to_contain_text("REVOKED")
                page.screenshot(path=str(artifacts / "7-refused.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        outcomes = page.locator("#history li .history-outcome")
        expect(outcomes).to_have_text(["接受", "拒绝", "接受"])

        # Across origins: the region's gateway serves the page, 杭州 the offer and the desk. The
        # issuance calls and the answer go to 杭州 from the page's origin (CORS, preflights);
        # the page's own gateway resolves the desk (it knows 杭州 as its subordinate).
        page.goto(f"{fed.yrd_url}/wallet")
        page.locator("#make-key").click()
        another = fresh_subject("resident-eid")  # another person: the first holds a live e-ID
        wallet_receive(page, _second_offer(fed.hz_url, fed.agency["api_key"], another))
        # The desk's QR as a photo (no BarcodeDetector here): the gateway reads it.
        request = _ask(fed.hz_url, fed.verifier["api_key"])
        qr = tmp_path / "request-qr.png"
        qr.write_bytes(httpx.get(f"{fed.hz_url}{request['qr_png']}", timeout=30).content)
        page.locator("#file-input").set_input_files(qr)
        expect(page.locator("#consent-verifier")).to_have_text("西湖宾馆前台")
        expect(page.locator("#request-input")).to_have_value(request["uri"])
        page.locator("#consent-yes").click()
        expect(page.locator("#answer .verdict-head")).to_contain_text("已出示")
        page.screenshot(path=str(artifacts / "8-across-origins.png"), full_page=True)
