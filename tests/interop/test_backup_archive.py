"""The archive ``ecert backup`` writes, read by tools nobody here wrote: GNU tar unpacks it,
coreutils' ``sha256sum`` checks every part against the manifest, and OpenSSL finds the keys it
holds encrypted PKCS#8 that open with the gateway's passphrase and no other."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway import agencies, backup
from gateway.core import Gateway
from gateway.settings import Settings
from tests.conftest import PASSPHRASE, FakeClock, make_agency

TOOLS = ("tar", "sha256sum", "openssl")
TIMEOUT = 30  # seconds for one tool run


def _tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the backup interop checks: {missing} not found")
        pytest.skip(f"{missing} not found: install GNU tar, coreutils and OpenSSL")


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, check=False
    )


def test_gnu_tar_sha256sum_and_openssl_read_the_archive(tmp_path: Path, clock: FakeClock) -> None:
    _tools()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
        key_passphrase=PASSPHRASE,
        public_url=None,
        status_list_size=4096,
    )
    gw = Gateway.open(settings, clock=clock)
    try:
        agencies.init_city(gw, code="330100", name="杭州市",
                           public_url="https://ecert.hangzhou.gov.cn", actor="t")  # fmt: skip
        make_agency(gw, name="杭州市公安局", uscc="11330100002490365L", types=["resident-eid"])
        archive = tmp_path / "hz.tar.gz"
        made = backup.backup(gw, archive)
    finally:
        gw.close()

    listed = _run("tar", "-tzf", str(archive))
    assert listed.returncode == 0, listed.stderr
    parts = [t["part"] for t in made["tables"]]
    assert sorted(listed.stdout.split()) == sorted(["manifest.json", *parts])
    out = tmp_path / "unpacked"
    out.mkdir()
    unpacked = _run("tar", "-xzf", str(archive), "-C", str(out))
    assert unpacked.returncode == 0, unpacked.stderr

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    sums = "".join(f"{t['sha256']}  {t['part']}\n" for t in manifest["tables"])
    (out / "SHA256SUMS").write_text(sums, encoding="utf-8")
    checked = _run("sha256sum", "--check", "--strict", "SHA256SUMS", cwd=out)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for t in manifest["tables"]:
        assert (out / t["part"]).read_bytes().count(b"\n") == t["rows"], t["name"]

    (row,) = [
        json.loads(line)
        for line in (out / "tables/signing_keys.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    pem = tmp_path / "key.pem"
    pem.write_bytes(base64.b64decode(row["private_pem"]))
    opened = _run("openssl", "pkey", "-in", str(pem), "-passin", f"pass:{PASSPHRASE}", "-noout")
    assert opened.returncode == 0, opened.stderr
    wrong = _run("openssl", "pkey", "-in", str(pem), "-passin", "pass:not-the-passphrase",
                 "-noout")  # fmt: skip
    assert wrong.returncode != 0
    structure = _run("openssl", "asn1parse", "-in", str(pem))
    assert "pkcs5PBES2" in structure.stdout or "PBES2" in structure.stdout, structure.stdout
