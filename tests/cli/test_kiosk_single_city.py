"""An offline kiosk of a city in no federation, with real ``ecert`` processes (issue 12).

"Offline kiosks: `ecert trust export` on a single city says to run `federation sync`, which
says the city is not in a federation; the demo's data dirs need a passphrase printed nowhere."
Now a single city exports a bundle its kiosk (``ecert verify --offline``) accepts: VALID, then
after a revocation and a new export, REVOKED, with the kiosk pinned to the first root. The
demo prints the commands (and the demo-only passphrase), and they work as printed.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import httpx
import pytest

from cli.federation_demo import DEMO_PASSPHRASE, kiosk_lines
from cli.federation_demo_procs import DemoGateway, Spec
from tests.cli.helpers import Served, ecert
from tests.issuers.samples import SAMPLE_SUBJECTS

AMR_USCC = "11330100MB1958123M"


def _root_file(bundle: Path, out: Path) -> Path:
    """What an operator pins on the kiosk: the root of the first bundle it was given."""
    out.write_text(json.dumps(json.loads(bundle.read_bytes())["root"]), encoding="utf-8")
    return out


def _kiosk(bundle: Path, qr: str, *extra: str) -> tuple[int, dict[str, object]]:
    done = ecert("verify", "--offline", "--trust-file", str(bundle), "--qr-text", qr, "--json",
                 *extra)  # fmt: skip
    return done.returncode, done.json()


@pytest.mark.slow
def test_a_single_city_exports_a_bundle_its_offline_kiosk_accepts(tmp_path: Path) -> None:
    where = ["--data-dir", str(tmp_path / "hz")]
    made = ecert("init", *where, "--city-code", "330100", "--city-name", "杭州市")
    assert made.returncode == 0, made
    agency = ecert("agency", "add", *where, "--name", "杭州市市场监督管理局", "--uscc", AMR_USCC,
                   "--types", "business-licence", "--json")  # fmt: skip
    assert agency.returncode == 0, agency
    subject = json.dumps(SAMPLE_SUBJECTS["business-licence"])
    issued = ecert("issue", *where, "--agency", agency.json()["id"], "--type", "business-licence",
                   "--json", "--subject", subject)  # fmt: skip
    assert issued.returncode == 0, issued
    qr = issued.json()["qr_text"]

    first = tmp_path / "kiosk-1.json"
    exported = ecert("trust", "export", *where, "--out", str(first))
    assert exported.returncode == 0, exported  # was: "no trust list yet: run federation sync"
    assert "信任包已导出" in exported.stdout
    pinned = _root_file(first, tmp_path / "root.json")
    code, answer = _kiosk(first, qr, "--root", str(pinned))
    assert (code, answer["reason"]) == (0, "VALID"), answer

    revoked = ecert(
        "revoke", issued.json()["id"], *where, "--reason", "企业申请注销", "--code", "04"
    )
    assert revoked.returncode == 0, revoked
    second = tmp_path / "kiosk-2.json"
    assert ecert("trust", "export", *where, "--out", str(second)).returncode == 0
    code, answer = _kiosk(second, qr, "--root", str(pinned))
    assert (code, answer["reason"]) == (1, "REVOKED"), answer
    code, answer = _kiosk(first, qr)  # the older bundle still says what it knew then
    assert (code, answer["reason"]) == (0, "VALID"), answer


@pytest.mark.slow
def test_the_demo_prints_kiosk_commands_that_work_as_printed(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    with Served(["demo", "--data-dir", str(data)], tmp_path) as demo:
        banner = demo.output()
        assert f"{demo.url}/v?kiosk=1" in banner
        assert "ECERT_KEY_PASSPHRASE=" in banner  # the demo-only passphrase, printed
        (export_line,) = [line for line in banner.splitlines() if "trust export" in line]
        args = shlex.split(export_line)[1:]  # `.venv/bin/ecert` is the installed script here
        bundle = tmp_path / "kiosk.json"
        args[args.index("--out") + 1] = str(bundle)
        info = json.loads((data / "demo.json").read_text(encoding="utf-8"))
        amr = info["agencies"][0]
        sample = next(s for s in info["samples"] if s["type"] == "business-licence")
        with httpx.Client(base_url=demo.url, timeout=30) as client:
            auth = {"Authorization": f"Bearer {amr['api_key']}"}
            qr = client.get(f"/api/v1/credentials/{sample['id']}", headers=auth).json()["qr_text"]
            assert ecert(*args).returncode == 0
            code, answer = _kiosk(bundle, qr)
            assert (code, answer["reason"]) == (0, "VALID"), answer
            done = client.post(f"/api/v1/credentials/{sample['id']}/revoke", headers=auth,
                               json={"reason": "依法吊销", "code": "07"})  # fmt: skip
            assert done.status_code == 200, done.text
        assert ecert(*args).returncode == 0
        code, answer = _kiosk(bundle, qr)
        assert (code, answer["reason"]) == (1, "REVOKED"), answer


def test_the_federation_demo_prints_its_passphrase_beside_the_kiosk_commands(
    tmp_path: Path,
) -> None:
    def city(database_url: str) -> DemoGateway:
        spec = Spec("suzhou", "city", "yrd", "长三角", "320500", "苏州市", "yrd")
        return DemoGateway(
            spec=spec,
            url="http://127.0.0.1:9102",
            port=9102,
            data_dir=tmp_path / "suzhou",
            database_url=database_url,
            env={},
        )

    lines = "\n".join(kiosk_lines(city(f"sqlite:///{tmp_path}/suzhou/gateway.db")))
    assert f"ECERT_KEY_PASSPHRASE={DEMO_PASSPHRASE}" in lines
    assert f"trust export --data-dir {tmp_path / 'suzhou'} --out" in lines
    assert "ECERT_DATABASE_URL" not in lines  # the data directory's own SQLite file
    pg = "postgresql+psycopg://postgres@127.0.0.1:5432/demo_suzhou"
    assert re.search(rf"ECERT_DATABASE_URL={re.escape(pg)}\b", "\n".join(kiosk_lines(city(pg))))
    assert lines.startswith("苏州市的离线核验机")  # zh-CN first
