"""Printing from the CLI (issue 12): ``ecert credentials print ID --out FILE [--size card]``
(:mod:`cli.print_cmd`, wired here as the ``credentials`` group will wire it), and the warning
``ecert serve`` logs at start-up when no Chinese font is installed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from cli.print_cmd import print_credential
from gateway.errors import NotFound
from tests.cli.conftest import LICENCE, City
from tests.cli.helpers import Served
from tests.gateway import print_helpers as pdf
from trust.errors import DataError, FieldError

credentials_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
credentials_app.command("print")(print_credential)
credentials_app.command("noop", hidden=True)(lambda: None)  # a group, as `ecert credentials`


def _print(city: City, *args: str) -> typer.testing.Result:
    where = ["--data-dir", str(city.data_dir)]
    return CliRunner().invoke(credentials_app, ["print", city.credential["id"], *args, *where])


def test_print_writes_the_a4_copy_and_the_card(city: City, tmp_path: Path) -> None:
    pdf.need_tools()
    for size, pages in (("a4", 1), ("card", 2)):
        out = tmp_path / f"licence-{size}.pdf"
        done = _print(city, "--out", str(out), "--size", size)
        assert done.exit_code == 0, done.output
        assert f"wrote {out} ({size}," in done.output
        assert pdf.pages(out) == pages
        shown = pdf.text(out)
        assert LICENCE["name"] in shown
        assert city.credential["identifier"] in shown
        assert pdf.qr_texts(out, page=pages) == [city.credential["qr_text"]]
    assert not list(tmp_path.glob(".ecert-print-*")), "no temporary file is left behind"


def test_print_refuses_a_bad_size_another_agency_and_an_existing_file(
    city: City, tmp_path: Path
) -> None:
    pdf.need_tools()
    out = tmp_path / "licence.pdf"
    bad_size = _print(city, "--out", str(out), "--size", "A3")
    assert isinstance(bad_size.exception, FieldError)
    assert bad_size.exception.errors[0]["field"] == "size"
    other = _print(city, "--out", str(out), "--agency", "ag-someone-else")
    assert isinstance(other.exception, NotFound)
    assert not out.exists()  # nothing written for a refused print

    out.write_bytes(b"kept")
    exists = _print(city, "--out", str(out))
    assert isinstance(exists.exception, DataError)
    assert "--force" in str(exists.exception)
    assert out.read_bytes() == b"kept"
    assert _print(city, "--out", str(out), "--force").exit_code == 0
    assert out.read_bytes().startswith(b"%PDF-")


@pytest.mark.slow
def test_serve_warns_at_start_up_when_certificates_cannot_be_printed(
    city: City, tmp_path: Path
) -> None:
    missing = {"ECERT_PDF_FONT": str(tmp_path / "no-such-font.ttc")}
    args = ["serve", "--data-dir", str(city.data_dir)]
    with Served(args, tmp_path, env=missing) as served:
        answer = httpx.get(
            f"{served.url}/api/v1/credentials/{city.credential['id']}/print.pdf",
            headers={"Authorization": f"Bearer {city.agency['api_key']}"},
            timeout=30,
        )
        assert answer.status_code == 409, answer.text
        assert "fonts-wqy-microhei" in answer.json()["detail"]["message"]
    assert "WARNING" in served.output()
    assert "apt-get install fonts-wqy-microhei" in served.output()

    pdf.need_tools()
    with Served(args, tmp_path) as served:
        pass
    assert "WARNING" not in served.output()
