"""Issuing to a wallet: OpenID4VCI 1.0, pre-authorised code flow, SD-JWT VC (``dc+sd-jwt``).

An agency asks for an offer for a credential it issued (:func:`create_offer`): a random
pre-authorised code (also the secret in the offer's URI) and a 6-digit transaction code (PIN)
the holder gets by another channel. The wallet fetches the offer (:func:`offer_document`),
trades code and PIN for an access token (:func:`token`: once; wrong PINs are counted and end
the offer after :data:`MAX_PIN_FAILURES`), fetches a ``c_nonce`` (:func:`new_nonce`), and
sends a key proof to :func:`credential`, which signs the SD-JWT VC bound to the proven key,
referencing the credential's own status list entry (one revoke reaches the QR token and the
SD-JWT VC).

Single use is the database's: an offer is redeemed by an UPDATE that requires it unredeemed,
unexpired and not locked; a token delivers by an UPDATE that requires it undelivered; a nonce is
spent by an UPDATE that requires it unspent. Two requests racing find one row changed, not two.
The pre-authorised code, the PIN, the token and the nonce are stored only as SHA-256 hashes
(the PIN's keyed by the code).

The nonce and credential endpoints are :mod:`gateway.wallet_credential`; the metadata a wallet
reads first is :mod:`gateway.wallet_metadata`.

Deliberately not here: the authorization code flow, deferred and batch issuance, credential
response encryption, DPoP, OpenID4VP (presentation).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from gateway.core import Gateway
from gateway.errors import NotFound
from gateway.federation import agency_entity_id
from gateway.models import CredentialRow, WalletOfferRow
from gateway.status import get_credential
from trust.oid4vci import (
    PRE_AUTHORIZED_GRANT,
    InvalidGrant,
    InvalidRequest,
    Oid4vciError,
    UnsupportedGrantType,
)

OFFER_TTL = 72 * 3600  # seconds an offer may be redeemed in, by default
MAX_OFFER_TTL = 30 * 86_400
TOKEN_TTL = 300  # seconds an access token lives (and it delivers once)
NONCE_TTL = 300
MAX_PIN_FAILURES = 5
PIN_DIGITS = 6
MAX_SECRET_LENGTH = 128  # characters of a code, token or nonce we accept to look up
OFFER_PATH = "/oid4vci/offers/"
OFFER_SCHEME = "openid-credential-offer://"
CREDENTIAL_ISSUED = "credential.wallet_issued"


class CredentialRequestDenied(Oid4vciError):
    """The credential cannot be issued now (revoked, suspended or expired since the offer)."""

    error = "credential_request_denied"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _pin_hash(code: str, pin: str) -> str:
    return hmac.new(code.encode(), pin.encode(), hashlib.sha256).hexdigest()


def _bounded(value: object, what: str, error: type[Oid4vciError]) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_SECRET_LENGTH:
        raise error(
            f"缺少或无效的 {what} · expected {what} (1-{MAX_SECRET_LENGTH} characters)",
            f"expected {what} as a string of 1-{MAX_SECRET_LENGTH} characters, "
            f"found {type(value).__name__}",
        )
    return value


def issuer_id(public_url: str, agency_id: str) -> str:
    """An agency's issuer identifier in its SD-JWT VCs: its federation entity id."""
    return agency_entity_id(public_url.rstrip("/"), agency_id)


@dataclass(frozen=True)
class WalletOffer:
    """What the agency hands over: the offer (as URI and as link to a QR image) and the PIN,
    which goes to the holder by another channel."""

    offer_uri: str
    credential_offer_uri: str
    qr_png: str
    tx_code: str
    expires_at: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "offer_uri": self.offer_uri,
            "credential_offer_uri": self.credential_offer_uri,
            "qr_png": self.qr_png,
            "tx_code": self.tx_code,
            "expires_at": self.expires_at,
        }


def create_offer(
    gw: Gateway, *, credential_id: str, agency_id: str | None, ttl: int = OFFER_TTL
) -> WalletOffer:
    """A new offer for ``credential_id`` (of ``agency_id``, when given), valid ``ttl`` s."""
    _check_ttl(ttl)
    now = gw.clock()
    with gw.transaction() as session:
        row = get_credential(session, credential_id, agency_id)
        if row.delegated_from is not None:  # 委托用证: only its holder's delegation offers it
            raise CredentialRequestDenied(
                "委托副本只能在持证人委托时发给代理人 · a delegated copy is offered by its "
                "holder's delegation only",
                f"expected a credential, found a delegated copy of {row.delegated_from}",
            )
        if row.status_code != "01":
            raise CredentialRequestDenied(
                f"证照状态为 {row.status_code}，不能发到钱包 · only a valid credential is offered",
                f"expected a valid credential (01), found status {row.status_code}",
            )
        return _new_offer(gw, session, row, now, ttl)


@dataclass(frozen=True)
class BatchOffer:
    """An offer made for one register row's credential."""

    ref: str  # the row's ref in its register (its batch_ref after "{batch id}:")
    credential_id: str
    identifier: str
    offer: WalletOffer


def offer_batch(
    gw: Gateway, *, agency_id: str, batch_id: str, limit: int = 1000, ttl: int = OFFER_TTL
) -> list[BatchOffer]:
    """Offers for at most ``limit`` valid credentials of register ``batch_id`` that have none
    yet, in one transaction (call again until it answers none). A credential that was ever
    offered is passed over: its codes are not stored, so a lost one is replaced by asking a new
    offer for that credential (:func:`create_offer`)."""
    _check_ttl(ttl)
    if not 1 <= limit <= 10_000:
        raise ValueError(f"expected a limit of 1 to 10000, found {limit}")
    now = gw.clock()
    with gw.transaction() as session:
        rows = session.scalars(
            select(CredentialRow)
            .where(
                CredentialRow.agency_id == agency_id,
                CredentialRow.batch_ref.startswith(f"{batch_id}:", autoescape=True),
                CredentialRow.status_code == "01",
                ~exists().where(WalletOfferRow.credential_id == CredentialRow.id),
            )
            .order_by(CredentialRow.id)
            .limit(limit)
        ).all()
        return [
            BatchOffer(
                ref=(row.batch_ref or "").removeprefix(f"{batch_id}:"),
                credential_id=row.id,
                identifier=row.identifier,
                offer=_new_offer(gw, session, row, now, ttl),
            )
            for row in rows
        ]


def _check_ttl(ttl: int) -> None:
    if not 60 <= ttl <= MAX_OFFER_TTL:
        raise InvalidRequest(
            f"报价有效期应为 60 秒至 {MAX_OFFER_TTL} 秒 · offer lifetime out of range",
            f"expected an offer lifetime of 60 to {MAX_OFFER_TTL} seconds, found {ttl}",
        )


def _new_offer(
    gw: Gateway, session: Session, row: CredentialRow, now: int, ttl: int
) -> WalletOffer:
    code = secrets.token_urlsafe(32)
    pin = f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"
    session.add(
        WalletOfferRow(
            code_hash=_hash(code),
            credential_id=row.id,
            configuration_id=row.type,
            pin_hash=_pin_hash(code, pin),
            pin_failures=0,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    base = gw.public_url.rstrip("/")
    offer_url = f"{base}{OFFER_PATH}{code}"
    return WalletOffer(
        offer_uri=f"{OFFER_SCHEME}?credential_offer_uri={quote(offer_url, safe='')}",
        credential_offer_uri=offer_url,
        qr_png=f"{OFFER_PATH}{code}/qr.png",
        tx_code=pin,
        expires_at=now + ttl,
    )


def _live_offer(gw: Gateway, code: str) -> WalletOfferRow:
    code = _bounded(code, "offer", InvalidRequest)
    now = gw.clock()
    with gw.sessions() as session:
        row = session.get(WalletOfferRow, _hash(code))
        if (
            row is None
            or row.expires_at <= now
            or row.redeemed_at is not None
            or row.pin_failures >= MAX_PIN_FAILURES
        ):
            raise NotFound("no such credential offer, or it expired or was redeemed")
        session.expunge(row)
        return row


def offer_document(gw: Gateway, code: str) -> dict[str, Any]:
    """The Credential Offer (§4.1.1) behind ``credential_offer_uri``."""
    row = _live_offer(gw, code)
    return {
        "credential_issuer": gw.public_url.rstrip("/"),
        "credential_configuration_ids": [row.configuration_id],
        "grants": {
            PRE_AUTHORIZED_GRANT: {
                "pre-authorized_code": code,
                "tx_code": {
                    "input_mode": "numeric",
                    "length": PIN_DIGITS,
                    "description": "请输入签发机关另行告知的 6 位取证码 · "
                    "Enter the 6-digit code the issuing agency gave you separately",
                },
            }
        },
    }


def offer_uri(gw: Gateway, code: str) -> str:
    """The ``openid-credential-offer://`` URI of a live offer (for its QR image)."""
    _live_offer(gw, code)
    url = f"{gw.public_url.rstrip('/')}{OFFER_PATH}{code}"
    return f"{OFFER_SCHEME}?credential_offer_uri={quote(url, safe='')}"


def token(gw: Gateway, form: dict[str, str]) -> dict[str, Any]:
    """The Token Endpoint (§6) for the pre-authorised code grant."""
    grant = form.get("grant_type")
    if grant != PRE_AUTHORIZED_GRANT:
        raise UnsupportedGrantType(
            "仅支持预授权码方式 · only the pre-authorized_code grant is supported",
            f"expected grant_type {PRE_AUTHORIZED_GRANT}, found {grant!r:.80}",
        )
    code = _bounded(form.get("pre-authorized_code"), "pre-authorized_code", InvalidRequest)
    pin = form.get("tx_code")
    if pin is None:
        raise InvalidRequest(
            "缺少取证码 tx_code · the offer needs its transaction code",
            "expected tx_code: this offer requires a transaction code",
        )
    pin = _bounded(pin, "tx_code", InvalidRequest)
    now = gw.clock()
    code_hash = _hash(code)
    with gw.sessions() as session:
        row = session.get(WalletOfferRow, code_hash)
        if row is None:
            raise InvalidGrant(
                "取证码无效 · unknown pre-authorised code", "unknown pre-authorized_code"
            )
        if row.expires_at <= now:
            raise InvalidGrant(
                "该钱包领取链接已过期，请向签发机关重新申请 · this offer has expired",
                f"expected an offer valid at {now}, found it expired at {row.expires_at}",
            )
        if row.redeemed_at is not None:
            raise InvalidGrant(
                "该钱包领取链接已被使用 · this offer was already redeemed",
                "expected an unredeemed offer, found it redeemed already",
            )
        if row.pin_failures >= MAX_PIN_FAILURES:
            raise InvalidGrant(
                "取证码错误次数过多，领取链接已失效 · too many wrong transaction codes",
                f"expected fewer than {MAX_PIN_FAILURES} wrong tx_code attempts, the offer is "
                "locked",
            )
        right = hmac.compare_digest(row.pin_hash, _pin_hash(code, pin))
    unredeemed = (
        (WalletOfferRow.code_hash == code_hash)
        & WalletOfferRow.redeemed_at.is_(None)
        & (WalletOfferRow.expires_at > now)
        & (WalletOfferRow.pin_failures < MAX_PIN_FAILURES)
    )
    if not right:
        with gw.transaction() as session:
            session.execute(
                update(WalletOfferRow)
                .where(unredeemed)
                .values(pin_failures=WalletOfferRow.pin_failures + 1)
            )
        raise InvalidGrant(
            "取证码错误 · wrong transaction code",
            f"expected the offer's tx_code, found another (at most {MAX_PIN_FAILURES} tries)",
        )
    access = secrets.token_urlsafe(32)
    with gw.transaction() as session:
        done = session.execute(
            update(WalletOfferRow)
            .where(unredeemed)
            .values(redeemed_at=now, token_hash=_hash(access), token_expires_at=now + TOKEN_TTL)
        )
        if getattr(done, "rowcount", 0) != 1:
            raise InvalidGrant(
                "该钱包领取链接已被使用 · this offer was already redeemed",
                "expected an unredeemed offer, found it redeemed by another request",
            )
    return {"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_TTL}
