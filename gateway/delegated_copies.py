"""What the rest of the gateway asks about delegated copies (委托用证): the credential endpoint
signs a copy's ``delegation`` claim (:func:`claim_of`), reference codes refuse a copy whose
delegation no longer stands (:func:`check_usable`) and resolve it against the delegation
(:func:`of_copy`), use records name the delegate (:func:`use_scope`, :func:`shown_by`,
:func:`record_presentation`), and a status change of a credential reaches its copies
(:func:`cascaded`).

A copy is a credential row of its own (its own status list entry, ``valid_until`` = the
delegation's ``until``) whose ``delegated_from`` names the original; its ``delegations`` row
holds the delegate's name and purposes. Deliberately not here: making, listing and revoking
delegations (:mod:`gateway.delegations`), HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from gateway.errors import Forbidden
from gateway.models import (
    CredentialRow,
    DelegationRow,
    ReferenceUseRow,
    StatusListRow,
)
from trust.statuslist import StatusReference
from verify.delegation import CLAIM, Delegation
from verify.reasons import MESSAGES, Reason
from verify.result_json import iso

LIVE = ("01", "02")  # status codes a copy can still leave


class DelegationRefused(Forbidden):
    """A delegate asked for something its delegation no longer allows; carries the reason code
    and zh-CN and English messages."""

    def __init__(self, reason: Reason, detail: str) -> None:
        zh, en = MESSAGES[reason]
        super().__init__(f"{en} ({reason.value}): {detail}")
        self.reason = reason
        self.message_zh = f"{zh}（{reason.value}）"
        self.message_en = f"{en} ({reason.value}): {detail}"


@dataclass(frozen=True)
class Copy:
    """A delegated copy as the issuer's records know it."""

    row: DelegationRow
    original: CredentialRow
    copy_ref: StatusReference
    claim: Delegation


def _ref(session: Session, cred: CredentialRow) -> StatusReference:
    list_row = session.get(StatusListRow, cred.status_list_id)
    if list_row is None:  # a foreign key holds it
        raise LookupError(f"credential {cred.id} names status list {cred.status_list_id}")
    return StatusReference(idx=cred.status_idx, uri=list_row.uri)


def delegation_claim(session: Session, row: DelegationRow, original: CredentialRow) -> Delegation:
    return Delegation(
        id=row.id,
        delegate=row.delegate_name,
        purposes=tuple(row.purposes),
        until=row.until,
        by=_ref(session, original),
        by_name=original.holder_name or original.holder_code,
    )


def of_copy(session: Session, cred: CredentialRow) -> Copy | None:
    """The delegation ``cred`` is a copy for, or ``None`` when it is no copy."""
    if cred.delegated_from is None:
        return None
    row = session.scalars(select(DelegationRow).where(DelegationRow.copy_id == cred.id)).one()
    original = session.get(CredentialRow, row.credential_id)
    if original is None:  # a foreign key holds it
        raise LookupError(f"delegation {row.id} names credential {row.credential_id}")
    return Copy(row, original, _ref(session, cred), delegation_claim(session, row, original))


def claim_of(session: Session, cred: CredentialRow) -> dict[str, Any]:
    """The claims a copy's SD-JWT VC adds (``{"delegation": …}``); none for an original."""
    found = of_copy(session, cred)
    return {} if found is None else {CLAIM: found.claim.to_claim()}


def check_usable(session: Session, cred: CredentialRow, now: int) -> None:
    """Refuse (:class:`DelegationRefused`) a copy whose delegation was revoked or has expired,
    or whose original is no longer valid; nothing for an original."""
    found = of_copy(session, cred)
    if found is None:
        return
    if found.row.revoked_at is not None:
        raise DelegationRefused(
            Reason.DELEGATION_REVOKED,
            f"expected a standing delegation, found {found.row.id} revoked at "
            f"{iso(found.row.revoked_at)}",
        )
    if found.original.status_code != "01":
        reason = Reason.SUSPENDED if found.original.status_code == "02" else Reason.REVOKED
        raise DelegationRefused(
            reason,
            f"expected the delegating credential valid, found status {found.original.status_code}",
        )
    if now >= found.row.until:
        raise DelegationRefused(
            Reason.DELEGATION_EXPIRED,
            f"expected a delegation valid at {iso(now)}, found it ended at {iso(found.row.until)}",
        )


def use_scope(session: Session, credential_id: str) -> ColumnElement[bool]:
    """Which use records a holder proof of ``credential_id`` reads: an original's, its
    delegates' included; a copy's, those of its own delegation only."""
    row = session.scalars(
        select(DelegationRow).where(DelegationRow.copy_id == credential_id)
    ).first()
    if row is None:
        return ReferenceUseRow.credential_id == credential_id
    return ReferenceUseRow.delegation_id == row.id


def shown_by(use: ReferenceUseRow) -> dict[str, Any]:
    """Who showed the credential in a use record: its holder, or a delegate by name."""
    if use.delegation_id is None:
        return {"kind": "holder"}
    return {"kind": "delegate", "name": use.delegate_name, "delegation_id": use.delegation_id}


def attribution(session: Session, cred: CredentialRow) -> dict[str, Any]:
    """The columns of a use record of ``cred`` (a ``ReferenceUseRow``'s keyword arguments): a
    delegated copy's use is its original's, naming the delegation and the delegate."""
    found = of_copy(session, cred)
    if found is None:
        return {"credential_id": cred.id, "delegation_id": None, "delegate_name": None}
    return {
        "credential_id": found.original.id,
        "delegation_id": found.row.id,
        "delegate_name": found.row.delegate_name,
    }


def cascaded(copy_code: str, target: str) -> str | None:
    """The status a copy takes when its original moves to ``target``: suspended with it,
    reinstated with it, ended with it; a copy that ended already stays as it is."""
    if copy_code not in LIVE:
        return None
    if target in LIVE:
        return target if target != copy_code else None
    return target
