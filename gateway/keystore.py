"""Credential-signing keys of agencies: create, rotate, retire, mark compromised, publish.

- One active key per agency signs; rotation retires the previous one, which keeps verifying
  what it signed until those certificates expire.
- A compromised key is kept (verifiers must know it to fail closed) with its compromise time;
  only tokens our issuance record shows as signed before that time are confirmed.
- Private keys are stored only as PKCS#8 encrypted with ``ECERT_KEY_PASSPHRASE``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.models import AgencyRow, CredentialRow, SigningKeyRow
from gateway.state import mark_changed
from trust.keys import SigningKey, with_short_alias

LIVE_CODES = ("01", "02")


def create_key(
    gw: Gateway, session: Session, *, agency_id: str, alg: str, now: int
) -> SigningKeyRow:
    key = SigningKey.generate(alg)
    row = SigningKeyRow(
        kid=key.kid,
        agency_id=agency_id,
        alg=key.alg,
        public_jwk=dict(key.public.jwk),
        private_pem=gw.keyring.seal(key),
        created_at=now,
        retired_at=None,
        compromised_at=None,
        note="",
    )
    session.add(row)
    audit.record(session, at=now, actor="gateway", action="key.create", subject=key.kid,
                 agency=agency_id, alg=key.alg)  # fmt: skip
    return row


def active_key(session: Session, agency_id: str) -> SigningKeyRow:
    row = session.scalar(
        select(SigningKeyRow)
        .where(
            SigningKeyRow.agency_id == agency_id,
            SigningKeyRow.retired_at.is_(None),
            SigningKeyRow.compromised_at.is_(None),
        )
        .order_by(SigningKeyRow.created_at.desc())
        .limit(1)
    )
    if row is None:
        raise Conflict(f"agency {agency_id} has no active signing key: run `ecert key rotate`")
    return row


def get_key(session: Session, kid: str) -> SigningKeyRow:
    row = session.get(SigningKeyRow, kid)
    if row is None:
        raise NotFound(f"no signing key with kid {kid!r}")
    return row


def list_keys(session: Session, agency_id: str | None = None) -> list[SigningKeyRow]:
    query = select(SigningKeyRow).order_by(SigningKeyRow.agency_id, SigningKeyRow.created_at)
    if agency_id is not None:
        query = query.where(SigningKeyRow.agency_id == agency_id)
    return list(session.scalars(query))


def rotate(gw: Gateway, *, agency_id: str, alg: str = "ES256", actor: str) -> SigningKeyRow:
    """A new key signs from now on; the previous active key is retired (still verifies)."""
    now = gw.clock()
    with gw.transaction() as session:
        if session.get(AgencyRow, agency_id) is None:
            raise NotFound(f"no agency {agency_id!r}")
        for old in session.scalars(
            select(SigningKeyRow).where(
                SigningKeyRow.agency_id == agency_id,
                SigningKeyRow.retired_at.is_(None),
                SigningKeyRow.compromised_at.is_(None),
            )
        ):
            old.retired_at = now
        row = create_key(gw, session, agency_id=agency_id, alg=alg, now=now)
        audit.record(session, at=now, actor=actor, action="key.rotate", subject=row.kid, alg=alg)
        change = mark_changed(session)
    gw.live.changed(change)
    return row


def retire(gw: Gateway, *, kid: str, actor: str) -> SigningKeyRow:
    now = gw.clock()
    with gw.transaction() as session:
        row = get_key(session, kid)
        if row.retired_at is None:
            row.retired_at = now
        audit.record(session, at=now, actor=actor, action="key.retire", subject=kid)
        change = mark_changed(session)
    gw.live.changed(change)
    return row


def live_credentials(session: Session, kid: str, now: int) -> list[CredentialRow]:
    return list(
        session.scalars(
            select(CredentialRow)
            .where(
                CredentialRow.kid == kid,
                CredentialRow.status_code.in_(LIVE_CODES),
                CredentialRow.delegated_from.is_(None),  # copies end with their original
                or_(CredentialRow.valid_until.is_(None), CredentialRow.valid_until > now),
            )
            .order_by(CredentialRow.issued_at)
        )
    )


def compromise(
    gw: Gateway, *, kid: str, at: int | None, reason: str, actor: str
) -> tuple[SigningKeyRow, list[CredentialRow]]:
    """Mark ``kid`` compromised from ``at`` (default now); return the live certificates it signed.

    The key stops signing at once. If the agency has no other usable key, a fresh one is made.
    """
    now = gw.clock()
    when = now if at is None else at
    if when > now:
        raise Conflict(f"compromise time {when} is in the future (now {now})")
    with gw.transaction() as session:
        row = get_key(session, kid)
        if row.compromised_at is not None and row.compromised_at <= when:
            raise Conflict(f"key {kid} is already marked compromised at {row.compromised_at}")
        row.compromised_at = when
        row.retired_at = row.retired_at if row.retired_at is not None else now
        row.note = reason[:500]
        others = session.scalar(
            select(func.count())
            .select_from(SigningKeyRow)
            .where(
                SigningKeyRow.agency_id == row.agency_id,
                SigningKeyRow.retired_at.is_(None),
                SigningKeyRow.compromised_at.is_(None),
            )
        )
        if not others:
            create_key(gw, session, agency_id=row.agency_id, alg=row.alg, now=now)
        audit.record(
            session,
            at=now,
            actor=actor,
            action="key.compromise",
            subject=kid,
            at_=when,
            reason_hash=audit.text_hash(reason),
        )
        change = mark_changed(session)
        affected = live_credentials(session, kid, now)
    gw.live.changed(change)
    gw.keyring.forget(kid)
    return row, affected


def jwks(gw: Gateway) -> dict[str, Any]:
    """Every public key that can still verify something, with its life as extra members.

    RFC 7517 allows extra members; ours are ``iat`` (created), ``retired_at`` and
    ``compromised_at`` (Unix seconds), so verifiers can apply the key's validity window. Each
    key is listed under its full thumbprint ``kid`` and again under the short ``kid`` QR tokens
    carry (:func:`trust.keys.with_short_alias`), so a JOSE library selects it by ``kid`` alone.
    """
    now = gw.clock()
    with gw.sessions() as session:
        alive = set(
            session.scalars(
                select(CredentialRow.kid)
                .where(or_(CredentialRow.valid_until.is_(None), CredentialRow.valid_until > now))
                .distinct()
            )
        )
        keys = []
        for row in list_keys(session):
            usable = row.retired_at is None and row.compromised_at is None
            if not usable and row.kid not in alive and row.compromised_at is None:
                continue
            jwk: dict[str, Any] = dict(row.public_jwk)
            jwk["iss"] = row.agency_id
            jwk["iat"] = row.created_at
            if row.retired_at is not None:
                jwk["retired_at"] = row.retired_at
            if row.compromised_at is not None:
                jwk["compromised_at"] = row.compromised_at
            keys.extend(with_short_alias(jwk))
    return {"keys": keys}
