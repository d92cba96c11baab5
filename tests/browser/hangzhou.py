"""What the reference-code browser tests share: 长三角's anchor and 杭州 on loopback sockets,
on the clock the test holds; 杭州市公安局 issues a resident e-ID with a wallet offer, and
西湖宾馆前台 is a hotel desk. Use it as ``from tests.browser.hangzhou import city as city``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext

from gateway import verifiers
from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import FakeClock, make_agency
from tests.gateway.federation_helpers import federation_of
from tests.gateway.helpers import auth
from tests.interop.serving import serve_app, two_ports
from tests.issuers.samples import SAMPLE_SUBJECTS

HOLDER = SAMPLE_SUBJECTS["resident-eid"]
NUMBER = HOLDER["id_number"]
MASKED = f"{NUMBER[:6]}********{NUMBER[-4:]}"  # what a hotel desk sees of it
REASON = "旅馆住宿登记"


@dataclass
class City:
    clock: FakeClock
    yrd_url: str
    hz_url: str
    counter_key: str
    offer: dict[str, Any]
    hz: TestClient  # 杭州 in process, for what a test does without a page


@pytest.fixture
def city(tmp_path: Path, clock: FakeClock) -> Iterator[City]:
    """长三角 and 杭州 on loopback; 杭州市公安局 issues a resident e-ID with a wallet offer."""
    yrd_port, hz_port = two_ports()
    yrd, hz = f"http://127.0.0.1:{yrd_port}", f"http://127.0.0.1:{hz_port}"
    with federation_of(tmp_path, clock) as fed, ExitStack() as sockets:
        fed.anchor(yrd, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        city = fed.city(hz, anchor=yrd, code="330100", name="杭州市", types=["resident-eid"])
        psb = make_agency(
            city, name="杭州市公安局", uscc="11330100002490365L", types=["resident-eid"]
        )
        _row, counter_key = verifiers.add_verifier(
            city, name="西湖宾馆前台", role="hotel-desk", actor="test"
        )
        body = {"type": "resident-eid", "subject": HOLDER, "wallet_offer": True}
        issued = fed.client(hz).post("/api/v1/credentials", json=body, headers=auth(psb.api_key))
        assert issued.status_code == 201, issued.text
        for url, port in ((yrd, yrd_port), (hz, hz_port)):
            sockets.enter_context(serve_app(fed.client(url).app, port=port, lifespan="off"))
        offer = issued.json()["wallet_offer"]
        yield City(clock, yrd, hz, counter_key, offer, fed.client(hz))


def browser_context(browser: Browser, width: int, height: int) -> BrowserContext:
    """A Chinese-first screen of ``width``×``height``, every wait bounded."""
    context = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
    context.set_default_timeout(TIMEOUT_MS)
    return context
