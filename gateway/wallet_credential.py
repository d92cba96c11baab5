"""The credential side of wallet issuance (OpenID4VCI 1.0): the Nonce Endpoint (§7) and the
Credential Endpoint (§8), which signs one SD-JWT VC bound to the key the wallet's proof proves,
referencing the credential's own status list entry.

Single use is the database's: a nonce is spent, and an access token delivers, by an UPDATE that
requires it unspent. Deliberately not here: offers and the token endpoint (:mod:`gateway.wallet`),
metadata (:mod:`gateway.wallet_metadata`).
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, select, update

from gateway import audit, keystore
from gateway.core import Gateway
from gateway.delegated_copies import claim_of
from gateway.models import CredentialRow, StatusListRow, WalletNonceRow, WalletOfferRow
from gateway.wallet import (
    CREDENTIAL_ISSUED,
    NONCE_TTL,
    CredentialRequestDenied,
    _bounded,
    _hash,
    issuer_id,
)
from issuers.wallet_types import credential_claims, vct_url
from trust.oid4vci import (
    SD_JWT_VC_FORMAT,
    InvalidCredentialRequest,
    InvalidNonce,
    InvalidProof,
    InvalidToken,
    UnknownCredentialConfiguration,
    check_proof,
)
from trust.sdjwt import issue as sd_issue
from trust.statuslist import StatusReference


def new_nonce(gw: Gateway) -> dict[str, Any]:
    """The Nonce Endpoint (§7): a fresh ``c_nonce``; spent nonces and expired ones are
    dropped as new ones are made, so the table stays bounded by the traffic of NONCE_TTL."""
    nonce = secrets.token_urlsafe(24)
    now = gw.clock()
    with gw.transaction() as session:
        session.execute(delete(WalletNonceRow).where(WalletNonceRow.expires_at <= now))
        session.add(WalletNonceRow(nonce_hash=_hash(nonce), expires_at=now + NONCE_TTL))
    return {"c_nonce": nonce}


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise InvalidToken(
            "缺少访问令牌 · expected 'Authorization: Bearer <access token>'",
            "expected an 'Authorization: Bearer <access token>' header",
        )
    return _bounded(authorization.removeprefix("Bearer ").strip(), "access token", InvalidToken)


def _proof_jwt(body: dict[str, Any]) -> str:
    proofs = body.get("proofs")
    if not isinstance(proofs, dict) or set(proofs) != {"jwt"}:
        raise InvalidProof(
            "需要一个 jwt 类型的密钥证明 · expected proofs.jwt",
            f"expected proofs as {{'jwt': [<one proof>]}}, found {str(proofs)[:80]!r}",
        )
    jwts = proofs["jwt"]
    if not isinstance(jwts, list) or len(jwts) != 1 or not isinstance(jwts[0], str):
        raise InvalidProof(
            "每次只签发一份，需要恰好一个密钥证明 · expected exactly one proof",
            f"expected exactly one jwt proof (batch size 1), found {str(jwts)[:80]!r}",
        )
    return jwts[0]


def credential(gw: Gateway, authorization: str | None, body: object) -> dict[str, Any]:
    """The Credential Endpoint (§8): one SD-JWT VC bound to the key the proof proves."""
    access = _bearer(authorization)
    now = gw.clock()
    issuer = gw.public_url.rstrip("/")
    if not isinstance(body, dict):
        raise InvalidCredentialRequest(
            "请求应为 JSON 对象 · expected a JSON object", "expected a JSON object body"
        )
    with gw.transaction() as session:
        row = session.scalars(
            select(WalletOfferRow).where(WalletOfferRow.token_hash == _hash(access))
        ).first()
        if row is None or row.token_expires_at is None:
            raise InvalidToken("访问令牌无效 · unknown access token", "unknown access token")
        if row.token_expires_at <= now:
            raise InvalidToken(
                "访问令牌已过期 · the access token expired",
                f"expected a token valid at {now}, found it expired at {row.token_expires_at}",
            )
        if row.delivered_at is not None:
            raise InvalidToken(
                "访问令牌已使用 · the access token was used already",
                "expected an unused access token, found it used for a credential already",
            )
        wanted = body.get("credential_configuration_id")
        if "credential_identifier" in body or wanted is None:
            raise InvalidCredentialRequest(
                "请指定 credential_configuration_id · expected credential_configuration_id",
                "expected credential_configuration_id (credential_identifier is not used here)",
            )
        if wanted != row.configuration_id:
            raise UnknownCredentialConfiguration(
                "该令牌不能领取此类证照 · not the credential this offer is for",
                f"expected {row.configuration_id!r}, found {str(wanted)[:64]!r}",
            )
        proof = check_proof(_proof_jwt(body), audience=issuer, now=now)
        spent = session.execute(
            update(WalletNonceRow)
            .where(
                (WalletNonceRow.nonce_hash == _hash(proof.nonce))
                & WalletNonceRow.used_at.is_(None)
                & (WalletNonceRow.expires_at > now)
            )
            .values(used_at=now)
        )
        if getattr(spent, "rowcount", 0) != 1:
            raise InvalidNonce(
                "nonce 无效、已使用或已过期，请重新获取 · fetch a fresh c_nonce",
                "expected a c_nonce from this issuer's Nonce Endpoint, unused and unexpired",
            )
        cred = session.get(CredentialRow, row.credential_id)
        if cred is None:  # a foreign key holds it
            raise LookupError(f"offer names credential {row.credential_id}, not found")
        if cred.status_code != "01" or (cred.valid_until is not None and cred.valid_until <= now):
            raise CredentialRequestDenied(
                "证照已不在有效状态，不能领取 · the credential is no longer valid",
                f"expected a valid credential, found status {cred.status_code}",
            )
        list_row = session.get(StatusListRow, cred.status_list_id)
        if list_row is None:  # a foreign key holds it
            raise LookupError(f"credential {cred.id} names status list {cred.status_list_id}")
        ctype = gw.types.get(cred.type)
        claims, disclosable = credential_claims(ctype, cred.subject)
        claims.update(claim_of(session, cred))  # a delegated copy's delegation, in plain view
        key = gw.keyring.signing_key(keystore.active_key(session, cred.agency_id))
        sd_jwt = sd_issue.issue_credential(
            claims,
            disclosable=disclosable,
            signer=key,
            issuer=issuer_id(issuer, cred.agency_id),
            vct=vct_url(issuer, ctype),
            holder_key=proof.key,
            status=StatusReference(idx=cred.status_idx, uri=list_row.uri),
            now=now,
            expires=cred.valid_until,
            not_before=cred.valid_from if cred.valid_from > now else None,
        )
        done = session.execute(
            update(WalletOfferRow)
            .where(
                (WalletOfferRow.code_hash == row.code_hash) & WalletOfferRow.delivered_at.is_(None)
            )
            .values(delivered_at=now, holder_kid=proof.key.kid)
        )
        if getattr(done, "rowcount", 0) != 1:
            raise InvalidToken(
                "访问令牌已使用 · the access token was used already",
                "expected an unused access token, found it used by another request",
            )
        audit.record(
            session, at=now, actor="wallet", action=CREDENTIAL_ISSUED, subject=cred.id,
            holder_kid=proof.key.kid, format=SD_JWT_VC_FORMAT,
        )  # fmt: skip
    return {"credentials": [{"credential": sd_jwt.serialize()}]}
