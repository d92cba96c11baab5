"""Which status changes an issuer may make: GB/T status codes and one transition table.

Status codes (national specs): 01 有效, 02 暂扣 (suspended), 03 撤销, 04 注销, 05 失效,
06 办理转出, 07 吊销, 99 其他. A revocation code is final. Pure: a code and an action in, the
code to move to out, or :class:`TransitionRefused` saying what was expected. Recording the
change (status list bit, history, audit) is the gateway's (``gateway.status``).

A status code given with an action (``--code``, the API's ``code``) is honoured when the table
has it for that action (:data:`ACTION_CODES`: suspend 02, reinstate 01, revoke any final code)
and refused otherwise, naming the codes the action takes: a code was once silently ignored on
suspend and reinstate (issue 12).
"""

from __future__ import annotations

from collections.abc import Mapping

from trust.errors import DataError, FieldError

STATUS_NAMES: Mapping[str, tuple[str, str]] = {
    "01": ("有效", "valid"),
    "02": ("暂扣", "suspended"),
    "03": ("撤销", "revoked"),
    "04": ("注销", "cancelled"),
    "05": ("失效", "lapsed"),
    "06": ("办理转出", "transferred out"),
    "07": ("吊销", "revoked as a penalty"),
    "99": ("其他", "other"),
}
VALID, SUSPENDED = "01", "02"
FINAL_CODES = frozenset(STATUS_NAMES) - {VALID, SUSPENDED}
DEFAULT_REVOCATION = "03"

# action → (the codes it may start from, the code it leads to (None: the revocation code
# given), what the rule says)
TRANSITIONS: Mapping[str, tuple[frozenset[str], str | None, str]] = {
    "suspend": (frozenset({VALID}), SUSPENDED, "only a valid (01) credential can be suspended"),
    "reinstate": (
        frozenset({SUSPENDED}),
        VALID,
        "only a suspended (02) credential can be reinstated",
    ),
    "revoke": (frozenset({VALID, SUSPENDED}), None, "revocation is final"),
}
# action → the status codes it may be given (the national table has one code for suspending and
# one for reinstating, several final ones for revoking)
ACTION_CODES: Mapping[str, frozenset[str]] = {
    "suspend": frozenset({SUSPENDED}),
    "reinstate": frozenset({VALID}),
    "revoke": FINAL_CODES,
}
_ACTION_ZH = {"suspend": "暂扣", "reinstate": "恢复", "revoke": "撤销"}


class TransitionRefused(DataError):
    """The credential's status does not allow the action (a conflict with its state)."""


def next_status(action: str, current: str, *, code: str | None = None) -> str:
    """The status ``action`` moves a credential in status ``current`` to."""
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise FieldError.single(
            "action",
            "action",
            "未知操作",
            f"expected one of {sorted(TRANSITIONS)}, found {action!r}",
        )
    allowed, target, rule_text = rule
    if code is not None:
        check_code(action, code)
    if current in FINAL_CODES:
        raise TransitionRefused(
            f"credential is {current} {STATUS_NAMES[current][1]}: revocation is final"
        )
    if current not in allowed:
        raise TransitionRefused(f"{rule_text}, this one is {current}")
    if target is not None:
        return target
    return code or DEFAULT_REVOCATION


def check_code(action: str, code: str) -> None:
    """Refuse a status ``code`` the table does not have for ``action`` (:data:`ACTION_CODES`)."""
    codes = sorted(ACTION_CODES[action])
    if code in codes:
        return
    shown = repr(code if len(code) <= 20 else code[:20] + "…")
    named = "、".join(f"{c} {STATUS_NAMES[c][0]}" for c in codes)
    named_en = ", ".join(f"{c} ({STATUS_NAMES[c][1]})" for c in codes)
    hint_zh = "；撤销请用 revoke" if action != "revoke" else ""
    hint_en = "; to revoke, use revoke" if action != "revoke" else ""
    raise FieldError.single(
        "code",
        "status_code",
        f"{_ACTION_ZH[action]}（{action}）的状态码应为 {named}（或不填），实际为 {shown}{hint_zh}",
        f"expected one of {named_en} (or none) for {action}, found {shown}{hint_en}",
    )


def action_of(to_code: str) -> str:
    """The action a recorded change to ``to_code`` was: suspend, reinstate or revoke."""
    return "suspend" if to_code == SUSPENDED else "reinstate" if to_code == VALID else "revoke"
