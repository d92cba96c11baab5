"""``ecert publish --out DIR``: what the folder holds, how it is switched, what it refuses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.static_site import Document, nginx_file, redirects_file
from loadtests.common import prepare_data_dir
from tests.cli.helpers import Served, ecert, hangzhou_city

pytestmark = pytest.mark.slow


def _city(tmp_path: Path) -> list[str]:
    data = tmp_path / "hz"
    prepare_data_dir(data)
    return ["--data-dir", str(data)]


def test_the_documents_are_the_bytes_a_running_gateway_serves(tmp_path: Path) -> None:
    _, url, where = hangzhou_city(tmp_path / "hz")
    assert ecert("agency", "add", *where, "--name", "杭州市市场监督管理局", "--uscc",
                 "11330100MB1958123M", "--types", "business-licence").returncode == 0  # fmt: skip
    site = tmp_path / "site"
    done = ecert("publish", *where, "--out", str(site), "--json")
    assert done.returncode == 0, done
    port = int(url.rsplit(":", 1)[1])
    # Documents signed afresh by each process (status lists, entity statements) carry their
    # own iat; the unsigned ones must be the very bytes the gateway serves.
    unsigned = ["/.well-known/jwks.json", "/.well-known/openid-credential-issuer",
                "/vct/business-licence", "/statuslists"]  # fmt: skip
    with Served(["serve", *where], tmp_path, port=port) as served, httpx.Client() as http:
        for path in unsigned:
            answer = http.get(served.url + path, headers={"Accept-Encoding": "identity"})
            file = site / path.lstrip("/")
            assert answer.content == (file if file.is_file() else file / "index").read_bytes()
    headers = (site / "_headers").read_text(encoding="utf-8")
    assert "/statuslists/1\n  Content-Type: application/statuslist+jwt\n" in headers
    assert "  Cache-Control: public, max-age=300\n" in headers


def test_each_publish_switches_the_link_and_keeps_one_version_before(tmp_path: Path) -> None:
    where = _city(tmp_path)
    site = tmp_path / "out" / "site"
    seen = []
    for _ in range(3):
        assert ecert("publish", *where, "--out", str(site)).returncode == 0
        assert site.is_symlink()
        seen.append(site.resolve())
    assert len(set(seen)) == 3
    left = sorted(p for p in site.parent.iterdir() if p.name.startswith(".site."))
    assert left == sorted(seen[1:])  # the served version and the one before it
    assert not [p for p in site.parent.iterdir() if ".link-" in p.name]


def test_an_empty_folder_the_operator_made_is_taken(tmp_path: Path) -> None:
    where = _city(tmp_path)
    site = tmp_path / "site"
    site.mkdir()
    assert ecert("publish", *where, "--out", str(site)).returncode == 0
    assert (site / "statuslists" / "index").is_file()


@pytest.mark.parametrize("kind", ["folder with files", "file"])
def test_a_folder_it_did_not_write_is_refused_untouched(tmp_path: Path, kind: str) -> None:
    where = _city(tmp_path)
    site = tmp_path / "site"
    if kind == "file":
        site.write_text("mine", encoding="utf-8")
    else:
        site.mkdir()
        (site / "index.html").write_text("mine", encoding="utf-8")
    done = ecert("publish", *where, "--out", str(site))
    assert done.returncode == 1
    line = done.one_error_line()
    assert "ecert publish" in line, line
    assert "expected" in line, line
    assert "found" in line, line
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []
    assert (site.read_text() if kind == "file" else (site / "index.html").read_text()) == "mine"


def test_a_folder_under_a_file_is_a_clear_error(tmp_path: Path) -> None:
    where = _city(tmp_path)
    (tmp_path / "plain").write_text("x", encoding="utf-8")
    done = ecert("publish", *where, "--out", str(tmp_path / "plain" / "site"))
    assert done.returncode == 1
    assert "expected a folder" in done.one_error_line(), done


def test_the_server_files_name_each_path_and_the_folders_index() -> None:
    docs = [
        Document("/statuslists", b"{}", "application/json", "public, max-age=60"),
        Document("/statuslists/7", b"t", "application/statuslist+jwt", "public, max-age=300"),
    ]
    conf = nginx_file(docs)
    assert "location = /statuslists {" in conf
    assert "try_files /statuslists/index =404;" in conf
    assert "default_type application/statuslist+jwt;" in conf
    assert 'add_header Cache-Control "public, max-age=300" always;' in conf
    assert redirects_file(docs).splitlines()[1] == "/statuslists /statuslists/index 200"
