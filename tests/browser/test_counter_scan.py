"""``/counter`` reads a reference code (亮证码) from a QR by camera or photo (issue 10), in a real
browser (Debian's Chromium through Playwright) against 杭州's gateway on loopback, whose clock
the test holds (``tests/browser/hangzhou.py``): a holder's wallet (its key, here in Python)
asks for codes; the clerk uploads the PNG of a code's QR (what ``POST /api/v1/references``
answers as ``qr_png``) and sees the result; a photo with no QR, a presentation request's QR
and a code without a reason are each told in Chinese and English. Headless Chromium on Linux
has no ``BarcodeDetector``: the camera button stays hidden; a page given one (a stand-in
detector and camera) shows it, and the camera's first code resolves like a typed one."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from issuers.qr import render_png
from tests.browser.hangzhou import MASKED, NUMBER, REASON, City, browser_context
from tests.browser.hangzhou import city as city  # the fixture
from tests.browser.pages import counter_sign_in
from tests.gateway.test_presentation_answers import redeem
from trust.holder_proof import make_holder_proof
from trust.keys import SigningKey
from trust.sdjwt.issue import SdJwt
from trust.statuslist import StatusReference

pytestmark = pytest.mark.slow


@dataclass
class Holder:
    """The holder's wallet, here in Python: its key and the e-ID it received."""

    city: City
    key: SigningKey
    sd_jwt: SdJwt

    def code(self) -> dict[str, str]:
        """A fresh code of the e-ID, as the wallet receives it."""
        ref = StatusReference.from_claims(self.sd_jwt.unverified_payload())
        assert ref is not None
        proof = make_holder_proof(
            self.key, audience=self.city.hz_url, credential=ref, now=self.city.clock()
        )
        made = self.city.hz.post("/api/v1/references", json={"proof": proof})
        assert made.status_code == 201, made.text
        return dict(made.json())


@pytest.fixture
def holder(city: City) -> Holder:
    key = SigningKey.generate()
    return Holder(city, key, redeem(city.hz, city.clock, city.offer, key, "resident-eid"))


def _png(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _qr_png(tmp_path: Path, made: dict[str, str]) -> Path:
    """The code's QR as the gateway drew it (``data:image/png;base64,…``), as a file."""
    head, _, data = made["qr_png"].partition(",")
    assert head == "data:image/png;base64", head
    return _png(tmp_path, f"code-{made['code']}.png", base64.b64decode(data))


def _blank_png(tmp_path: Path) -> Path:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), "white").save(out, format="PNG")
    return _png(tmp_path, "blank.png", out.getvalue())


def _desk(browser: Browser, city: City, init_script: str | None = None) -> Page:
    context = browser_context(browser, 1000, 1000)
    if init_script:
        context.add_init_script(init_script)
    desk = context.new_page()
    counter_sign_in(desk, city.hz_url, city.counter_key)
    expect(desk.locator("#desk-name")).to_have_text("西湖宾馆前台")
    return desk


def _expect_valid(desk: Page) -> None:
    result = desk.locator("#result")
    expect(result.locator(".verdict-head")).to_contain_text("有效")
    expect(result.locator("tr", has_text="公民身份号码（部分隐藏）").locator("td")).to_have_text(
        MASKED
    )
    expect(result.locator("tr", has_text="出示方式")).to_contain_text("亮证码")
    expect(result.locator("tr", has_text="用证事由").locator("td")).to_have_text(REASON)
    assert NUMBER not in desk.content()


def test_the_counter_reads_a_code_from_a_photo_and_says_what_else_it_found(
    browser: Browser, city: City, holder: Holder, tmp_path: Path, artifacts: Path
) -> None:
    desk = _desk(browser, city)
    try:
        expect(desk.get_by_role("button", name="上传二维码图片")).to_be_visible()
        expect(desk.locator("#camera-button")).to_be_hidden()  # no BarcodeDetector here
        assert desk.evaluate("() => 'BarcodeDetector' in window") is False
        file_input = desk.locator("#file-input")
        problem = desk.locator("#problem")
        code_input = desk.locator("#code-input")

        # A code's QR without a reason: said in both languages, the code kept for the reason.
        first = holder.code()
        file_input.set_input_files(_qr_png(tmp_path, first))
        expect(problem).to_contain_text("请填写用证事由")
        expect(problem).to_contain_text("Enter the reason")
        expect(code_input).to_have_value(first["display"])
        expect(desk.locator("#result")).to_be_empty()
        desk.get_by_label("用证事由").fill(REASON)
        desk.get_by_role("button", name="核验亮证码").click()
        _expect_valid(desk)
        expect(problem).to_be_empty()

        # The next code's QR, with the reason already typed: resolved at once.
        second = holder.code()
        file_input.set_input_files(_qr_png(tmp_path, second))
        expect(desk.locator("#result .verdict-msg")).to_have_text("证照有效")
        _expect_valid(desk)
        expect(code_input).to_have_value("")
        expect(code_input).to_be_focused()  # the next scan needs no click
        desk.screenshot(path=str(artifacts / "1-photo-code-valid.png"), full_page=True)

        # A photo with no QR: the gateway's reader says so, in both languages.
        file_input.set_input_files(_blank_png(tmp_path))
        expect(problem).to_contain_text("图片中未找到二维码，请拍清晰、完整的二维码")
        expect(problem).to_contain_text("no QR code found in the image")
        expect(desk.locator("#result")).to_be_empty()  # the last holder's result is gone
        desk.screenshot(path=str(artifacts / "2-photo-no-qr.png"), full_page=True)

        # A counter's own request QR (openid4vp://) is for the holder's wallet, not a code.
        link = "openid4vp://?client_id=openid_federation%3Ahttps%3A%2F%2Fhz.example.cn"
        file_input.set_input_files(_png(tmp_path, "request.png", render_png(link)))
        expect(problem).to_contain_text("这是出示请求的二维码（openid4vp://）")
        expect(problem).to_contain_text("This QR is a presentation request (openid4vp://)")
        expect(code_input).to_have_value("")

        # Any other text: what was expected and what was found.
        other = "https://hz.example.cn/v#5678901234567890123456789012345678901234567890"
        file_input.set_input_files(_png(tmp_path, "other.png", render_png(other)))
        expect(problem).to_contain_text(
            "二维码内容不是亮证码：应为 330100-ABCD-EFGH-JKLM-NP23 这样的码，"
            "读到的是“https://hz.example.cn/v#567890123456789…”"
        )
        expect(problem).to_contain_text("expected one like 330100-ABCD-EFGH-JKLM-NP23, found")
        desk.screenshot(path=str(artifacts / "3-photo-not-a-code.png"), full_page=True)
        desk.get_by_role("button", name="English").click()
        expect(problem).to_contain_text("The QR does not hold a reference code")
        expect(desk.get_by_role("button", name="Upload QR photo")).to_be_visible()

        # The same code again, by photo: used, with its reason code.
        file_input.set_input_files(_qr_png(tmp_path, second))
        expect(desk.locator("#result")).to_contain_text("REFERENCE_USED")
    finally:
        desk.context.close()


# A stand-in for a phone's BarcodeDetector and camera: the camera films a blank canvas; the
# detector sees the QR text the test puts in window.__qr, from its second look on.
CAMERA = """(() => {
  let looks = 0;
  window.BarcodeDetector = class {
    static async getSupportedFormats() { return ["qr_code", "ean_13"]; }
    constructor(options) { this.formats = options.formats; }
    async detect() {
      looks += 1;
      return looks >= 2 && window.__qr ? [{ rawValue: window.__qr, format: "qr_code" }] : [];
    }
  };
  navigator.mediaDevices.getUserMedia = async () => {
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 48;
    canvas.getContext("2d").fillRect(0, 0, 64, 48);
    return canvas.captureStream(5);
  };
})();"""


def test_where_the_browser_reads_qr_codes_the_camera_scans_a_code(
    browser: Browser, city: City, holder: Holder, artifacts: Path
) -> None:
    desk = _desk(browser, city, init_script=CAMERA)
    try:
        camera_button = desk.get_by_role("button", name="用摄像头扫码")
        expect(camera_button).to_be_visible()
        desk.get_by_label("用证事由").fill(REASON)
        viewfinder = desk.locator("#camera")
        camera_button.click()  # nothing in front of it yet: it keeps looking
        expect(viewfinder).to_be_visible()
        expect(viewfinder).to_contain_text("将持证人的亮证码二维码对准取景框")
        expect(camera_button).to_be_hidden()
        desk.screenshot(path=str(artifacts / "camera-on.png"), full_page=True)
        desk.get_by_role("button", name="关闭摄像头").click()
        expect(viewfinder).to_be_hidden()
        assert desk.evaluate("() => document.querySelector('#camera-video').srcObject") is None

        made = holder.code()
        camera_button.click()
        expect(viewfinder).to_be_visible()
        desk.evaluate("(text) => { window.__qr = text; }", made["qr_text"])  # the phone is shown
        _expect_valid(desk)
        expect(viewfinder).to_be_hidden()  # it stops at the first code
        expect(camera_button).to_be_visible()
        desk.screenshot(path=str(artifacts / "camera-code-valid.png"), full_page=True)

        desk.evaluate("() => { window.__qr = 'openid4vp://?request_uri=x'; }")
        camera_button.click()
        expect(desk.locator("#problem")).to_contain_text("应由持证人的钱包扫描")
    finally:
        desk.context.close()
