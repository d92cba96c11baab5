"""Suspend, reinstate and revoke: the precise GB/T status code in the record, the Token Status
List bit for verifiers, and a change record with reason, actor and time.

Which change is allowed is ``issuers.status_rules``' table; 01 → VALID, 02 → SUSPENDED, all
others → INVALID (final) on the status list.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.core import Gateway
from gateway.delegated_copies import cascaded
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.models import CredentialRow, StatusChangeRow, StatusListRow
from gateway.state import mark_changed
from issuers.status_rules import TransitionRefused, next_status
from trust import statuslist
from trust.errors import FieldError

MAX_REASON = 500
# The audit action of a move to each GB status code (the leaf keeps the code itself).
_ACTIONS = {"01": "credential.reinstate", "02": "credential.suspend"}


def status_bit(code: str) -> int:
    if code == "01":
        return statuslist.VALID
    if code == "02":
        return statuslist.SUSPENDED
    return statuslist.INVALID


def get_credential(
    session: Session, credential_id: str, agency_id: str | None, *, lock: bool = False
) -> CredentialRow:
    """The credential, if it exists and (when ``agency_id`` is given) belongs to that agency.

    ``lock``: row-locked for the rest of the transaction (``SELECT … FOR UPDATE``), so that two
    concurrent status changes cannot both start from the same status (on PostgreSQL; SQLite
    serialises writers anyway)."""
    row = session.get(CredentialRow, credential_id, with_for_update=lock, populate_existing=lock)
    if row is None:
        raise NotFound(f"no credential {credential_id!r}")
    if agency_id is not None and row.agency_id != agency_id:
        raise Forbidden("this credential belongs to another agency")
    return row


def _check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise FieldError.single(
            "reason",
            "length",
            f"须填写原因（1–{MAX_REASON} 字）",
            f"reason must be 1 to {MAX_REASON} characters, found {len(reason)}",
        )
    return reason


def change(
    gw: Gateway,
    *,
    credential_id: str,
    action: str,
    reason: str,
    actor: str,
    agency_id: str | None,
    code: str | None = None,
) -> CredentialRow:
    """Apply ``suspend``, ``reinstate`` or ``revoke`` (``code`` picks the precise final code)."""
    reason = _check_reason(reason)
    now = gw.clock()
    with gw.transaction() as session:
        row = get_credential(session, credential_id, agency_id, lock=True)
        try:  # the rules are issuers/status_rules.py's table
            target = next_status(action, row.status_code, code=code)
        except TransitionRefused as exc:
            raise Conflict(str(exc)) from exc
        record_change(session, row, target, reason=reason, actor=actor, now=now)
        change = mark_changed(session)
    gw.live.changed(change)
    return row


def set_status_bit(session: Session, list_id: int, idx: int, code: str, now: int) -> None:
    """Write the Token Status List value for GB status ``code`` at ``idx`` (row-locked)."""
    lst_row = session.get(StatusListRow, list_id, with_for_update=True)
    assert lst_row is not None  # foreign key
    lst = statuslist.StatusList(bits=lst_row.bits, size=lst_row.size, data=lst_row.data)
    lst.set(idx, status_bit(code))
    lst_row.data = bytes(lst.data)
    lst_row.updated_at = now


def record_change(
    session: Session, row: CredentialRow, target: str, *, reason: str, actor: str, now: int
) -> None:
    """Move ``row`` to status ``target``: status list bit, record, and change history; its
    delegated copies (委托用证) follow it (:func:`gateway.delegated_copies.cascaded`)."""
    set_status_bit(session, row.status_list_id, row.status_idx, target, now)
    session.add(
        StatusChangeRow(
            credential_id=row.id,
            from_code=row.status_code,
            to_code=target,
            reason=reason[:MAX_REASON],
            actor=actor,
            at=now,
        )
    )
    audit.record(
        session,
        at=now,
        actor=actor[:80],
        action=_ACTIONS.get(target, "credential.revoke"),
        subject=row.id,
        from_code=row.status_code,
        to_code=target,
        reason_hash=audit.text_hash(reason),
    )
    row.status_code = target
    copies = session.scalars(
        select(CredentialRow).where(CredentialRow.delegated_from == row.id).with_for_update()
    ).all()
    for copy in copies:
        follow = cascaded(copy.status_code, target)
        if follow is not None:
            record_change(
                session, copy, follow, reason=f"原证照状态变更 · the delegating credential's "
                f"status changed: {reason}", actor=actor, now=now,
            )  # fmt: skip


def history(session: Session, credential_id: str) -> list[StatusChangeRow]:
    return list(
        session.scalars(
            select(StatusChangeRow)
            .where(StatusChangeRow.credential_id == credential_id)
            .order_by(StatusChangeRow.id)
        )
    )
