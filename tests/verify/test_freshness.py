"""Bounded staleness (issue 11): a VALID read from status data older than the credential type's
or the verifier's bound becomes STATUS_UNAVAILABLE, and every answer says how old its status
data was. REVOKED and SUSPENDED stay: an old list that already says so is still right."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.verify import test_presentation as pres
from tests.verify.test_verifier import BL, DAY, EID, NOW, TRUST, URI, _status_list, _token
from trust import statuslist
from trust.errors import DataError
from trust.snapshot import KeyRecord, TrustSnapshot, TypeInfo
from verify.freshness import MAX_STATUS_AGE, check_status_age_bound, status_age, strictest
from verify.presentation import PresentationResult, verify_presentation
from verify.reasons import Reason
from verify.result import VerificationResult
from verify.result_json import verification_json
from verify.verifier import StatusSource, verify_scanned

TEN_MINUTES = 600


def _statuses(issued_ago: int) -> dict[str, StatusSource]:
    """A list issued ``issued_ago`` seconds before NOW and still within its 24 h ``exp``."""
    snapshot = statuslist.StatusListSnapshot(
        uri=URI, iat=NOW - issued_ago, exp=NOW - issued_ago + 2 * DAY, ttl=30,
        status_list=_status_list({7: statuslist.INVALID, 8: statuslist.SUSPENDED}),
    )  # fmt: skip
    return {URI: StatusSource(issuer_id="ag-amr", snapshot=snapshot)}


def _trust(bl_bound: int | None) -> TrustSnapshot:
    types = [replace(BL, max_status_age=bl_bound), EID]
    return replace(TRUST, types={t.qr_code: t for t in types})


def _verify(
    issued_ago: int, *, type_bound: int | None, verifier: int | None = None, idx: int = 3
) -> VerificationResult:
    return verify_scanned(
        _token(status={"status_list": {"idx": idx, "uri": URI}}),
        trust=_trust(type_bound), statuses=_statuses(issued_ago), now=NOW,
        max_status_age=verifier,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("issued_ago", "type_bound", "verifier", "reason", "bound"),
    [
        (60, TEN_MINUTES, None, Reason.VALID, TEN_MINUTES),
        (TEN_MINUTES, TEN_MINUTES, None, Reason.VALID, TEN_MINUTES),  # at the bound: still
        (TEN_MINUTES + 1, TEN_MINUTES, None, Reason.STATUS_UNAVAILABLE, TEN_MINUTES),
        (DAY - 1, None, None, Reason.VALID, None),  # no bound: the list's exp only (as before)
        (61, DAY, 60, Reason.STATUS_UNAVAILABLE, 60),  # the verifier's role is stricter
        (61, 60, DAY, Reason.STATUS_UNAVAILABLE, 60),  # the type is stricter
        (3600, DAY, None, Reason.VALID, DAY),
        (-30, 60, None, Reason.VALID, 60),  # issued "in the future" (clock skew): age 0
    ],
    ids=["fresh", "at-the-bound", "one-second-past", "unbounded", "role-stricter",
         "type-stricter", "licence-an-hour-old", "issuer-clock-ahead"],
)  # fmt: skip
def test_the_stricter_bound_decides(
    issued_ago: int, type_bound: int | None, verifier: int | None, reason: Reason, bound: int
) -> None:
    result = _verify(issued_ago, type_bound=type_bound, verifier=verifier)
    assert result.reason is reason, result.detail
    assert result.status_as_of == NOW - issued_ago
    assert result.status_max_age == bound
    assert result.status_age == max(0, issued_ago)


@pytest.mark.parametrize(("idx", "reason"), [(7, Reason.REVOKED), (8, Reason.SUSPENDED)])
def test_an_old_list_that_says_revoked_or_suspended_still_says_so(idx: int, reason: Reason) -> None:
    assert _verify(DAY - 1, type_bound=60, idx=idx).reason is reason


def test_the_answer_says_how_old_the_status_data_was() -> None:
    stale = verification_json(_verify(TEN_MINUTES + 5, type_bound=TEN_MINUTES))
    assert (stale["valid"], stale["reason"]) == (False, "STATUS_UNAVAILABLE")
    assert stale["freshness"]["status_age_seconds"] == TEN_MINUTES + 5
    assert stale["freshness"]["status_max_age_seconds"] == TEN_MINUTES
    assert stale["freshness"]["status"] == "2026-09-21T22:03:15+08:00"  # NOW - 605 s in CST
    assert f"{TEN_MINUTES + 5} s old" in stale["detail"]
    assert "business-licence" in stale["detail"]
    fresh = verification_json(_verify(42, type_bound=TEN_MINUTES))
    assert fresh["freshness"]["status_age_seconds"] == 42
    unread = verification_json(VerificationResult(Reason.MALFORMED, "x", NOW))
    assert unread["freshness"] == {
        "trust": None, "status": None, "status_age_seconds": None, "status_max_age_seconds": None,
    }  # fmt: skip


def test_a_presentation_is_bounded_by_the_type_and_the_counter() -> None:
    case = pres.Case(Reason.VALID)
    fresh = pres._verify(case)  # the list was issued 60 s before NOW, no bound anywhere
    assert (fresh.reason, fresh.status_max_age) == (Reason.VALID, None)
    bounded_type = replace(pres.EID, max_status_age=59)
    old = _present(case, types=[bounded_type])
    assert (old.reason, old.status_max_age, old.status_as_of) == (
        Reason.STATUS_UNAVAILABLE, 59, NOW - 60,
    )  # fmt: skip
    assert "resident-eid" in old.detail
    by_counter = _present(case, types=[replace(pres.EID, max_status_age=DAY)], counter=30)
    assert (by_counter.reason, by_counter.status_max_age) == (Reason.STATUS_UNAVAILABLE, 30)
    assert "this counter" in by_counter.detail
    revoked = _present(replace(case, idx=7), types=[bounded_type])
    assert revoked.reason is Reason.REVOKED


def _present(
    case: pres.Case, *, types: list[TypeInfo], counter: int | None = None
) -> PresentationResult:
    trust = TrustSnapshot.build(
        issuers=[case.psb, case.peer],
        keys=[KeyRecord(key=pres.ISSUER_KEY.public, issuer_id="ag-psb", not_before=NOW - DAY)],
        types=types, as_of=NOW,
    )  # fmt: skip
    return verify_presentation(
        pres._presentation(case), audience=pres.AUD, nonce=pres.NONCE,
        credential_type="resident-eid", requested=pres.ASKED, trust=trust,
        statuses=pres._status("ag-psb"), local_entity_id=pres.CITY, now=NOW,
        max_status_age=counter,
    )  # fmt: skip


def test_bounds_are_whole_seconds_within_a_status_lists_life() -> None:
    assert check_status_age_bound(600, what="x") == 600
    for bad in (0, -1, MAX_STATUS_AGE + 1, 1.5, "600", True, None):
        with pytest.raises(DataError, match="whole seconds"):
            check_status_age_bound(bad, what="x")
    with pytest.raises(DataError, match="max_status_age"):
        replace(BL, max_status_age=0)
    assert strictest(None, None) is None
    assert strictest(600, None, 86_400) == 600
    assert status_age(as_of=NOW + 5, now=NOW, bound=1).seconds == 0
