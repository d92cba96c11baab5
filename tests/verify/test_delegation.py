"""The ``delegation`` claim of a delegated copy (委托用证) and the pure parts of its checks: the
claim's shape and bounds, how a counter's reason matches a purpose, and what a delegated copy's
scanned answer becomes. Status-list decisions are tested end to end in
tests/gateway/test_delegations.py."""

from __future__ import annotations

from typing import Any

import pytest

from trust.statuslist import StatusReference
from verify.delegation import (
    Delegation,
    DelegationClaimError,
    in_payload,
    judge_scanned,
    matching_purpose,
)
from verify.reasons import Reason

URI = "https://hz.example.cn/statuslists/1"
CLAIM: dict[str, Any] = {
    "id": "dl-abc",
    "delegate": "张三",
    "purposes": ["银行开户", "税务登记"],
    "until": 1_814_371_199,
    "by": {"name": "杭州云栖数字科技有限公司", "status_list": {"idx": 7, "uri": URI}},
}


def test_a_claim_round_trips_and_shows_the_counter_who_and_for_whom() -> None:
    delegation = Delegation.from_claim(CLAIM)
    assert delegation.to_claim() == CLAIM
    assert delegation.by == StatusReference(idx=7, uri=URI)
    assert in_payload({"delegation": CLAIM}) == delegation
    assert in_payload({"iss": "x"}) is None
    shown = delegation.as_json()
    assert shown["delegate"] == "张三"
    assert shown["until"] == "2027-06-30T23:59:59+08:00"
    assert shown["delegated_by"]["name"] == "杭州云栖数字科技有限公司"


def test_what_a_counter_was_shown_reads_back_as_the_same_delegation() -> None:
    delegation = Delegation.from_claim(CLAIM)
    assert Delegation.from_shown(delegation.as_json()) == delegation
    for until in ("2027-06-30", "2027-06-30T23:59:59", "someday", 1_814_371_199):
        with pytest.raises(DelegationClaimError):
            Delegation.from_shown({**delegation.as_json(), "until": until})
    with pytest.raises(DelegationClaimError):
        Delegation.from_shown({**delegation.as_json(), "extra": 1})


@pytest.mark.parametrize(
    "claim",
    [
        "张三",
        {**CLAIM, "extra": 1},
        {k: v for k, v in CLAIM.items() if k != "by"},
        {**CLAIM, "delegate": ""},
        {**CLAIM, "delegate": "张" * 65},
        {**CLAIM, "purposes": []},
        {**CLAIM, "purposes": ["a"] * 6},
        {**CLAIM, "purposes": ["长" * 61]},
        {**CLAIM, "purposes": "银行开户"},
        {**CLAIM, "until": "2027-06-30"},
        {**CLAIM, "until": True},
        {**CLAIM, "by": {"name": "x"}},
        {**CLAIM, "by": {"name": "x", "status_list": {"idx": -1, "uri": URI}}},
        {**CLAIM, "by": {"name": "", "status_list": {"idx": 1, "uri": URI}}},
        {**CLAIM, "id": "x" * 41},
    ],
    ids=["not-an-object", "extra-member", "no-by", "blank-delegate", "long-delegate",
         "no-purpose", "six-purposes", "long-purpose", "purposes-not-a-list", "until-a-date",
         "until-a-bool", "by-without-entry", "by-bad-index", "by-blank-name", "long-id"],
)  # fmt: skip
def test_a_malformed_claim_raises_only_our_error(claim: object) -> None:
    with pytest.raises(DelegationClaimError):
        Delegation.from_claim(claim)


@pytest.mark.parametrize(
    ("purposes", "reason", "matched"),
    [
        (("银行开户",), "银行开户", "银行开户"),
        (("银行开户",), "对公 银行 开户（基本户）", "银行开户"),
        (("银行开户", "税务登记"), "办理税务登记", "税务登记"),
        (("tax filing",), "ＴＡＸ  Filing 2027", "tax filing"),
        (("银行开户",), "贷款审批", None),
        (("银行开户",), "", None),
    ],
    ids=["exact", "blanks-inside", "second-purpose", "width-and-case", "another", "empty"],
)
def test_a_reason_matches_a_purpose_it_contains(
    purposes: tuple[str, ...], reason: str, matched: str | None
) -> None:
    assert matching_purpose(purposes, reason) == matched


def test_an_expired_copy_is_an_expired_delegation_and_other_refusals_stand() -> None:
    delegation = Delegation.from_claim(CLAIM)
    copy = StatusReference(idx=9, uri=URI)
    expired = judge_scanned(Reason.EXPIRED, "exp passed", delegation, copy=copy, issuer=None,
                            statuses={}, purpose="银行开户", now=CLAIM["until"] + 1)  # fmt: skip
    assert expired[0] is Reason.DELEGATION_EXPIRED
    assert "张三" in expired[1]
    forged = judge_scanned(Reason.BAD_SIGNATURE, "sig", delegation, copy=copy, issuer=None,
                           statuses={}, purpose="银行开户", now=0)  # fmt: skip
    assert forged == (Reason.BAD_SIGNATURE, "sig")
