"""Which status changes an issuer may make: GB/T status codes and one transition table.

Status codes (national specs): 01 有效, 02 暂扣 (suspended), 03 撤销, 04 注销, 05 失效,
06 办理转出, 07 吊销, 99 其他. A revocation code is final. Pure: a code and an action in, the
code to move to out, or :class:`TransitionRefused` saying what was expected. Recording the
change (status list bit, history, audit) is the gateway's (``gateway.status``).
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
    if current in FINAL_CODES:
        raise TransitionRefused(
            f"credential is {current} {STATUS_NAMES[current][1]}: revocation is final"
        )
    if current not in allowed:
        raise TransitionRefused(f"{rule_text}, this one is {current}")
    if target is not None:
        return target
    final = code or DEFAULT_REVOCATION
    if final not in FINAL_CODES:
        raise FieldError.single(
            "code",
            "status_code",
            f"撤销类状态码应为 {sorted(FINAL_CODES)} 之一",
            f"expected one of {sorted(FINAL_CODES)}, found {final!r}",
        )
    return final
