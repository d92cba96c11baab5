"""Browser tests: Playwright for Python driving the system's Chromium (Debian's ``chromium``;
``ECERT_CHROMIUM`` names another binary). Playwright's own browser download is never used.

Without a Chromium the tests skip and say how to get one; under ``CI=true`` they fail instead
(``.ci/run`` installs it when it is missing). Screenshots go to ``ECERT_TEST_ARTIFACTS`` (default
``test-artifacts/`` at the repository root, ignored by git): test artifacts, never committed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
HOW = (
    "browser tests need Chromium: `apt-get install -y chromium` (Debian), or ECERT_CHROMIUM=<path>"
)
# What Chromium needs on a closed network, headless, as root in a container: no sandbox (root),
# and none of its background connections (each one refused, many at a time, otherwise).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TIMEOUT_MS = 15_000  # every wait of a page is bounded
# The context's default (below) bounds a page's actions; expect()'s assertions have their own,
# 5 s, which a loaded 2-core machine once ran past while a page polled for an answer (a full
# run with other tests beside it). They get the same bound as every other wait.
expect.set_options(timeout=TIMEOUT_MS)


def chromium_path() -> str | None:
    named = os.environ.get("ECERT_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(HOW)
        pytest.skip(HOW)
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """Where this test's screenshots go (a folder per test)."""
    base = Path(os.environ.get("ECERT_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    name: str = request.node.name
    folder = base / name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
