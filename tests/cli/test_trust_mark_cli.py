"""``ecert region trust-mark`` and ``ecert verifier trust-mark`` end to end: 长三角's trust anchor
served by ``ecert serve`` on loopback, 杭州 joined and approved. The anchor grants a hotel desk
the police-counter role into a file; 杭州 attaches it (checked with the anchor first); the desk
may then ask for the ID number, and after the anchor revokes the mark it may not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import Result, Served, ecert, ecert_many, free_port

pytestmark = pytest.mark.slow

FED = "federation"


def _ok(result: Result) -> Any:
    assert result.returncode == 0, result
    return result.json()


def test_grant_attach_then_revoke_a_role_by_trust_mark(tmp_path: Path) -> None:
    yrd_port, hz_port = free_port(), free_port()
    while hz_port == yrd_port:
        hz_port = free_port()
    yrd_url = f"http://127.0.0.1:{yrd_port}"
    hz_url = f"http://127.0.0.1:{hz_port}"  # 杭州 is served only while it joins
    yrd, hz = ["--data-dir", str(tmp_path / "yrd")], ["--data-dir", str(tmp_path / "hz")]
    for made in ecert_many(
        [
            ["init", *yrd, "--city-code", "310000", "--city-name", "上海市",
             "--public-url", yrd_url],
            ["init", *hz, "--city-code", "330100", "--city-name", "杭州市",
             "--public-url", hz_url],
        ]
    ):  # fmt: skip
        assert made.returncode == 0, made
    kid = _ok(
        ecert(FED, "init-anchor", *yrd, "--region-id", "yrd", "--region-name", "长三角", "--json")
    )["kids"][0]
    mark_file = tmp_path / "desk-police.jwt"
    with Served(["serve", *yrd], tmp_path, port=yrd_port):
        with Served(["serve", *hz], tmp_path, port=hz_port):  # the anchor fetches its own EC
            _ok(ecert(FED, "join", *hz, "--anchor", yrd_url, "--anchor-kid", kid, "--json"))
        approved, desk = ecert_many(
            [
                [FED, "approve", *yrd, "--entity", hz_url, "--types", "resident-eid", "--json"],
                ["verifier", "add", *hz, "--name", "西湖宾馆前台", "--role", "hotel-desk",
                 "--json"],
            ]
        )  # fmt: skip
        _ok(approved)
        verifier = _ok(desk)["id"]
        subject = f"{hz_url}/verifiers/{verifier}"
        ask = ["counter", "request", *hz, "--verifier", verifier, "--type", "resident-eid",
               "--fields", "name,id_number", "--reason", "治安检查", "--json"]  # fmt: skip

        granted, at_a_city, not_a_mark = ecert_many(
            [
                ["region", "trust-mark", "grant", *yrd, "--subject", subject,
                 "--role", "police-counter", "--days", "30", "--out", str(mark_file), "--json"],
                ["region", "trust-mark", "grant", *hz, "--subject", subject,
                 "--role", "police-counter"],
                ["verifier", "trust-mark", "add", *hz, "--verifier", verifier,
                 "--file", str(tmp_path / "yrd" / "no-such-file")],
            ]
        )  # fmt: skip
        mark = _ok(granted)
        assert mark["role"] == "police-counter"
        assert mark["trust_mark_type"] == f"{yrd_url}/trust-marks/verifier-role/police-counter"
        assert mark_file.read_text(encoding="ascii").strip() == mark["trust_mark"]
        assert "信任锚" in at_a_city.one_error_line()
        assert "无法读取" in not_a_mark.one_error_line()

        before = ecert(*ask)
        assert "id_number" in before.one_error_line()
        attached = _ok(
            ecert("verifier", "trust-mark", "add", *hz, "--verifier", verifier,
                  "--file", str(mark_file), "--json")
        )  # fmt: skip
        assert attached["role"] == "police-counter"
        asked, listed = ecert_many([ask, ["region", "trust-mark", "list", *yrd, "--json"]])
        assert _ok(asked)["uri"].startswith("openid4vp://")
        assert [(m["id"], m["revoked_at"]) for m in _ok(listed)] == [(mark["id"], None)]

        _ok(ecert("region", "trust-mark", "revoke", *yrd, "--id", mark["id"], "--json"))
        after, again = ecert_many(
            [
                ask,
                ["verifier", "trust-mark", "add", *hz, "--verifier", verifier,
                 "--file", str(mark_file)],
            ]
        )  # fmt: skip
        assert "信任标志已撤销" in after.one_error_line()
        assert "信任标志已撤销" in again.one_error_line()
