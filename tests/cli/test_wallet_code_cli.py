"""Reference codes end to end with real processes (issue 10): the CLI wallet asks 杭州's
running gateway for a code (``ecert wallet code``), the hotel desk resolves it with a reason
(``ecert counter resolve``) and sees the masked ID number; the same code again is refused; the
wallet then reads the signed use record (``ecert wallet history --credential``, ``ecert wallet
uses``)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import Served, ecert, free_port
from tests.cli.hotel_desk import FED, hotel_desk, ok
from tests.issuers.samples import SAMPLE_SUBJECTS


def test_a_wallet_code_resolves_once_at_the_hotel_desk(tmp_path: Path) -> None:
    full = SAMPLE_SUBJECTS["resident-eid"]["id_number"]
    with hotel_desk(tmp_path) as d:
        (kept,) = d.kept()
        made = ok(ecert("wallet", "code", kept["id"], *d.walleted, "--json"))
        assert len(made["code"]) == 16
        assert made["expires_in"] == 300
        assert Path(made["qr_file"]).read_bytes().startswith(b"\x89PNG")
        printed = ecert("wallet", "code", kept["id"], *d.walleted)
        assert printed.returncode == 0, printed
        assert printed.stdout.startswith("亮证码 · reference code：")
        resolve = ["counter", "resolve", *d.hz, "--verifier", d.verifier["id"],
                   "--reason", "旅馆住宿登记"]  # fmt: skip
        shown = ecert(*resolve, made["display"])
        assert shown.returncode == 0, shown
        lines = shown.stdout.splitlines()
        assert lines[0].startswith("亮证码核验 · reference code resolved by 西湖宾馆前台")
        assert "✓ 证照有效 · Certificate is valid (VALID)" in lines
        assert f"{full[:6]}********{full[-4:]}" in shown.stdout
        assert full not in shown.stdout
        again = ecert(*resolve, made["code"], "--json")
        assert again.returncode == 1, again
        assert again.json()["reason"] == "REFERENCE_USED"
        blank = ecert("counter", "resolve", *d.hz, "--verifier", d.verifier["id"],
                      "--reason", " ", made["code"])  # fmt: skip
        assert "用证事由" in blank.one_error_line()
        uses = ok(ecert("wallet", "uses", kept["id"], *d.walleted, "--json"))
        (use,) = uses["uses"]
        assert (use["counter"], use["reason"], use["city"]) == (
            "西湖宾馆前台",
            "旅馆住宿登记",
            "杭州市",
        )
        assert use["channel"] == "code"
        history = ok(ecert("wallet", "history", "--credential", kept["id"], *d.walleted,
                           "--json"))  # fmt: skip
        assert history["uses"] == uses["uses"]
        assert history["credential"] == kept["id"]
        printed_uses = ecert("wallet", "history", "--credential", kept["id"], *d.walleted)
        assert printed_uses.returncode == 0, printed_uses
        assert "签名，已核验）· use records, signed by" in printed_uses.stdout
        assert (
            "西湖宾馆前台（杭州市）· 亮证码 code · 事由 reason：旅馆住宿登记" in printed_uses.stdout
        )
        local = ecert("wallet", "history", *d.walleted[:2])
        assert local.returncode == 0, local
        assert "ecert wallet history --credential ID" in local.stdout


def test_a_paper_code_printed_by_the_agency_resolves_at_every_visit(tmp_path: Path) -> None:
    with hotel_desk(tmp_path, receive=False) as d:
        credential = d.issued["id"]
        qr = tmp_path / "paper.png"
        made = ok(ecert("paper-reference", credential, *d.hz, "--days", "30", "--qr-out",
                        str(qr), "--json"))  # fmt: skip
        assert made["paper"] is True
        assert made["expires_in"] == 30 * 86_400
        assert qr.read_bytes().startswith(b"\x89PNG")
        resolve = ["counter", "resolve", *d.hz, "--verifier", d.verifier["id"],
                   "--reason", "住房核查", made["display"], "--json"]  # fmt: skip
        assert [ok(ecert(*resolve))["reason"] for _ in range(2)] == ["VALID", "VALID"]
        printed = ecert("paper-reference", credential, *d.hz)
        assert printed.returncode == 0, printed
        assert printed.stdout.startswith("纸质亮证码 · paper reference code：")
        too_long = ecert("paper-reference", credential, *d.hz, "--days", "400")
        assert "1 至 366" in too_long.one_error_line()


def test_a_suzhou_desk_resolves_a_hangzhou_code_with_the_cli(tmp_path: Path) -> None:
    """``ecert counter resolve`` at 苏州 with 杭州's routable code: 苏州's gateway asks 杭州's
    running gateway, signed, and shows the masked number; 杭州 records 苏州's use."""
    full = SAMPLE_SUBJECTS["resident-eid"]["id_number"]
    with hotel_desk(tmp_path) as d:
        sz_port = free_port()
        sz_url, sz = f"http://127.0.0.1:{sz_port}", ["--data-dir", str(tmp_path / "sz")]
        made_sz = ecert("init", *sz, "--city-code", "320500", "--city-name", "苏州市",
                        "--public-url", sz_url)  # fmt: skip
        assert made_sz.returncode == 0, made_sz
        with Served(["serve", *sz], tmp_path, port=sz_port):
            ok(ecert(FED, "join", *sz, "--anchor", d.yrd_url, "--anchor-kid", d.kid, "--json"))
            ok(ecert(FED, "approve", "--data-dir", str(tmp_path / "yrd"), "--entity", sz_url,
                     "--types", "business-licence", "--json"))  # fmt: skip
            ok(ecert(FED, "sync", *sz, "--json"))  # 苏州's trust list now names 杭州's agency
            desk = ok(ecert("verifier", "add", *sz, "--name", "平江宾馆前台",
                            "--role", "hotel-desk", "--json"))  # fmt: skip
            (kept,) = d.kept()
            made = ok(ecert("wallet", "code", kept["id"], *d.walleted, "--json"))
            assert made["display"].startswith("330100-")
            resolve = ["counter", "resolve", *sz, "--verifier", desk["id"],
                       "--reason", "旅馆住宿登记"]  # fmt: skip
            shown = ecert(*resolve, made["display"])
            assert shown.returncode == 0, shown
            assert "✓ 证照有效 · Certificate is valid (VALID)" in shown.stdout.splitlines()
            assert f"{full[:6]}********{full[-4:]}" in shown.stdout
            assert full not in shown.stdout
            again = ecert(*resolve, made["display"], "--json")
            assert again.returncode == 1, again
            assert again.json()["reason"] == "REFERENCE_USED"
        uses = ok(ecert("wallet", "uses", kept["id"], *d.walleted, "--json"))
        (use,) = uses["uses"]
        assert (use["counter"], use["city"], use["channel"]) == ("平江宾馆前台", "苏州市", "code")
