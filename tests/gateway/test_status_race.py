"""Two status changes of one credential at the same time: the second waits for the first and
starts from its result, so a revocation stays final (on PostgreSQL; SQLite serialises writers)."""

from __future__ import annotations

import threading

import pytest

from gateway import issuance, status
from gateway.core import Gateway
from gateway.errors import Conflict
from gateway.models import CredentialRow
from tests.conftest import Agency
from tests.issuers.samples import SAMPLE_SUBJECTS
from verify.reasons import Reason
from verify.verifier import verify_scanned


# PostgreSQL only: SQLite serialises writers (BEGIN IMMEDIATE), there is no race to lose.
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_suspend_racing_a_revocation_cannot_undo_it(gw: Gateway, amr: Agency) -> None:
    row, _ = issuance.issue(
        gw,
        agency_id=amr.id,
        request=issuance.IssueRequest("business-licence", SAMPLE_SUBJECTS["business-licence"]),
    )
    outcome: dict[str, object] = {}

    def suspend() -> None:
        try:
            outcome["suspend"] = status.change(
                gw, credential_id=row.id, action="suspend", reason="核查", actor="t",
                agency_id=amr.id,
            ).status_code  # fmt: skip
        except Conflict as exc:
            outcome["suspend"] = exc

    with gw.transaction() as session:  # a revocation in progress, not yet committed
        revoking = status.get_credential(session, row.id, amr.id, lock=True)
        status.record_change(session, revoking, "03", reason="吊销", actor="t", now=gw.clock())
        racer = threading.Thread(target=suspend)
        racer.start()
        racer.join(timeout=1.0)
        assert racer.is_alive()  # the suspend waits for the revocation's row lock
    racer.join(timeout=30)
    assert not racer.is_alive()

    assert isinstance(outcome["suspend"], Conflict), outcome
    assert "revocation is final" in str(outcome["suspend"])
    with gw.sessions() as session:
        stored = session.get(CredentialRow, row.id)
        assert stored is not None
        assert stored.status_code == "03"
    state = gw.reload()
    result = verify_scanned(row.token, trust=state.trust, statuses=state.statuses, now=gw.clock())
    assert result.reason is Reason.REVOKED
