"""Printable certificates (issue 12: "No printable certificate (only a bare QR image)"):
``GET /api/v1/credentials/{id}/print.pdf`` in A4 and card size, read back with poppler and the
project's QR decoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway import print_font
from gateway.core import Gateway
from gateway.print_layout import module_mm
from gateway.print_pages import A4_QR_MM, CARD_QR_MM
from issuers.qr import encode, qr_version
from tests.conftest import Agency, FakeClock
from tests.gateway import print_helpers as pdf
from tests.gateway.helpers import auth, client_for, count_credentials, licence_body
from tests.issuers.samples import SAMPLE_SUBJECTS

LICENCE = SAMPLE_SUBJECTS["business-licence"]
EID = SAMPLE_SUBJECTS["resident-eid"]


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    pdf.need_tools()
    with client_for(gw) as c:
        yield c


def _issue(client: TestClient, agency: Agency, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/api/v1/credentials", json=body, headers=auth(agency.api_key))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def _print(
    client: TestClient, agency: Agency, cid: str, tmp_path: Path, size: str | None = None
) -> Path:
    query = "" if size is None else f"?size={size}"
    response = client.get(
        f"/api/v1/credentials/{cid}/print.pdf{query}", headers=auth(agency.api_key)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'inline; filename="ecert-{cid}-{size or "a4"}.pdf"'
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"%PDF-")
    out = tmp_path / f"{cid}-{size}.pdf"
    out.write_bytes(response.content)
    return out


def _verify(client: TestClient, qr: str) -> dict[str, Any]:
    response = client.post("/api/v1/verify", json={"qr": qr})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _assert_fonts_embedded(printed: Path) -> None:
    fonts = pdf.fonts(printed)
    assert fonts, "a certificate with text names its font"
    for font in fonts:
        assert font.embedded, font  # no font left to the reader's machine
        assert font.subset, font
        assert "WenQuanYi" in font.name, font


def test_a4_copy_shows_the_public_fields_and_its_qr_verifies_at_150_dpi(
    client: TestClient, amr: Agency, tmp_path: Path
) -> None:
    issued = _issue(client, amr, licence_body())
    printed = _print(client, amr, issued["id"], tmp_path)

    assert pdf.page_size_mm(printed) == (210.0, 297.0)
    assert pdf.pages(printed) == 1
    shown = pdf.text(printed)
    for expected in (
        "营业执照", "副本", LICENCE["name"], LICENCE["uscc"], LICENCE["legal_representative"],
        LICENCE["address"], LICENCE["business_scope"], issued["identifier"],
        "杭州市市场监督管理局", amr.uscc, "2026-09-21", "有效", "本副本仅供参考",
    ):  # fmt: skip
        assert expected in shown, expected
    assert "本副本无效" not in shown
    _assert_fonts_embedded(printed)

    assert pdf.qr_texts(printed, page=1, dpi=150) == [issued["qr_text"]]
    result = _verify(client, issued["qr_text"])
    assert result["reason"] == "VALID"
    assert result["credential"]["identifier"] == issued["identifier"]


def test_card_has_the_holder_and_identifier_in_front_and_a_scannable_qr_behind(
    client: TestClient, amr: Agency, tmp_path: Path
) -> None:
    issued = _issue(client, amr, licence_body())
    printed = _print(client, amr, issued["id"], tmp_path, "card")

    assert pdf.page_size_mm(printed) == (85.6, 54.0)  # ISO/IEC 7810 ID-1
    assert pdf.pages(printed) == 2
    shown = pdf.text(printed)
    for expected in ("营业执照", "副本", LICENCE["name"], issued["identifier"], LICENCE["uscc"],
                     "杭州市市场监督管理局", "扫码核验"):  # fmt: skip
        assert expected in shown, expected
    _assert_fonts_embedded(printed)
    assert pdf.qr_texts(printed, page=1) == []
    assert pdf.qr_texts(printed, page=2, dpi=150) == [issued["qr_text"]]
    assert _verify(client, issued["qr_text"])["reason"] == "VALID"


def test_the_largest_qr_the_budget_allows_prints_modules_a_camera_resolves() -> None:
    # Version 17 at ECC M is the QR budget (ARCHITECTURE.md): about three pixels a module at 150
    # dpi, and at least 0.33 mm, what a phone camera resolves at reading distance.
    digits = next(n for n in range(600, 1300, 10) if qr_version("9" * n, "M") == 17)
    code = encode("9" * digits, ec_level="M")
    assert code.version == 17
    for side in (A4_QR_MM, CARD_QR_MM):
        assert module_mm(code, side) * 150 / 25.4 >= 2.9
        assert module_mm(code, side) >= 0.33


def test_a_long_business_scope_flows_onto_a_second_numbered_page(
    client: TestClient, amr: Agency, tmp_path: Path
) -> None:
    scope = ("技术服务、技术开发、技术咨询；" * 300)[:3990] + "终了标记"
    issued = _issue(client, amr, licence_body(business_scope=scope))
    printed = _print(client, amr, issued["id"], tmp_path, "a4")
    assert pdf.pages(printed) == 2
    shown = pdf.text(printed)
    assert "终了标记" in shown
    assert "第 2/2 页" in shown
    assert "续页" in shown
    assert pdf.qr_texts(printed, page=1) == [issued["qr_text"]]


def test_a_personal_type_prints_none_of_the_holders_details(
    client: TestClient, psb: Agency, tmp_path: Path
) -> None:
    issued = _issue(client, psb, {"type": "resident-eid", "subject": EID})
    for size in ("a4", "card"):
        printed = _print(client, psb, issued["id"], tmp_path, size)
        shown = pdf.text(printed).replace("\n", "").replace(" ", "")
        assert "居民身份证电子证照" in shown
        assert issued["identifier"] in shown
        assert "个人信息不予打印" in shown
        for personal in (EID["name"], EID["id_number"], EID["id_number"][-6:], EID["birth_date"],
                         EID["address"].replace(" ", ""), "汉"):  # fmt: skip
            assert personal not in shown, (size, personal)
        page = 1 if size == "a4" else 2
        assert pdf.qr_texts(printed, page=page) == [issued["qr_text"]]
    assert _verify(client, issued["qr_text"])["reason"] == "VALID"


@pytest.mark.parametrize(
    ("action", "body", "zh", "reason"),
    [
        ("revoke", {"reason": "吊销", "code": "07"}, "已吊销", "REVOKED"),
        ("suspend", {"reason": "经营异常"}, "已暂扣", "SUSPENDED"),
    ],
)
def test_a_credential_not_valid_at_printing_carries_a_mark_and_its_qr_says_why(
    client: TestClient,
    amr: Agency,
    tmp_path: Path,
    action: str,
    body: dict[str, str],
    zh: str,
    reason: str,
) -> None:
    issued = _issue(client, amr, licence_body())
    changed = client.post(
        f"/api/v1/credentials/{issued['id']}/{action}", json=body, headers=auth(amr.api_key)
    )
    assert changed.status_code == 200, changed.text
    for size in ("a4", "card"):
        printed = _print(client, amr, issued["id"], tmp_path, size)
        shown = pdf.text(printed)
        for said in (zh, "本副本无效", "NOT VALID"):
            assert said in shown, (size, said)
        page = 1 if size == "a4" else 2
        assert pdf.qr_texts(printed, page=page) == [issued["qr_text"]]  # the mark spares it
    assert _verify(client, issued["qr_text"])["reason"] == reason


@pytest.mark.parametrize(
    ("window", "advance", "said"),
    [
        ({"valid_until": "2026-12-31"}, 200 * 86_400, "已过期 · 本副本无效"),
        ({"valid_from": "2026-10-01"}, 0, "尚未生效 · 本副本暂无效"),
    ],
)
def test_an_expired_or_not_yet_valid_credential_is_marked_so(
    client: TestClient,
    amr: Agency,
    clock: FakeClock,
    tmp_path: Path,
    window: dict[str, str],
    advance: int,
    said: str,
) -> None:
    issued = _issue(client, amr, {**licence_body(), **window})
    clock.advance(advance)
    for size in ("a4", "card"):
        assert said in pdf.text(_print(client, amr, issued["id"], tmp_path, size)), size


def test_another_agencys_credential_is_not_found(
    client: TestClient, amr: Agency, psb: Agency
) -> None:
    issued = _issue(client, amr, licence_body())
    for cid in (issued["id"], "nope"):
        path = f"/api/v1/credentials/{cid}/print.pdf"
        response = client.get(path, headers=auth(psb.api_key))
        assert response.status_code == 404, response.text
        detail = response.json()["detail"]
        assert detail["code"] == "not_found"
        assert "未找到" in detail["message"]
    assert client.get(f"/api/v1/credentials/{issued['id']}/print.pdf").status_code == 401


@pytest.mark.parametrize("size", ["A4", "letter", "", "card "])
def test_a_size_other_than_a4_or_card_is_a_field_error(
    client: TestClient, gw: Gateway, amr: Agency, size: str
) -> None:
    issued = _issue(client, amr, licence_body())
    before = count_credentials(gw)
    response = client.get(
        f"/api/v1/credentials/{issued['id']}/print.pdf",
        params={"size": size},
        headers=auth(amr.api_key),
    )
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]["errors"]
    assert error["field"] == "size"
    assert "a4 或 card" in error["message"]
    assert repr(size) in error["message_en"]
    assert count_credentials(gw) == before


def test_without_a_chinese_font_print_says_which_package_to_install(
    client: TestClient, gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    issued = _issue(client, amr, licence_body())
    path = f"/api/v1/credentials/{issued['id']}/print.pdf"
    monkeypatch.setattr(print_font, "DEBIAN_FONTS", (tmp_path / "none.ttc",))
    latin = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    for setting in (None, tmp_path / "missing.ttf", latin if latin.is_file() else None):
        monkeypatch.setattr(gw.settings, "pdf_font", setting)
        response = client.get(path, headers=auth(amr.api_key))
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert "fonts-wqy-microhei" in detail["message"]
        assert "apt-get install fonts-wqy-microhei" in detail["message_en"]
        assert "ECERT_PDF_FONT" in detail["message_en"]
        assert print_font.missing_font_warning(gw.settings) is not None
    monkeypatch.undo()
    assert print_font.missing_font_warning(gw.settings) is None


def test_print_is_documented_in_openapi(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    operation = doc["paths"]["/api/v1/credentials/{credential_id}/print.pdf"]["get"]
    assert "application/pdf" in operation["responses"]["200"]["content"]
    (size,) = [p for p in operation["parameters"] if p["name"] == "size"]
    assert size["schema"]["enum"] == ["a4", "card"]
    assert {"401", "404", "409", "422"} <= set(operation["responses"])
