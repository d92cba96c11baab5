"""The README's contract forms, run exactly as a shell script would run them.

``ecert init`` and ``ecert agency add`` come from the session template (built with the CLI);
``ecert serve`` runs once for the module, and ``ecert verify --gateway`` asks it over HTTP.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from stdnum.cn import uscc

from tests.cli.conftest import (
    AGENCY_TYPES,
    AGENCY_USCC,
    CITY_CODE,
    CITY_NAME,
    LICENCE,
    City,
    CityTemplate,
    copy_city,
)
from tests.cli.helpers import Result, Served, ecert, ecert_many, free_port

pytestmark = pytest.mark.slow

KNOWN_TYPES = (
    "business-licence",
    "driving-licence",
    "drug-trading-permit",
    "food-business-permit",
    "industrial-production-permit",
    "no-housing-proof",
    "resident-eid",
)


# --- ecert init -----------------------------------------------------------------------------


def test_init_generates_a_private_passphrase(city_template: CityTemplate) -> None:
    init = city_template.init
    assert init.returncode == 0, init
    assert f"{CITY_NAME} ({CITY_CODE})" in init.stdout
    assert "generated passphrase" in init.stdout
    passphrase = city_template.data_dir / "key-passphrase"
    assert passphrase.is_file()
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    assert len(passphrase.read_text(encoding="utf-8").strip()) >= 32


def test_init_again_is_idempotent_and_another_city_is_refused(
    city_template: CityTemplate, tmp_path: Path
) -> None:
    same = copy_city(city_template, tmp_path / "same")
    other = copy_city(city_template, tmp_path / "other")
    passphrase = (same.data_dir / "key-passphrase").read_bytes()

    again, refused = ecert_many(
        [
            ["init", *same.args(), "--city-code", CITY_CODE, "--city-name", CITY_NAME],
            ["init", *other.args(), "--city-code", "310100", "--city-name", "上海市"],
        ]
    )

    assert again.returncode == 0, again
    assert "generated passphrase" not in again.stdout  # the existing one is kept
    assert (same.data_dir / "key-passphrase").read_bytes() == passphrase
    assert same.query("SELECT code, name FROM city") == [(CITY_CODE, CITY_NAME)]
    assert same.query("SELECT count(*) FROM agencies") == [(1,)]

    line = refused.one_error_line()
    assert CITY_CODE in line
    assert "310100" in line
    assert other.query("SELECT code FROM city") == [(CITY_CODE,)]


# --- ecert agency add -----------------------------------------------------------------------


def test_agency_add_json_carries_id_api_key_and_types(city_template: CityTemplate) -> None:
    out = city_template.agency_add.json()
    assert out["id"].startswith("ag-")
    assert out["api_key"].startswith("ek_")
    assert out["uscc"] == AGENCY_USCC
    assert out["region_code"] == CITY_CODE
    assert out["types"] == sorted(AGENCY_TYPES)


@pytest.fixture(scope="module")
def rejected_agencies(
    city_template: CityTemplate, tmp_path_factory: pytest.TempPathFactory
) -> tuple[City, Result, Result]:
    city = copy_city(city_template, tmp_path_factory.mktemp("rejected") / "data")
    bad_check = AGENCY_USCC[:-1] + "A"  # the right check character is M
    bad_uscc, bad_type = ecert_many(
        [
            ["agency", "add", *city.args(), "--name", "杭州市公安局", "--uscc", bad_check,
             "--types", "resident-eid", "--json"],
            ["agency", "add", *city.args(), "--name", "杭州市公安局",
             "--uscc", "11330100002490365L", "--types", "resident-eid,fishing-licence", "--json"],
        ]
    )  # fmt: skip
    return city, bad_uscc, bad_type


def test_agency_add_refuses_a_bad_uscc_or_an_unknown_type(
    rejected_agencies: tuple[City, Result, Result],
) -> None:
    city, bad_uscc, bad_type = rejected_agencies

    line = bad_uscc.one_error_line()
    assert "check character" in line
    assert "expected M, found A" in line
    assert bad_uscc.stdout == ""

    line = bad_type.one_error_line()
    assert "fishing-licence" in line
    assert all(t in line for t in KNOWN_TYPES), line
    assert bad_type.stdout == ""

    assert city.query("SELECT count(*) FROM agencies") == [(1,)]


def test_bad_uscc_error_names_the_field_once(
    rejected_agencies: tuple[City, Result, Result],
) -> None:
    _, bad_uscc, _ = rejected_agencies
    assert "uscc: uscc:" not in bad_uscc.one_error_line()


# --- ecert serve + ecert verify --gateway ---------------------------------------------------


@pytest.fixture(scope="module")
def gateway(
    city_template: CityTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, City]]:
    base = tmp_path_factory.mktemp("served")
    city = copy_city(city_template, base / "data")
    with Served(["serve", *city.args()], base) as served:
        yield served, city


def licence(n: int) -> dict[str, str]:
    first17 = f"91330106MA2K{n:05d}"
    return {
        **LICENCE,
        "name": f"杭州第{n}号数字科技有限公司",
        "uscc": first17 + uscc.calc_check_digit(first17),
    }


def issue_over_http(served: Served, city: City, n: int, into: Path) -> tuple[dict[str, Any], Path]:
    """POST /api/v1/credentials with the agency's key; save the QR PNG. Returns (body, png)."""
    auth = {"Authorization": f"Bearer {city.agency['api_key']}"}
    with httpx.Client(base_url=served.url, headers=auth, timeout=30) as client:
        created = client.post(
            "/api/v1/credentials", json={"type": "business-licence", "subject": licence(n)}
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        png = client.get(f"/api/v1/credentials/{body['id']}/qr.png")
        assert png.status_code == 200, png.text
        assert png.headers["content-type"] == "image/png"
    path = into / f"{body['id']}.png"
    path.write_bytes(png.content)
    return body, path


def test_serve_issue_scan_revoke_scan(gateway: tuple[Served, City], tmp_path: Path) -> None:
    served, city = gateway
    assert f"gateway on {served.url}" in served.output()
    body, png = issue_over_http(served, city, 1, tmp_path)
    # The city's URL goes into QR codes (`ecert init`'s default here), not the port serve
    # listens on: every process of one city prints one URL (issue 8).
    assert body["qr_text"].startswith("http://127.0.0.1:8000/v#")
    verify = ["verify", "--gateway", served.url, "--json"]

    by_text, by_image = ecert_many(
        [[*verify, "--qr-text", body["qr_text"]], [*verify, "--image", str(png)]]
    )
    for answer in (by_text, by_image):
        assert answer.returncode == 0, answer
        out = answer.json()
        assert out["valid"] is True
        assert out["reason"] == "VALID"
        assert out["credential"]["identifier"] == body["identifier"]
        assert out["issuer"]["id"] == city.agency_id

    with httpx.Client(base_url=served.url, timeout=30) as client:
        revoked = client.post(
            f"/api/v1/credentials/{body['id']}/revoke",
            headers={"Authorization": f"Bearer {city.agency['api_key']}"},
            json={"reason": "企业申请注销"},
        )
    assert revoked.status_code == 200, revoked.text

    by_text, by_image = ecert_many(
        [[*verify, "--qr-text", body["qr_text"]], [*verify, "--image", str(png)]]
    )
    for answer in (by_text, by_image):
        assert answer.returncode == 1, answer
        out = answer.json()
        assert out["valid"] is False
        assert out["reason"] == "REVOKED"
        assert out["credential"]["identifier"] == body["identifier"]


def test_verify_exit_codes_for_bad_usage_bad_input_and_no_gateway(
    gateway: tuple[Served, City], tmp_path: Path
) -> None:
    served, _ = gateway
    png = tmp_path / "qr.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")  # never read: the usage check comes first
    closed = f"http://127.0.0.1:{free_port()}"

    neither, both, unreachable, garbage = ecert_many(
        [
            ["verify", "--gateway", served.url],
            ["verify", "--gateway", served.url, "--qr-text", "x", "--image", str(png)],
            ["verify", "--gateway", closed, "--qr-text", "HC1:whatever"],
            ["verify", "--gateway", served.url, "--qr-text", "not a certificate", "--json"],
        ]
    )

    for usage in (neither, both):
        assert usage.returncode == 2, usage
        assert usage.stderr_lines == [
            "error: 请只给出 --qr-text 或 --image 之一 · give exactly one of --qr-text or --image"
        ]
    assert unreachable.returncode == 3, unreachable
    assert len(unreachable.stderr_lines) == 1, unreachable
    assert unreachable.stderr_lines[0].startswith(f"error: 无法连接 {closed}")
    assert f" · could not reach {closed}" in unreachable.stderr_lines[0]
    assert garbage.returncode == 1, garbage
    assert garbage.json()["valid"] is False
    assert garbage.json()["reason"] == "MALFORMED"


def test_local_verify_of_a_file_that_is_not_an_image_exits_2(city: City, tmp_path: Path) -> None:
    png = tmp_path / "qr.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    answer = ecert("verify", *city.args(), "--image", str(png))
    assert answer.returncode == 2, answer
    assert answer.stderr_lines[0].startswith("error: ")
