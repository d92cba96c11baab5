"""Several processes of one city share one database: changes reach every in-memory state."""

from __future__ import annotations

from stdnum.cn import uscc

from gateway import issuance, keystore, status
from gateway.core import Gateway
from tests.conftest import Agency, FakeClock
from tests.issuers.samples import SAMPLE_SUBJECTS
from verify.reasons import Reason
from verify.verifier import verify_scanned


def _reason(gw: Gateway, token: str) -> Reason:
    state = gw.state
    return verify_scanned(token, trust=state.trust, statuses=state.statuses, now=gw.clock()).reason


def test_a_revocation_in_one_process_reaches_another_on_its_next_poll(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    other = Gateway.open(gw.settings, clock=clock)  # another process: own engine, own state
    try:
        row, _ = issuance.issue(
            gw,
            agency_id=amr.id,
            request=issuance.IssueRequest("business-licence", SAMPLE_SUBJECTS["business-licence"]),
        )
        assert other.live.refresh_if_changed() is True  # first look: builds its state
        assert _reason(other, row.token) is Reason.VALID
        assert other.live.refresh_if_changed() is False  # nothing changed: no rebuild

        status.change(
            gw, credential_id=row.id, action="revoke", reason="x", actor="t", agency_id=None
        )
        assert _reason(other, row.token) is Reason.VALID  # not yet polled
        assert other.live.refresh_if_changed() is True
        assert _reason(other, row.token) is Reason.REVOKED

        keystore.rotate(gw, agency_id=amr.id, actor="t")
        assert other.live.refresh_if_changed() is True
        assert len(other.state.trust.keys) == 2
    finally:
        other.close()


def test_concurrent_writers_never_share_a_status_slot_or_serial(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    other = Gateway.open(gw.settings, clock=clock)
    try:
        rows = []
        for i in range(30):
            writer = gw if i % 2 else other  # each with its own stale slot cache
            first17 = f"9133010{i:010d}"
            subject = {
                **SAMPLE_SUBJECTS["business-licence"],
                "uscc": first17 + uscc.calc_check_digit(first17),
            }
            row, _ = issuance.issue(
                writer, agency_id=amr.id, request=issuance.IssueRequest("business-licence", subject)
            )
            rows.append(row)
        assert len({(r.status_list_id, r.status_idx) for r in rows}) == 30
        assert len({r.serial for r in rows}) == 30
    finally:
        other.close()
