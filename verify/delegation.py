"""Delegated use (委托用证): the ``delegation`` claim a delegated copy carries, and the checks a
verifier adds for it. Pure: no I/O, ``now`` and the status lists are arguments.

A holder (a company's wallet) delegates its credential to an agent's wallet. The agent receives a
**delegated copy**: a credential of the same type and subject, bound to the agent's own wallet
key, with its own Token Status List entry and ``exp`` = the delegation's ``until``, that carries
in plain view (never a Disclosure, so the agent cannot leave it out)::

    "delegation": {"id": "dl-…", "delegate": "张三", "purposes": ["银行开户"],
                   "until": 1814371199,
                   "by": {"name": "杭州…有限公司", "status_list": {"idx": 12, "uri": "https://…"}}}

``by`` names the delegating credential by its own status list entry. Once every other check of a
presentation or a reference code held, :func:`check_delegated` decides, in this order:

1. the delegating credential's entry: INVALID → REVOKED, SUSPENDED → SUSPENDED (whatever the
   delegate shows, the company's credential decides first);
2. the copy's own entry: INVALID → DELEGATION_REVOKED (the holder revoked it), SUSPENDED →
   SUSPENDED;
3. ``until`` passed → DELEGATION_EXPIRED;
4. the counter's stated reason contains none of the purposes → DELEGATION_OUT_OF_SCOPE. A purpose
   matches when the reason contains it, both folded (NFKC, case-folded, blanks removed): the
   reason "银行开户（对公账户）" matches the purpose "银行开户".

Revoking a delegation writes INVALID into the copy's entry, so every verifier that reads the
issuer's status list sees it, with no central database; a verifier that knows nothing of
delegation reads the copy as REVOKED.

Deliberately not here: making and revoking delegations (``gateway.delegations``), fetching
status lists, HTTP.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trust import statuslist
from trust.errors import DataError
from trust.snapshot import IssuerRecord
from trust.statuslist import StatusReference, StatusSource
from verify.reasons import Reason
from verify.result_json import iso
from verify.verifier import _Fail, _refuse_status, _status_of

CLAIM = "delegation"
MAX_PURPOSES = 5
MAX_PURPOSE = 60  # characters of one purpose
MAX_DELEGATE = 64  # characters of the delegate's name
MAX_ID = 40
MAX_BY_NAME = 256


class DelegationClaimError(DataError):
    """A ``delegation`` claim that is not shaped as this module describes."""


def _text(value: object, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise DelegationClaimError(
            f"expected {what} as a string of 1 to {limit} characters, found {value!r:.80}"
        )
    return value


@dataclass(frozen=True)
class Delegation:
    """One delegation as its copy carries it."""

    id: str
    delegate: str
    purposes: tuple[str, ...]
    until: int
    by: StatusReference  # the delegating credential's status list entry
    by_name: str  # the holder of the delegating credential (a company's name)

    def __post_init__(self) -> None:
        _text(self.id, "delegation.id", MAX_ID)
        _text(self.delegate, "delegation.delegate", MAX_DELEGATE)
        if not 1 <= len(self.purposes) <= MAX_PURPOSES:
            raise DelegationClaimError(
                f"expected 1 to {MAX_PURPOSES} purposes, found {len(self.purposes)}"
            )
        for purpose in self.purposes:
            _text(purpose, "a purpose", MAX_PURPOSE)
        if type(self.until) is not int or self.until < 0:
            raise DelegationClaimError(
                f"expected until as integer seconds, found {self.until!r:.40}"
            )
        _text(self.by_name, "delegation.by.name", MAX_BY_NAME)

    @classmethod
    def from_claim(cls, value: object) -> Delegation:
        """The ``delegation`` claim's value, checked for shape and size."""
        value = _members(value, ("id", "delegate", "purposes", "until", "by"), "delegation")
        purposes, by = value["purposes"], value["by"]
        if not isinstance(purposes, list) or len(purposes) > MAX_PURPOSES:
            raise DelegationClaimError(
                f"expected delegation.purposes as a list of 1 to {MAX_PURPOSES}, "
                f"found {purposes!r:.80}"
            )
        by = _members(by, ("name", "status_list"), "delegation.by")
        try:
            ref = StatusReference.from_claims({"status": {"status_list": by["status_list"]}})
        except DataError as exc:
            raise DelegationClaimError(f"delegation.by: {exc}") from exc
        assert ref is not None  # the status claim is given
        return cls(
            id=value["id"],
            delegate=value["delegate"],
            purposes=tuple(purposes),
            until=value["until"],
            by=ref,
            by_name=by["name"],
        )

    @classmethod
    def from_shown(cls, value: object) -> Delegation:
        """A delegation as :meth:`as_json` shows it (what an issuing city's signed answer to
        a reference request carries), checked for shape and size."""
        names = ("id", "delegate", "purposes", "until", "delegated_by")
        value = _members(value, names, "a shown delegation")
        return cls.from_claim({
            "id": value["id"], "delegate": value["delegate"], "purposes": value["purposes"],
            "until": _moment(value["until"]), "by": value["delegated_by"],
        })  # fmt: skip

    def to_claim(self) -> dict[str, Any]:
        """The claim's value, as the issuer signs it."""
        return {
            "id": self.id,
            "delegate": self.delegate,
            "purposes": list(self.purposes),
            "until": self.until,
            "by": {
                "name": self.by_name,
                "status_list": {"idx": self.by.idx, "uri": self.by.uri},
            },
        }

    def as_json(self) -> dict[str, Any]:
        """What a counter is shown: who shows the credential, for what, until when, for whom."""
        return {
            "id": self.id,
            "delegate": self.delegate,
            "purposes": list(self.purposes),
            "until": iso(self.until),
            "delegated_by": {
                "name": self.by_name,
                "status_list": {"idx": self.by.idx, "uri": self.by.uri},
            },
        }


def _members(value: object, names: tuple[str, ...], what: str) -> Mapping[str, Any]:
    """``value`` as an object of exactly the members ``names``."""
    if not isinstance(value, Mapping) or set(value) != set(names):
        shown = sorted(map(str, value)) if isinstance(value, Mapping) else type(value).__name__
        raise DelegationClaimError(f"expected {what} {{{', '.join(names)}}}, found {shown!s:.120}")
    return value


def _moment(text: object) -> int:
    """An ISO 8601 date-time with its offset (as :func:`verify.result_json.iso` writes it)."""
    moment = None
    if isinstance(text, str) and len(text) <= 40:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
    if moment is None or moment.tzinfo is None:
        raise DelegationClaimError(
            f"expected until as an ISO 8601 date-time with offset, found {text!r:.60}"
        )
    return int(moment.timestamp())


def in_payload(payload: Mapping[str, Any]) -> Delegation | None:
    """The delegation an Issuer-signed payload carries in plain view; ``None`` when it carries
    none. Raises :class:`DelegationClaimError` for a malformed one."""
    if CLAIM not in payload:
        return None
    return Delegation.from_claim(payload[CLAIM])


def fold(text: str) -> str:
    """What purposes and reasons are compared as: NFKC, case-folded, without blanks."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def matching_purpose(purposes: tuple[str, ...], reason: str) -> str | None:
    """The first purpose the stated ``reason`` contains, or ``None``."""
    said = fold(reason)
    return next((p for p in purposes if fold(p) and fold(p) in said), None)


def check_delegated(
    delegation: Delegation,
    *,
    copy: StatusReference,
    issuer: IssuerRecord,
    statuses: Mapping[str, StatusSource],
    reason: str,
    now: int,
) -> int:
    """Raise the refusal (:class:`verify.verifier._Fail`) of a delegated copy whose signature,
    issuer and fields held; return the copy's status list ``iat`` when it stands."""
    _iat, original, idx, uri = _status_of(delegation.by.to_claim(), issuer, statuses, now)
    if original != statuslist.VALID:
        _refuse_status(original, idx, uri)  # the delegating credential decides first
    as_of, value, idx, uri = _status_of(copy.to_claim(), issuer, statuses, now)
    if value == statuslist.INVALID:
        raise _Fail(
            Reason.DELEGATION_REVOKED,
            f"delegation {delegation.id} to {delegation.delegate} was revoked (status list "
            f"{uri} index {idx} is INVALID)",
        )
    if value != statuslist.VALID:
        _refuse_status(value, idx, uri)
    if now >= delegation.until:
        raise _Fail(Reason.DELEGATION_EXPIRED, expired_detail(delegation))
    if matching_purpose(delegation.purposes, reason) is None:
        raise _Fail(
            Reason.DELEGATION_OUT_OF_SCOPE,
            f"expected a reason naming one of the delegation's purposes "
            f"{list(delegation.purposes)}, found {reason[:200]!r}",
        )
    return as_of


def expired_detail(delegation: Delegation) -> str:
    return (
        f"delegation {delegation.id} to {delegation.delegate} was valid until "
        f"{iso(delegation.until)}"
    )


def judge_scanned(
    reason: Reason,
    detail: str,
    delegation: Delegation,
    *,
    copy: StatusReference,
    issuer: IssuerRecord | None,
    statuses: Mapping[str, StatusSource],
    purpose: str,
    now: int,
) -> tuple[Reason, str]:
    """The answer for a delegated copy whose signed token verified as ``reason``: an expired
    copy is an expired delegation (its ``exp`` is ``until``); a valid, revoked or suspended one
    goes through :func:`check_delegated`; any other answer stands."""
    if reason is Reason.EXPIRED:
        return Reason.DELEGATION_EXPIRED, expired_detail(delegation)
    if issuer is None or reason not in (Reason.VALID, Reason.REVOKED, Reason.SUSPENDED):
        return reason, detail
    try:
        check_delegated(
            delegation, copy=copy, issuer=issuer, statuses=statuses, reason=purpose, now=now
        )
    except _Fail as fail:
        return fail.reason, fail.detail
    return reason, detail
