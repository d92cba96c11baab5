"""The status transition table: every (action, status) pair, and what a refusal says."""

from __future__ import annotations

import pytest

from issuers.status_rules import (
    FINAL_CODES,
    STATUS_NAMES,
    TRANSITIONS,
    TransitionRefused,
    next_status,
)
from trust.errors import FieldError

ALLOWED = {
    ("suspend", "01"): "02",
    ("reinstate", "02"): "01",
    ("revoke", "01"): "03",
    ("revoke", "02"): "03",
}


@pytest.mark.parametrize("action", sorted(TRANSITIONS))
@pytest.mark.parametrize("current", sorted(STATUS_NAMES))
def test_every_action_from_every_status(action: str, current: str) -> None:
    if (action, current) in ALLOWED:
        assert next_status(action, current) == ALLOWED[action, current]
        return
    with pytest.raises(TransitionRefused) as refused:
        next_status(action, current)
    said = str(refused.value)
    if current in FINAL_CODES:
        assert "revocation is final" in said
    else:
        assert f"this one is {current}" in said


@pytest.mark.parametrize("code", sorted(FINAL_CODES))
def test_a_revocation_takes_any_final_code(code: str) -> None:
    assert next_status("revoke", "01", code=code) == code


@pytest.mark.parametrize(
    ("action", "code", "field"),
    [("revoke", "02", "code"), ("revoke", "x", "code"), ("delete", None, "action")],
)
def test_unknown_actions_and_codes_are_field_errors(
    action: str, code: str | None, field: str
) -> None:
    with pytest.raises(FieldError) as refused:
        next_status(action, "01", code=code)
    assert refused.value.errors[0]["field"] == field
    assert "expected one of" in refused.value.errors[0]["message_en"]


@pytest.mark.parametrize(
    ("action", "current", "code", "expected"),
    [("suspend", "01", "02", "02"), ("reinstate", "02", "01", "01"), ("revoke", "02", "04", "04")],
)
def test_the_code_an_action_sets_is_honoured(
    action: str, current: str, code: str, expected: str
) -> None:
    assert next_status(action, current, code=code) == expected


@pytest.mark.parametrize(
    ("action", "current", "code"),
    [("suspend", "01", "03"), ("suspend", "01", "01"), ("reinstate", "02", "02"),
     ("reinstate", "02", "99")],
)  # fmt: skip
def test_a_code_suspend_or_reinstate_does_not_set_is_refused_not_ignored(
    action: str, current: str, code: str
) -> None:
    """Issue 12: ``--code`` on suspend/reinstate was silently ignored."""
    with pytest.raises(FieldError) as refused:
        next_status(action, current, code=code)
    (error,) = refused.value.errors
    assert (error["field"], error["code"]) == ("code", "status_code")
    assert f"for {action}, found '{code}'" in error["message_en"]
    assert "撤销请用 revoke" in error["message"]
