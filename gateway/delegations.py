"""Delegated use (委托用证): the holder of a credential (a company's business licence in its
wallet) lets an agent's wallet show it, by name, for some purposes, until a date; lists its
delegations; revokes one. Every call is authenticated by a holder proof
(:mod:`trust.holder_proof`) of the delegating credential, checked and spent as for reference
codes.

:func:`create` makes, in one transaction, the **delegated copy** (a credential row of the same
type and subject with its own status list entry, ``valid_until`` = ``until`` and
``delegated_from`` = the original, signed by the agency's active key), its ``delegations`` row,
and a wallet offer (OpenID4VCI pre-authorised code + PIN) for the copy, which the holder hands to
the agent: ``ecert wallet receive`` binds the copy to the agent's own key, with the
``delegation`` claim in plain view (:mod:`verify.delegation`). :func:`revoke` writes the copy's
status entry INVALID, so every verifier anywhere reads DELEGATION_REVOKED.

Only credentials of non-personal types are delegated (a company's licence, not a person's e-ID),
and never a copy (no delegation of a delegation). Bounds: a name of 1–64 characters, 1–5
purposes of 1–60 characters each, ``until`` after now, within the credential's validity and at
most a year ahead, at most :data:`MAX_ACTIVE` standing delegations a credential.

Deliberately not here: what verifiers decide (:mod:`verify.delegation`), what codes, records
and the credential endpoint ask about copies (:mod:`gateway.delegated_copies`), HTTP.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway import audit, keystore
from gateway.clock import CHINA_TZ, end_of_day, today_in_china
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound, Unprocessable
from gateway.issuance import load_agency, mint
from gateway.models import CredentialRow, DelegationRow, WalletOfferRow
from gateway.references import _proven
from gateway.state import StateChange, mark_changed
from gateway.status import get_credential, record_change
from gateway.wallet import OFFER_TTL, _new_offer
from issuers.credential_types import CredentialType
from trust.errors import FieldError
from verify.delegation import MAX_DELEGATE, MAX_PURPOSE, MAX_PURPOSES, fold
from verify.result_json import iso

MAX_ACTIVE = 20  # standing delegations of one credential
MAX_ID = 40
MIN_SPAN = 300  # seconds: a delegation that ends sooner is refused
REVOKED_CODE = "03"  # 撤销: a revoked delegation's copy
_RETRIES = 3


def _field(field: str, code: str, zh: str, en: str) -> dict[str, str]:
    return {"field": field, "code": code, "message": zh, "message_en": en}


def _parse_until(value: str) -> int | None:
    """``YYYY-MM-DD`` (the end of that day, China time) or an ISO 8601 date-time."""
    try:
        if len(value) == 10:
            return end_of_day(date.fromisoformat(value))
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CHINA_TZ)
    return int(moment.timestamp())


def _year_ahead(now: int) -> int:
    today = today_in_china(now)
    try:
        later = today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        later = today.replace(year=today.year + 1, day=28)
    return end_of_day(later)


def check_input(
    name: str, purposes: list[str], until: str, *, now: int, valid_until: int | None
) -> tuple[str, list[str], int]:
    """The delegate's name, the purposes (trimmed, repeats dropped) and ``until`` as Unix
    seconds; every fault at once as a :class:`FieldError` (zh-CN and English)."""
    errors = []
    name = name.strip()
    if not 1 <= len(name) <= MAX_DELEGATE:
        errors.append(
            _field(
                "name",
                "length",
                f"代理人姓名须为 1–{MAX_DELEGATE} 个字符",
                f"expected the delegate's name of 1 to {MAX_DELEGATE} characters, "
                f"found {len(name)}",
            )
        )
    kept: dict[str, str] = {}
    for purpose in (p.strip() for p in purposes):
        kept.setdefault(fold(purpose), purpose)
    cleaned = list(kept.values())
    if not 1 <= len(cleaned) <= MAX_PURPOSES:
        errors.append(
            _field(
                "purposes",
                "count",
                f"须填写 1–{MAX_PURPOSES} 项委托事项",
                f"expected 1 to {MAX_PURPOSES} purposes, found {len(cleaned)}",
            )
        )
    long = [p for p in cleaned if not 1 <= len(p) <= MAX_PURPOSE or not fold(p)]
    if long:
        errors.append(
            _field(
                "purposes",
                "length",
                f"每项委托事项须为 1–{MAX_PURPOSE} 个字符",
                f"expected each purpose of 1 to {MAX_PURPOSE} characters, found "
                f"{[len(p) for p in long]}",
            )
        )
    when = _parse_until(until) if len(until) <= 40 else None
    latest = _year_ahead(now) if valid_until is None else min(_year_ahead(now), valid_until)
    if when is None:
        errors.append(
            _field(
                "until",
                "date",
                f"委托期限格式应为 YYYY-MM-DD，实际为 {until[:40]!r}",
                f"expected until as YYYY-MM-DD or an ISO 8601 date-time, found {until[:40]!r}",
            )
        )
    elif not now + MIN_SPAN <= when <= latest:
        errors.append(
            _field(
                "until",
                "range",
                f"委托期限须晚于当前时间，且不晚于 {iso(latest)}（证照有效期与一年之内）",
                f"expected until after now and at most {iso(latest)} (within the "
                f"credential's validity and a year), found {iso(when)}",
            )
        )
    if errors:
        raise FieldError(errors)
    assert when is not None
    return name, cleaned, when


def _cannot(zh: str, en: str) -> Unprocessable:
    return Unprocessable(
        f"此证照不能委托：{zh}", f"expected a credential that can be delegated: {en}"
    )


def _check_delegable(
    gw: Gateway, session: Session, original: CredentialRow, now: int
) -> CredentialType:
    """The type of ``original`` if it may be delegated now (a valid credential of a
    non-personal type, no copy, fewer than :data:`MAX_ACTIVE` standing delegations)."""
    if original.delegated_from is not None:
        raise _cannot(
            "这是一份委托副本，不能再委托",
            "found a delegated copy (a delegation is not delegated again)",
        )
    ctype = gw.types.get(original.type)
    if ctype.personal:
        raise _cannot(
            f"“{ctype.name_zh}”是个人证照，只能本人出示",
            f"found a {ctype.code}, a personal type only its holder shows",
        )
    if original.status_code != "01":
        raise _cannot(
            f"证照状态为 {original.status_code}",
            f"found status {original.status_code}, not valid (01)",
        )
    standing = session.scalar(
        select(func.count())
        .select_from(DelegationRow)
        .where(
            (DelegationRow.credential_id == original.id)
            & DelegationRow.revoked_at.is_(None)
            & (DelegationRow.until > now)
        )
    )
    if (standing or 0) >= MAX_ACTIVE:
        raise _cannot(
            f"有效委托已达 {MAX_ACTIVE} 项，请先撤销不再需要的委托",
            f"found {standing} standing delegations, at most {MAX_ACTIVE}",
        )
    return ctype


def _mint_copy(
    gw: Gateway,
    session: Session,
    original: CredentialRow,
    ctype: CredentialType,
    *,
    delegation_id: str,
    until: int,
    now: int,
) -> tuple[CredentialRow, StateChange | None]:
    """The delegated copy: ``original``'s type and subject, signed by the agency's active key
    into a status slot of its own, valid from now until ``until``."""
    agency = load_agency(session, original.agency_id)
    key_row = keystore.active_key(session, agency.id)
    (slot,), opened = gw.slots.allocate(
        session, agency_id=agency.id, count=1, public_url=gw.city(session).public_url, now=now
    )
    values = mint(
        gw.keyring.signing_key(key_row), key_row.kid, agency=agency, ctype=ctype,
        subject=original.subject, serial=original.serial, version=original.version,
        valid_from=now, valid_until=until, slot=slot, now=now,
    )  # fmt: skip
    values["identifier"] = f"{original.identifier}/{delegation_id}"
    copy = CredentialRow(**values, delegated_from=original.id)
    session.add(copy)
    return copy, opened


def create(
    gw: Gateway, proof_token: object, *, name: str, purposes: list[str], until: str
) -> dict[str, Any]:
    """A delegation of the credential the holder proof names, its copy and the copy's wallet
    offer (link and PIN for the agent)."""
    now = gw.clock()
    credential_id, holder_kid = _proven(gw, proof_token, now)
    for attempt in range(_RETRIES):
        try:
            with gw.transaction() as session:
                original = get_credential(session, credential_id, None, lock=True)
                ctype = _check_delegable(gw, session, original, now)
                name_, kept, when = check_input(
                    name, purposes, until, now=now, valid_until=original.valid_until
                )
                delegation_id = f"dl-{secrets.token_urlsafe(12)}"
                copy, opened = _mint_copy(
                    gw, session, original, ctype, delegation_id=delegation_id, until=when, now=now
                )
                row = DelegationRow(
                    id=delegation_id, credential_id=original.id, copy_id=copy.id,
                    delegate_name=name_, purposes=kept, until=when, delegator_kid=holder_kid,
                    created_at=now,
                )  # fmt: skip
                session.add(row)
                session.flush()
                offer = _new_offer(gw, session, copy, now, min(OFFER_TTL, when - now))
                audit.record(session, at=now, actor=f"holder:{holder_kid}",
                             action="delegation.create", subject=delegation_id,
                             credential=original.id, copy=copy.id)  # fmt: skip
                out = _view(row, received=False, now=now, copy_status=copy.status_code)
            gw.live.changed(opened)
            return {**out, "offer": offer.as_dict()}
        except IntegrityError as exc:  # a status slot taken by another process: start over
            gw.slots.forget()
            if attempt == _RETRIES - 1:
                raise Conflict(
                    "其他进程同时在签发，委托未建立，请重试 · expected a free status slot, found "
                    f"it taken {_RETRIES} times; nothing was made, try again"
                ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _state(row: DelegationRow, copy_status: str, now: int) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if now >= row.until:
        return "expired"
    if copy_status == "02":
        return "suspended"
    if copy_status != "01":
        return "ended"  # the original was revoked or re-issued
    return "active"


_STATE_TEXT = {
    "active": ("有效", "active"),
    "revoked": ("已撤销", "revoked"),
    "expired": ("已过期", "expired"),
    "suspended": ("暂停（原证照已暂扣）", "suspended (the credential is suspended)"),
    "ended": ("已终止（原证照已撤销或换发）", "ended (the credential was revoked or re-issued)"),
}


def _view(row: DelegationRow, *, received: bool, now: int, copy_status: str) -> dict[str, Any]:
    state = _state(row, copy_status, now)
    return {
        "id": row.id,
        "credential_id": row.credential_id,
        "delegate": row.delegate_name,
        "purposes": list(row.purposes),
        "until": iso(row.until),
        "created_at": iso(row.created_at),
        "revoked_at": iso(row.revoked_at),
        "received": received,
        "state": state,
        "state_text": {"zh": _STATE_TEXT[state][0], "en": _STATE_TEXT[state][1]},
    }


def _received(session: Session, copy_ids: list[str]) -> set[str]:
    """The copies among ``copy_ids`` an agent's wallet has received."""
    return set(
        session.scalars(
            select(WalletOfferRow.credential_id).where(
                WalletOfferRow.credential_id.in_(copy_ids)
                & WalletOfferRow.delivered_at.is_not(None)
            )
        )
    )


def list_(gw: Gateway, proof_token: object) -> dict[str, Any]:
    """The delegations of the credential the holder proof names, newest first (a copy's proof:
    its own delegation only)."""
    now = gw.clock()
    credential_id, _kid = _proven(gw, proof_token, now)
    with gw.sessions() as session:
        rows = session.execute(
            select(DelegationRow, CredentialRow.status_code)
            .join(CredentialRow, CredentialRow.id == DelegationRow.copy_id)
            .where(
                (DelegationRow.credential_id == credential_id)
                | (DelegationRow.copy_id == credential_id)
            )
            .order_by(DelegationRow.created_at.desc(), DelegationRow.id)
            .limit(100)
        ).all()
        received = _received(session, [r.copy_id for r, _ in rows])
    return {
        "credential_id": credential_id,
        "delegations": [
            _view(r, received=r.copy_id in received, now=now, copy_status=code) for r, code in rows
        ],
    }


def revoke(gw: Gateway, proof_token: object, delegation_id: str) -> dict[str, Any]:
    """Revoke a delegation of the credential the holder proof names: the copy's status entry
    becomes INVALID (verifiers anywhere answer DELEGATION_REVOKED)."""
    now = gw.clock()
    credential_id, holder_kid = _proven(gw, proof_token, now)
    with gw.transaction() as session:
        row = (
            session.get(DelegationRow, delegation_id, with_for_update=True)
            if len(delegation_id) <= MAX_ID
            else None
        )
        if row is None or row.credential_id != credential_id:
            raise NotFound(
                f"此证照没有该委托 · no delegation {delegation_id[:MAX_ID]!r} of the credential "
                "this holder proof names"
            )
        if row.revoked_at is not None:
            raise Conflict(
                f"该委托已于 {iso(row.revoked_at)} 撤销 · expected a standing delegation, found "
                f"{row.id} revoked already at {iso(row.revoked_at)}"
            )
        row.revoked_at = now
        copy = get_credential(session, row.copy_id, None, lock=True)
        if copy.status_code in ("01", "02"):
            record_change(
                session,
                copy,
                REVOKED_CODE,
                reason="委托已撤销 · delegation revoked",
                actor=f"holder:{holder_kid}",
                now=now,
            )
        audit.record(
            session,
            at=now,
            actor=f"holder:{holder_kid}",
            action="delegation.revoke",
            subject=row.id,
            credential=credential_id,
        )
        out = _view(
            row, received=bool(_received(session, [copy.id])), now=now, copy_status=copy.status_code
        )
        change = mark_changed(session)
    gw.live.changed(change)
    return out
