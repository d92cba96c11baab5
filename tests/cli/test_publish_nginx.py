"""``ecert publish --out DIR`` served by nginx, and a kiosk that verifies from it (issue 13).

"Static documents for any CDN: status lists, trust lists, JWKS and entity configurations can be
written to a folder (`ecert publish --out DIR`, with the headers a web server needs) and served
by any static server; a test serves such a folder with nginx and a kiosk verifies from it."

nginx (Debian's) runs with a generated configuration on a loopback port and includes the
folder's ``_nginx.conf``. A region's anchor (it serves a trust list, a root and an entity
configuration): the documents come back byte for byte with the gateway's media types,
``Cache-Control`` and CORS. A city in no federation: its kiosk takes the bundle from nginx and
(``ecert trust fetch``) and answers VALID, then, after a revocation and a new publish, REVOKED.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from loadtests.common import licence_subject, make_anchor, prepare_data_dir
from tests.cli.helpers import ecert, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
READY = 10.0  # seconds for nginx to answer, or to serve a new folder after a reload


class Nginx:
    """nginx serving ``site`` on a loopback port, with its own prefix, pid and logs."""

    def __init__(self, site: Path, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        work.mkdir()
        self.conf = work / "nginx.conf"
        temp = "".join(
            f"    {kind}_temp_path {work / kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        user = "user root;\n" if os.geteuid() == 0 else ""  # the test's folders are 0700
        self.conf.write_text(
            f"{user}worker_processes 1;\npid {work / 'nginx.pid'};\n"
            f"error_log {work / 'error.log'} warn;\nevents {{ worker_connections 64; }}\n"
            f"http {{\n    access_log off;\n{temp}"
            f"    server {{\n        listen 127.0.0.1:{self.port};\n        root {site};\n"
            f"        include {site / '_nginx.conf'};\n    }}\n}}\n",
            encoding="utf-8",
        )
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        self.proc = subprocess.Popen(  # Debian's nginx, our generated config
            [NGINX, "-p", str(self.work), "-c", str(self.conf), "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + READY
            while True:
                assert self.proc.poll() is None, self._log()
                try:
                    httpx.get(f"{self.url}/statuslists", timeout=1.0)
                    return self
                except httpx.TransportError:
                    assert time.monotonic() < deadline, f"nginx did not answer:\n{self._log()}"
                    time.sleep(0.05)
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log(self) -> str:
        path = self.work / "error.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def reload(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)  # re-reads the include: new paths, new headers

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


@pytest.fixture
def nginx_binary() -> None:
    if not Path(NGINX).exists():
        pytest.skip("needs nginx: apt-get install nginx (.ci/run does)")


def _kiosk(nginx: Nginx, bundle: Path, qr: str) -> str:
    """A kiosk's update (``ecert trust fetch`` from nginx), then its offline scan."""
    fetched = ecert("trust", "fetch", "--url", nginx.url, "--out", str(bundle), "--json")
    assert fetched.returncode == 0, fetched
    assert fetched.json()["from"] == f"{nginx.url}/trust/bundle"
    done = ecert("verify", "--offline", "--trust-file", str(bundle), "--qr-text", qr, "--json")
    return str(done.json()["reason"])


def _scan(bundle: Path, qr: str) -> tuple[int, str]:
    done = ecert("verify", "--offline", "--trust-file", str(bundle), "--qr-text", qr, "--json")
    return done.returncode, str(done.json()["reason"])


def _issue(where: list[str], agency_id: str, count: int) -> list[dict[str, str]]:
    issued = []
    for n in range(count):
        made = ecert("issue", *where, "--agency", agency_id, "--type", "business-licence",
                     "--json", "--subject", json.dumps(licence_subject(n)))  # fmt: skip
        assert made.returncode == 0, made
        issued.append(made.json())
    return issued


def test_nginx_serves_the_documents_as_the_gateway_does(tmp_path: Path, nginx_binary: None) -> None:
    """A region's anchor: entity configuration, trust list and root besides the status lists."""
    data = tmp_path / "hz"
    agency_id, _ = prepare_data_dir(data, public_url=f"http://127.0.0.1:{free_port()}")
    make_anchor(data)  # a trust list, a root and an entity configuration to publish
    where = ["--data-dir", str(data)]
    _issue(where, agency_id, 1)
    site = tmp_path / "www" / "hangzhou"
    published = ecert("publish", *where, "--out", str(site), "--json")
    assert published.returncode == 0, published
    paths = published.json()["paths"]
    for wanted in ("/.well-known/openid-federation", "/.well-known/jwks.json", "/trust/list",
                   "/trust/root", "/statuslists", "/statuslists/1", "/trust/bundle"):  # fmt: skip
        assert wanted in paths, paths

    with Nginx(site, tmp_path / "nginx") as nginx, httpx.Client(timeout=10.0) as http:
        expected = {
            "/statuslists/1": "application/statuslist+jwt",
            "/.well-known/openid-federation": "application/entity-statement+jwt",
            "/trust/list": "application/trustlist+jwt",
            "/.well-known/jwks.json": "application/jwk-set+json",
            "/statuslists": "application/json",
            "/trust/root/history": "application/json",
        }
        for path, media in expected.items():
            answer = http.get(nginx.url + path, headers={"Accept-Encoding": "identity"})
            assert answer.status_code == 200, (path, answer.status_code)
            assert answer.headers["content-type"] == media, (path, answer.headers)
            assert answer.headers["access-control-allow-origin"] == "*", path
            assert answer.headers["cache-control"].startswith("public, max-age="), path
            assert "etag" in answer.headers, path
            file = site / path.lstrip("/")
            served = (file if file.is_file() else file / "index").read_bytes()
            assert answer.content == served, path
        listed = http.get(f"{nginx.url}/statuslists").json()["status_lists"]
        assert [s["id"] for s in listed] == [1]
        ttl = http.get(f"{nginx.url}/statuslists/1").headers["cache-control"]
        assert ttl == "public, max-age=300", ttl  # the list's ttl (ECERT_STATUS_TTL)
        configuration = f"{nginx.url}/.well-known/openid-federation"  # over 512 bytes
        zipped = http.get(configuration, headers={"Accept-Encoding": "gzip"})
        assert zipped.headers.get("content-encoding") == "gzip"
        assert zipped.headers.get("vary") == "Accept-Encoding"
        assert zipped.content == (site / ".well-known/openid-federation").read_bytes()
        preflight = http.options(f"{nginx.url}/statuslists/1",
                                 headers={"Origin": "https://kiosk.example",
                                          "Access-Control-Request-Method": "GET"})  # fmt: skip
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "GET" in preflight.headers["access-control-allow-methods"]
        for hidden in ("/_nginx.conf", "/_headers", "/_redirects"):
            assert http.get(nginx.url + hidden).status_code == 404, hidden


def test_a_kiosk_verifies_from_nginx_before_and_after_a_revocation(
    tmp_path: Path, nginx_binary: None
) -> None:
    """A city in no federation: its kiosk bundle is what vouches for its agencies."""
    data = tmp_path / "hz"
    agency_id, _ = prepare_data_dir(data, public_url=f"http://127.0.0.1:{free_port()}")
    where = ["--data-dir", str(data)]
    keep, doomed = _issue(where, agency_id, 2)
    site = tmp_path / "www" / "hangzhou"
    assert ecert("publish", *where, "--out", str(site)).returncode == 0
    with Nginx(site, tmp_path / "nginx") as nginx, httpx.Client(timeout=10.0) as http:
        assert _kiosk(nginx, tmp_path / "kiosk-1.json", keep["qr_text"]) == "VALID"
        assert _kiosk(nginx, tmp_path / "kiosk-1.json", doomed["qr_text"]) == "VALID"

        revoked = ecert("revoke", doomed["id"], *where, "--reason", "企业申请注销", "--code", "04")
        assert revoked.returncode == 0, revoked
        before = http.get(f"{nginx.url}/statuslists/1").content
        assert ecert("publish", *where, "--out", str(site)).returncode == 0
        nginx.reload()
        deadline = time.monotonic() + READY
        while http.get(f"{nginx.url}/statuslists/1").content == before:
            assert time.monotonic() < deadline, "nginx still serves the list before the revoke"
            time.sleep(0.05)
        # the same file: the new bundle is checked against the one held, then replaces it
        assert _kiosk(nginx, tmp_path / "kiosk-1.json", doomed["qr_text"]) == "REVOKED"
        assert _kiosk(nginx, tmp_path / "kiosk-1.json", keep["qr_text"]) == "VALID"
        gone = ecert("trust", "fetch", "--url", f"{nginx.url}/nothing", "--out",
                     str(tmp_path / "kiosk-1.json"))  # fmt: skip
        assert "expected 200, found 404" in gone.one_error_line()
        served = site / "trust" / "bundle"  # a bundle changed on its way: refused
        tampered = json.loads(served.read_bytes())
        tampered["trust_list"] = tampered["trust_list"][:-8] + "AAAAAAAA"
        served.write_bytes(json.dumps(tampered).encode())
        bad = ecert("trust", "fetch", "--url", nginx.url, "--out", str(tmp_path / "kiosk-1.json"))
        assert "did not verify" in bad.one_error_line()
        code, answer = _scan(tmp_path / "kiosk-1.json", doomed["qr_text"])
        assert (code, answer) == (1, "REVOKED")  # the file held is kept
    versions = sorted(p.name for p in site.parent.iterdir() if p.name.startswith(".hangzhou."))
    assert len(versions) == 2, versions  # the one served and the one before it
