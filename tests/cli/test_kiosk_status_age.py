"""An offline kiosk holds status lists in its bundle for as long as the credential type's bound,
which the signed trust list carries (issue 11: a business licence 24 h, also offline at a
kiosk); past it a VALID becomes STATUS_UNAVAILABLE, and the kiosk says how old its data was."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cli.kiosk import show_lines, verify_offline
from tests.trust.test_trustlist_bundle import STATUS_LISTS
from tests.trust.test_trustlist_vectors import (
    AMR_KEY,
    BL,
    EID,
    LIST_KEY,
    NOW,
    SIGNED_V1,
    SIGNED_V2,
    credential,
    trust_list,
)
from trust.trustlist.bundle import TrustBundle
from trust.trustlist.document import sign_trust_list

BOUND = 3600  # the business licence's bound in this bundle's signed description
ISSUED = NOW - 60  # when the bundle's status lists were signed (test_trustlist_vectors)


def _bundle(tmp_path: Path) -> Path:
    types = (replace(BL, max_status_age=BOUND), EID)
    token = sign_trust_list(trust_list(types=types), LIST_KEY)
    path = tmp_path / "kiosk.json"
    path.write_bytes(TrustBundle(SIGNED_V2, (SIGNED_V1,), token, STATUS_LISTS).to_bytes())
    return path


def test_within_the_types_bound_the_kiosk_answers_valid_and_says_how_old_its_data_is(
    tmp_path: Path,
) -> None:
    shown = verify_offline(_bundle(tmp_path), None, credential(AMR_KEY), now=ISSUED + BOUND)
    assert shown["reason"] == "VALID"
    assert shown["freshness"]["status_age_seconds"] == BOUND
    assert shown["freshness"]["status_max_age_seconds"] == BOUND
    assert any(f"{BOUND} s old, relied on for at most {BOUND} s" in line
               for line in show_lines(shown))  # fmt: skip


def test_past_the_types_bound_the_kiosk_cannot_confirm_and_says_why(tmp_path: Path) -> None:
    # The list itself is valid for a day: without the bound the kiosk would still say VALID.
    shown = verify_offline(_bundle(tmp_path), None, credential(AMR_KEY), now=ISSUED + BOUND + 1)
    assert (shown["valid"], shown["reason"]) == (False, "STATUS_UNAVAILABLE")
    assert shown["freshness"]["status_age_seconds"] == BOUND + 1
    assert "business-licence" in shown["detail"]
    lines = show_lines(shown)
    assert lines[0].startswith("✗ 无法获取证照状态")
    assert any("状态数据 status data" in line and f"{BOUND + 1} 秒前" in line for line in lines)


def test_an_old_list_that_says_revoked_still_says_revoked_at_the_kiosk(tmp_path: Path) -> None:
    revoked = credential(AMR_KEY, idx=7)  # index 7 is revoked in the bundle's list
    shown = verify_offline(_bundle(tmp_path), None, revoked, now=ISSUED + 10 * BOUND)
    assert shown["reason"] == "REVOKED"
