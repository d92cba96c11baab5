"""Reference codes end to end with real processes (issue 10): the CLI wallet asks 杭州's
running gateway for a code (``ecert wallet code``), the hotel desk resolves it with a reason
(``ecert counter resolve``) and sees the masked ID number; the same code again is refused; the
wallet then reads the signed use record (``ecert wallet uses``)."""

from __future__ import annotations

from pathlib import Path

from tests.cli.helpers import ecert
from tests.cli.hotel_desk import hotel_desk, ok
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
        printed_uses = ecert("wallet", "uses", kept["id"], *d.walleted)
        assert printed_uses.returncode == 0, printed_uses
        assert "西湖宾馆前台（杭州市）· 事由 reason：旅馆住宿登记" in printed_uses.stdout
