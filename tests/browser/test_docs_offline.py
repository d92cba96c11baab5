"""``/docs`` and ``/redoc`` on a closed network, in a real browser against a real ``ecert serve``.

Issue 12: "`/docs` is a blank page without internet (Swagger UI comes from a CDN)." Every
request that leaves the gateway is recorded and aborted (Playwright route abort), as on a
kiosk's or an intranet's network; the pages must still show the gateway's operations, and
nothing may have been asked of anyone but the gateway.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page, Route, expect

from tests.cli.helpers import Served, hangzhou_city


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("docs-offline")
    port, url, where = hangzhou_city(tmp / "data")
    with Served(["serve", *where], tmp, port=port):
        yield url


@dataclass
class Offline:
    """What the page asked for: of the gateway (let through) and of anyone else (aborted)."""

    origin: str
    inside: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)

    def handle(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(f"{self.origin}/"):
            self.inside.append(url)
            route.continue_()
        else:
            self.outside.append(url)
            route.abort("internetdisconnected")


def _offline(page: Page, origin: str) -> Offline:
    seen = Offline(origin)
    page.context.route("**/*", seen.handle)
    return seen


def test_swagger_ui_renders_the_operations_with_nothing_from_outside(
    gateway_url: str, page: Page, artifacts: Path
) -> None:
    seen = _offline(page, gateway_url)
    page.goto(f"{gateway_url}/docs")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/verify").first).to_be_visible()
    assert operations.count() > 20, operations.count()  # the gateway's operations, not a stub
    expect(page.locator(".info .title")).to_contain_text("电子证照网关")
    page.screenshot(path=str(artifacts / "docs-offline.png"), full_page=False)
    assert seen.outside == [], f"requests left the gateway: {seen.outside}"
    asked = {url.removeprefix(gateway_url) for url in seen.inside}
    assert {"/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css",
            "/openapi.json"} <= asked, asked  # fmt: skip


def test_redoc_renders_the_operations_with_nothing_from_outside(
    gateway_url: str, page: Page, artifacts: Path
) -> None:
    seen = _offline(page, gateway_url)
    page.goto(f"{gateway_url}/redoc")
    expect(page.get_by_text("/api/v1/verify", exact=False).first).to_be_attached()
    expect(page.locator("h1").first).to_contain_text("电子证照网关")
    page.screenshot(path=str(artifacts / "redoc-offline.png"), full_page=False)
    assert seen.outside == [], f"requests left the gateway: {seen.outside}"
    assert f"{gateway_url}/docs/assets/redoc.standalone.js" in seen.inside, seen.inside
