"""End to end (issue 9): real ``ecert serve`` processes on loopback, 长三角's trust
anchor and 杭州 (joined, approved for resident e-IDs). 杭州市公安局 issues a resident e-ID to
the CLI wallet through the offer; a hotel desk registered in 杭州 asks for name and sex with a
reason; ``ecert wallet present --yes`` resolves the desk through the federation to the anchor it
pins, presents, and ``ecert counter result`` shows the fields with holder binding confirmed.
The same answer replayed is refused; a presentation carrying another request's nonce is
refused; a request for more than the role allows is refused by the wallet; after the agency
revokes, the next presentation answers REVOKED.

With two resident e-IDs in the wallet (an old one and its renewal), the hotel desk asks for name
and the masked ID number: the wallet refuses to pick silently under ``--yes``, lists them and
takes the holder's choice, or ``--credential ID``; the desk sees ``330106********1233`` under its
label, and the full number nowhere."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import ecert, ecert_many
from tests.cli.hotel_desk import hotel_desk, ok
from tests.cli.wallet_helpers import another_nonce_and_a_replay_are_refused
from tests.gateway.holders import fresh_subject
from tests.issuers.samples import SAMPLE_SUBJECTS

pytestmark = pytest.mark.slow


def test_a_hotel_desk_sees_name_and_sex_with_holder_binding_then_revoked(tmp_path: Path) -> None:
    with hotel_desk(tmp_path) as city:
        hz, hz_url, yrd_url = city.hz, city.hz_url, city.yrd_url
        wallet_dir, walleted = city.wallet_dir, city.walleted
        verifier = city.verifier["id"]
        ask = ["counter", "request", *hz, "--verifier", verifier, "--type", "resident-eid",
               "--fields", "name,sex", "--reason", "旅馆住宿登记", "--json"]  # fmt: skip
        first, second, third = (ok(r) for r in ecert_many([ask, ask, ask]))
        trusting = city.trusting

        # Without --yes and nothing typed, the wallet asks and presents nothing.
        declined = ecert("wallet", "present", first["uri"], *walleted, *trusting)
        assert "未出示" in declined.one_error_line()
        presented = ecert("wallet", "present", first["uri"], *walleted, *trusting, "--yes")
        assert presented.returncode == 0, presented
        assert "西湖宾馆前台" in presented.stdout
        assert "杭州市" in presented.stdout
        assert "旅馆住宿登记" in presented.stdout
        assert f"{hz_url}/verifiers/{verifier} → {hz_url} → {yrd_url}" in presented.stdout
        assert "已出示" in presented.stdout

        shown, shown_json, history = ecert_many(
            [
                ["counter", "result", first["id"], *hz],
                ["counter", "result", first["id"], *hz, "--json"],
                ["wallet", "history", "--wallet-dir", str(wallet_dir), "--json"],
            ]
        )
        assert shown.returncode == 0, shown
        assert "证照有效" in shown.stdout
        assert "持证人绑定 · holder binding：已确认 · confirmed" in shown.stdout
        assert SAMPLE_SUBJECTS["resident-eid"]["name"] in shown.stdout
        result = ok(shown_json)["result"]
        assert result["reason"] == "VALID"
        assert result["holder_binding"] is True
        assert {f["name"]: f["value"] for f in result["fields"]} == {
            "name": SAMPLE_SUBJECTS["resident-eid"]["name"],
            "sex": SAMPLE_SUBJECTS["resident-eid"]["sex"],
        }
        (entry,) = ok(history)
        assert entry["counter"] == "西湖宾馆前台"
        assert entry["fields"] == ["name", "sex"]
        assert entry["purpose"] == "旅馆住宿登记"
        assert entry["accepted"] is True

        # A request that is answered is gone: the wallet cannot present to it again.
        again = ecert("wallet", "present", first["uri"], *walleted, *trusting, "--yes")
        assert "出示请求已失效" in again.one_error_line()

        # A presentation carrying another request's nonce is refused; so is an answer replayed.
        another_nonce_and_a_replay_are_refused(
            wallet_dir, second["request_uri"], third["request_uri"], ("name", "sex")
        )

        # After the agency revokes, the next presentation answers REVOKED.
        revoked = httpx.post(
            f"{hz_url}/api/v1/credentials/{city.issued['id']}/revoke",
            json={"reason": "证件挂失"},
            headers={"Authorization": f"Bearer {city.agency['api_key']}"},
            timeout=30,
        )
        assert revoked.status_code == 200, revoked.text
        fourth = ok(ecert(*ask))
        refused = ecert("wallet", "present", fourth["uri"], *walleted, *trusting, "--yes")
        assert "证照已被撤销" in refused.one_error_line()
        after = ok(ecert("counter", "result", fourth["id"], *hz, "--json"))
        assert after["result"]["reason"] == "REVOKED"
        assert after["result"]["fields"] == []

        # A wallet trusting another anchor key refuses to present at all.
        fifth = ok(ecert(*ask))
        strange = ecert(
            "wallet", "present", fifth["uri"], *walleted, "--trust-anchor", yrd_url,
            "--anchor-kid", "not-the-anchors-kid", "--yes",
        )  # fmt: skip
        assert "not-the-anchors-kid" in strange.one_error_line()
        history_after = ok(ecert("wallet", "history", "--wallet-dir", str(wallet_dir), "--json"))
        assert [e["accepted"] for e in history_after] == [True, False]
        assert history_after[1]["answer"]["error"] == "access_denied"


def test_a_wallet_with_two_e_ids_asks_which_and_the_desk_sees_only_the_masked_number(
    tmp_path: Path,
) -> None:
    subject = SAMPLE_SUBJECTS["resident-eid"]
    # One person holds one live e-ID (issue 12): the second is another person's (a child's,
    # say), kept in the same wallet. Both match the desk's request.
    another = {**fresh_subject("resident-eid"), "name": subject["name"]}
    with hotel_desk(tmp_path) as d:
        renewed = d.receive_another(another)
        (old,) = [c for c in d.kept() if c["id"] != renewed["id"]]
        number = {old["id"]: subject["id_number"], renewed["id"]: another["id_number"]}
        asks = ecert_many([d.ask("name,id_number_masked")] * 3 + [d.ask("name,id_number")])
        first, second, third = (ok(r) for r in asks[:3])
        # The desk's own gateway refuses to ask a hotel desk's wallet for the full number.
        assert "id_number" in asks[3].one_error_line()

        # Several match and --yes alone: refused, listing both; the request stays open.
        refused = d.present(first["uri"], "--yes")
        line = refused.one_error_line()
        assert "--credential" in line
        assert old["id"] in line
        assert renewed["id"] in line
        # The holder chooses the second one listed, and confirms.
        chosen = d.present(first["uri"], typed="2\ny\n")
        assert chosen.returncode == 0, chosen
        assert "符合请求的证照 · matching credentials (2)" in chosen.stdout
        (listed,) = [ln for ln in chosen.stdout.splitlines() if ln.startswith("  [2] ")]
        picked = listed.split()[1]
        other = old["id"] if picked == renewed["id"] else renewed["id"]
        assert f"[2] {picked}  resident-eid  签发方 issuer {d.hz_url}/agencies/" in listed
        assert "签发于 issued" in listed
        assert "有效期至" in listed
        # In a script: --credential with --yes.
        scripted = d.present(second["uri"], "--credential", other, "--yes")
        assert scripted.returncode == 0, scripted
        wrong = d.present(third["uri"], "--credential", "not-in-wallet", "--yes")
        assert "not-in-wallet" in wrong.one_error_line()

        shown, shown_json, history = ecert_many(
            [
                ["counter", "result", first["id"], *d.hz],
                ["counter", "result", first["id"], *d.hz, "--json"],
                ["wallet", "history", "--wallet-dir", str(d.wallet_dir), "--json"],
            ]
        )
        full = number[picked]
        masked = f"{full[:6]}********{full[-4:]}"
        assert f"公民身份号码（部分隐藏） Citizen ID number (masked)：{masked}" in shown.stdout
        answered = ok(shown_json)
        assert answered["result"]["reason"] == "VALID"
        assert [f["name"] for f in answered["result"]["fields"]] == ["name", "id_number_masked"]
        for what in (shown.stdout, shown_json.stdout, chosen.stdout, scripted.stdout):
            assert not any(n in what for n in number.values())
        assert [(e["credential"], e["accepted"]) for e in ok(history)] == [
            (picked, True),
            (other, True),
        ]
