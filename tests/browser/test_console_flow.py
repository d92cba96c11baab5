"""``/console`` in a real browser (Debian's Chromium through Playwright), against a real
``ecert serve`` on loopback: the whole flow of issue 12's console. An operator made with
``ecert agency operator add`` signs in (the TOTP computed here with pyotp), issues one business
licence from the generated form (a bad USCC first: the error shows beside its field, in
Chinese and English), uploads a register of 100 rows with 2 bad ones (the progress bar reaches
the end; 98 issued; the downloaded result file has 100 lines, 2 with errors), finds the one
issued by searching, opens it, revokes it with a reason and the national code (the status
history shows it), and prints it (a PDF comes back). English by the toggle."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect
from stdnum.cn import uscc

from tests.cli.helpers import Served, ecert, free_port
from tests.issuers.samples import SAMPLE_SUBJECTS

pytestmark = pytest.mark.slow

LICENCE = SAMPLE_SUBJECTS["business-licence"]
PASSWORD = "counter-desk-password-2026"


@dataclass(frozen=True)
class Console:
    url: str
    username: str
    totp: pyotp.TOTP


def _ok(result: object) -> dict[str, object]:
    assert getattr(result, "returncode", 1) == 0, result
    found = result.json()  # type: ignore[attr-defined]
    assert isinstance(found, dict)
    return found


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    home = tmp_path_factory.mktemp("console")
    data = str(home / "hz")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = ("--data-dir", data)
    assert (
        ecert(
            "init", *base, "--city-code", "330100", "--city-name", "杭州市", "--public-url", url
        ).returncode
        == 0
    )
    agency = _ok(
        ecert(
            "agency",
            "add",
            *base,
            "--name",
            "杭州市市场监督管理局",
            "--uscc",
            "11330100MB1958123M",
            "--types",
            "business-licence",
            "--json",
        )
    )
    made = _ok(
        ecert(
            "agency",
            "operator",
            "add",
            str(agency["id"]),
            "zhang.wei",
            *base,
            "--password-stdin",
            "--json",
            typed=PASSWORD + "\n",
        )
    )
    assert "password" not in made  # it was typed, never printed back
    totp = pyotp.parse_uri(str(made["totp_uri"]))
    assert isinstance(totp, pyotp.TOTP)
    with Served(["serve", *base], home, port=port) as served:
        yield Console(served.url, "zhang.wei", totp)


def _company(n: int) -> dict[str, str]:
    first = f"91330106MA{n:07d}"
    return {
        **LICENCE,
        "name": f"杭州测试{n:03d}贸易有限公司",
        "uscc": first + uscc.calc_check_digit(first),
    }


def _register() -> bytes:
    """100 rows; row 37 has a USCC whose check character is wrong, row 80 has no name."""
    out = io.StringIO()
    sheet = csv.DictWriter(out, fieldnames=list(LICENCE), lineterminator="\n")
    sheet.writeheader()
    for n in range(1, 101):
        row = _company(n)
        if n == 37:
            row["uscc"] = row["uscc"][:17] + ("0" if row["uscc"][17] != "0" else "1")
        if n == 80:
            row["name"] = ""
        sheet.writerow(row)
    return out.getvalue().encode("utf-8")


def test_an_operator_signs_in_issues_batches_searches_revokes_and_prints(
    console: Console, page: Page, artifacts: Path
) -> None:
    page.set_viewport_size({"width": 1200, "height": 1000})
    page.goto(f"{console.url}/console")
    page.get_by_label("用户名").fill(console.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_label("动态验证码").fill(console.totp.now())
    page.get_by_role("button", name="登录").click()
    expect(page.locator("#agency-name")).to_have_text("杭州市市场监督管理局")
    page.screenshot(path=str(artifacts / "signed-in.png"), full_page=True)

    # Issue one from the form the type's schema generated; a bad USCC is refused beside it.
    mine = _company(500)
    for name, value in mine.items():
        page.locator(f"#issue-f-{name}").fill(value)
    page.locator("#issue-f-uscc").fill(
        mine["uscc"][:17] + ("0" if mine["uscc"][17] != "0" else "1")
    )
    page.locator("#issue-form button[type=submit]").click()
    bad = page.locator('#issue-form .field[data-field="uscc"] .field-error')
    expect(bad).to_contain_text("统一社会信用代码")
    expect(page.locator("#issue-result")).to_be_empty()
    page.screenshot(path=str(artifacts / "field-error.png"), full_page=True)
    page.locator("#issue-f-uscc").fill(mine["uscc"])
    page.locator("#issue-form button[type=submit]").click()
    expect(page.locator("#issue-result")).to_contain_text("已签发")
    expect(bad).to_be_empty()

    # A register of 100 rows, 2 bad: 98 issued, a result file of 100 lines.
    page.locator("[data-tab=batch]").click()
    page.locator("#batch-file").set_input_files(
        files=[{"name": "register.csv", "mimeType": "text/csv", "buffer": _register()}]
    )
    page.get_by_role("button", name="开始签发").click()
    expect(page.locator("#batch-summary")).to_contain_text("签发 98 张", timeout=120_000)
    expect(page.locator("#batch-summary")).to_contain_text("2 行有错误")
    assert page.locator("#batch-progress").evaluate("(p) => p.value") == 100
    expect(page.locator("#batch-errors tbody tr")).to_have_count(2)
    page.screenshot(path=str(artifacts / "batch.png"), full_page=True)
    with page.expect_download() as downloading:
        page.locator("#batch-download").click()
    result = Path(downloading.value.path()).read_text(encoding="utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(result)))
    assert list(lines[0]) == ["row", "id", "证照标识", "qr_text", "error"]
    assert [int(line["row"]) for line in lines] == list(range(1, 101))
    refused = [line for line in lines if line["error"]]
    assert [int(line["row"]) for line in refused] == [37, 80]
    assert all(line["id"] and line["qr_text"] for line in lines if not line["error"])

    # Search finds the one issued from the form; open it.
    page.locator("[data-tab=search]").click()
    page.locator("#search-q").fill(mine["name"])
    page.locator("#search-form").get_by_role("button", name="查询").click()
    found = page.locator("#search-results tbody tr")
    expect(found).to_have_count(1)
    expect(found).to_contain_text(mine["uscc"])
    found.get_by_role("button", name="查看").click()
    expect(page.locator("#detail-title")).to_contain_text(mine["name"])
    assert page.locator("#detail-qr").evaluate("(img) => img.complete && img.naturalWidth") > 0

    # Revoke it with a reason and the national code 07 (吊销); the history shows it.
    page.locator("#status-reason").fill("依法吊销营业执照")
    page.locator("#status-code").select_option("07")
    page.get_by_role("button", name="撤销").click()
    history = page.locator("#detail-history tbody tr")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("依法吊销营业执照")
    expect(history).to_contain_text("07")
    expect(page.locator("#meta-mStatus")).to_contain_text("07 吊销")
    page.screenshot(path=str(artifacts / "revoked.png"), full_page=True)

    # Print: a PDF comes back.
    with page.expect_download() as downloading:
        page.get_by_role("button", name="打印（A4 副本）").click()
    pdf = Path(downloading.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF-")

    page.get_by_role("button", name="English").click()
    expect(page.locator("#meta-mStatus")).to_contain_text("07 revoked as a penalty")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.screenshot(path=str(artifacts / "english.png"), full_page=True)
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin")).to_be_visible()
    page.reload()
    expect(page.locator("#signin")).to_be_visible()  # the session ended on the server
