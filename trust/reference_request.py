"""Messages between city gateways about a holder's credential, each a compact JWS signed with
the sending gateway's *federation* key (the keys its superior vouches for in the federation):

- :class:`ReferenceRequest` (``typ`` :data:`REQUEST_TYP`): a counter's gateway asks the issuing
  gateway to resolve a reference code (亮证码) for one of its counters, naming the counter
  (``verifier_entity_id``), its registered role, the reason, and the credential types the
  asking side's trust state accepts from the issuing city (its policy). ``iss`` = the asking
  city, ``aud`` = the issuing city, ``iat``/``exp`` at most :data:`REQUEST_LIFETIME` apart,
  ``jti`` single use (the receiver spends it).
- :class:`ReferenceAnswer` (``typ`` :data:`ANSWER_TYP`): the issuing gateway's answer, naming
  the request's ``jti``; the result (reason code, fields shown, issuer, freshness).
- :class:`UseReport` (``typ`` :data:`USE_REPORT_TYP`): a counter's gateway tells the issuing
  gateway of a presentation (OpenID4VP) of its credential: the credential by its status
  reference, the counter, when, why, which fields, the reason code and the holder's KB-JWT.

``read_*`` check the signature with the keys the caller resolved for the sender (the sender's
name in the token is only a hint: ``unverified_sender``), the ``typ``, audience, times and
the shape of every claim, bounded. Every refusal is :class:`PeerMessageRefused` with a Chinese
and an English message saying what was expected and what was found. Pure: no I/O.

Deliberately not here: resolving the sender's keys, spending ``jti``, the code itself, HTTP.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from trust.errors import DataError
from trust.federation.common import unverified_payload
from trust.jws import KeyIndex, sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey
from trust.statuslist import StatusReference

REQUEST_TYP = "ecert-reference-request+jwt"
ANSWER_TYP = "ecert-reference-answer+jwt"
USE_REPORT_TYP = "ecert-use-report+jwt"
MAX_MESSAGE = 32 * 1024  # characters of one compact JWS
REQUEST_LIFETIME = 60  # seconds from iat to exp
CLOCK_SKEW = 60  # seconds an iat may lie ahead of, or a request's behind, the receiver's now
MAX_REPORT_AGE = 7 * 86_400  # a use report older than this is refused (and no longer sent)
MAX_TEXT = 256
MAX_REASON = 200
MAX_TYPES = 64
MAX_FIELDS = 64
MAX_KB_JWT = 8 * 1024
JTI_BYTES = 18


class PeerMessageRefused(DataError):
    """A message from another gateway that does not hold; zh-CN and English messages."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def _refuse(en: str) -> PeerMessageRefused:
    return PeerMessageRefused("网关间消息无效", en)


def new_jti() -> str:
    return secrets.token_urlsafe(JTI_BYTES)


def _text(claims: Mapping[str, Any], name: str, limit: int = MAX_TEXT) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= limit:
        raise _refuse(
            f"expected {name} as a string of 1 to {limit} characters, found {value!r:.80}"
        )
    return value


def _int(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if type(value) is not int or value < 0:
        raise _refuse(f"expected {name} as integer seconds, found {value!r:.40}")
    return value


def _names(claims: Mapping[str, Any], name: str, limit: int) -> tuple[str, ...]:
    value = claims.get(name)
    if not isinstance(value, list) or len(value) > limit:
        raise _refuse(f"expected {name} as a list of at most {limit} names, found {value!r:.80}")
    if not all(isinstance(v, str) and 1 <= len(v) <= MAX_TEXT for v in value):
        raise _refuse(f"expected {name} to hold names (strings), found {value!r:.80}")
    return tuple(value)


def unverified_sender(token: object) -> tuple[str, str]:
    """``(iss, verifier_entity_id)`` of a message, unverified: hints to find the keys with."""
    if not isinstance(token, str) or len(token) > MAX_MESSAGE:
        raise _refuse(f"expected a compact JWS of at most {MAX_MESSAGE} characters")
    try:
        claims = unverified_payload(token, max_length=MAX_MESSAGE)
    except DataError as exc:
        raise _refuse(f"expected a compact JWS: {exc}") from exc
    return _text(claims, "iss"), _text(claims, "verifier_entity_id")


def _verified(
    token: object, keys: Iterable[PublicKey], *, typ: str, audience: str, now: int
) -> dict[str, Any]:
    """The payload, once signed by one of ``keys``, for ``audience``, and not issued later than
    :data:`CLOCK_SKEW` seconds from ``now``."""
    if not isinstance(token, str) or len(token) > MAX_MESSAGE:
        raise _refuse(f"expected a compact JWS of at most {MAX_MESSAGE} characters")
    try:
        claims = verify_compact(token, KeyIndex(keys), typ=typ, max_length=MAX_MESSAGE).payload
    except DataError as exc:
        raise PeerMessageRefused(
            "网关间消息的签名无效（不是发送方网关的联邦密钥所签）",
            f"expected a {typ} signed by the sender's federation key: {exc}",
        ) from exc
    if claims.get("aud") != audience:
        raise _refuse(f"expected aud {audience!r}, found {claims.get('aud')!r:.120}")
    if _int(claims, "iat") > now + CLOCK_SKEW:
        raise _refuse(f"expected iat at most {CLOCK_SKEW} s after {now}, found {claims['iat']}")
    return dict(claims)


@dataclass(frozen=True)
class ReferenceRequest:
    iss: str  # the asking city's entity id
    aud: str  # the issuing city's entity id
    iat: int
    exp: int
    jti: str
    code: str  # the bare code (16 base32 characters)
    verifier_entity_id: str
    role: str  # the counter's registered role
    reason: str
    accepted_types: frozenset[str]

    def sign(self, key: SigningKey) -> str:
        claims = {
            "iss": self.iss, "aud": self.aud, "iat": self.iat, "exp": self.exp, "jti": self.jti,
            "code": self.code, "verifier_entity_id": self.verifier_entity_id, "role": self.role,
            "reason": self.reason, "accepted_types": sorted(self.accepted_types),
        }  # fmt: skip
        return sign_compact(claims, key, typ=REQUEST_TYP)


def make_request(
    key: SigningKey, *, iss: str, aud: str, code: str, verifier_entity_id: str, role: str,
    reason: str, accepted_types: Iterable[str], now: int,
) -> tuple[ReferenceRequest, str]:  # fmt: skip
    """A fresh request (new ``jti``, lives :data:`REQUEST_LIFETIME` s) and its signed form."""
    request = ReferenceRequest(
        iss=iss, aud=aud, iat=now, exp=now + REQUEST_LIFETIME, jti=new_jti(), code=code,
        verifier_entity_id=verifier_entity_id, role=role, reason=reason,
        accepted_types=frozenset(accepted_types),
    )  # fmt: skip
    return request, request.sign(key)


def read_request(
    token: object, keys: Iterable[PublicKey], *, audience: str, now: int
) -> ReferenceRequest:
    """A request signed by one of ``keys`` (the asking city's), for ``audience``, current."""
    claims = _verified(token, keys, typ=REQUEST_TYP, audience=audience, now=now)
    iat, exp = _int(claims, "iat"), _int(claims, "exp")
    if not iat < exp <= iat + REQUEST_LIFETIME:
        raise _refuse(f"expected exp within {REQUEST_LIFETIME} s after iat {iat}, found {exp}")
    if exp <= now:
        raise PeerMessageRefused(
            "网关间请求已过期", f"expected a request valid at {now}, found it expired at {exp}"
        )
    return ReferenceRequest(
        iss=_text(claims, "iss"), aud=audience, iat=iat, exp=exp,
        jti=_text(claims, "jti", 64), code=_text(claims, "code", 64),
        verifier_entity_id=_text(claims, "verifier_entity_id"), role=_text(claims, "role", 64),
        reason=_text(claims, "reason", MAX_REASON),
        accepted_types=frozenset(_names(claims, "accepted_types", MAX_TYPES)),
    )  # fmt: skip


@dataclass(frozen=True)
class ReferenceAnswer:
    """What the issuing gateway answers: ``result`` holds ``reason``, ``detail``, ``type``,
    ``issuer_entity`` (the issuing agency's entity id, or ``None``), ``fields`` (name → value,
    only what the counter's role may see, only when valid), ``checked_at`` and
    ``status_as_of`` (ISO 8601 UTC, or ``None``)."""

    iss: str
    aud: str
    iat: int
    request_jti: str
    result: Mapping[str, Any]

    def sign(self, key: SigningKey) -> str:
        claims = {"iss": self.iss, "aud": self.aud, "iat": self.iat,
                  "request_jti": self.request_jti, "result": dict(self.result)}  # fmt: skip
        return sign_compact(claims, key, typ=ANSWER_TYP)


def read_answer(
    token: object, keys: Iterable[PublicKey], *, issuer: str, audience: str, request_jti: str,
    now: int,
) -> ReferenceAnswer:  # fmt: skip
    """An answer signed by one of ``keys`` (the issuing city's), from ``issuer``, for
    ``audience``, to the request ``request_jti``, issued within :data:`CLOCK_SKEW` of ``now``."""
    claims = _verified(token, keys, typ=ANSWER_TYP, audience=audience, now=now)
    if claims.get("iss") != issuer:
        raise _refuse(f"expected iss {issuer!r}, found {claims.get('iss')!r:.120}")
    if claims.get("request_jti") != request_jti:
        raise _refuse(f"expected an answer to request {request_jti}, found another")
    if _int(claims, "iat") < now - CLOCK_SKEW:
        raise _refuse(f"expected iat within {CLOCK_SKEW} s of {now}, found {claims['iat']}")
    result = claims.get("result")
    if not isinstance(result, dict):
        raise _refuse(f"expected a result object, found {result!r:.80}")
    _text(result, "reason", 40)
    fields = result.get("fields")
    if not isinstance(fields, dict) or len(fields) > MAX_FIELDS:
        raise _refuse(f"expected fields as an object of at most {MAX_FIELDS}, found {fields!r:.80}")
    return ReferenceAnswer(issuer, audience, claims["iat"], request_jti, result)


@dataclass(frozen=True)
class UseReport:
    iss: str  # the counter's city (entity id)
    aud: str  # the issuing city (entity id)
    iat: int
    jti: str
    credential: StatusReference  # the credential, by its status list entry
    verifier_entity_id: str
    verifier_name: str
    city_name: str
    city_code: str
    at: int
    reason: str  # the request's purpose
    fields: tuple[str, ...]  # names of the fields disclosed, never their values
    reason_code: str
    kb_jwt: str  # the holder's Key Binding JWT of the presentation
    holder_jwk: Mapping[str, Any] | None  # the credential's ``cnf`` key, to check the KB-JWT

    def sign(self, key: SigningKey) -> str:
        claims = {
            "iss": self.iss, "aud": self.aud, "iat": self.iat, "jti": self.jti,
            **self.credential.to_claim(), "verifier_entity_id": self.verifier_entity_id,
            "verifier_name": self.verifier_name, "city_name": self.city_name,
            "city_code": self.city_code, "at": self.at, "reason": self.reason,
            "fields": list(self.fields), "reason_code": self.reason_code, "kb_jwt": self.kb_jwt,
            "holder_jwk": None if self.holder_jwk is None else dict(self.holder_jwk),
        }  # fmt: skip
        return sign_compact(claims, key, typ=USE_REPORT_TYP)


def read_use_report(
    token: object, keys: Iterable[PublicKey], *, audience: str, now: int
) -> UseReport:
    """A report signed by one of ``keys`` (the counter's city's), for ``audience``, at most
    :data:`MAX_REPORT_AGE` seconds old."""
    claims = _verified(token, keys, typ=USE_REPORT_TYP, audience=audience, now=now)
    iat = _int(claims, "iat")
    if iat < now - MAX_REPORT_AGE:
        raise _refuse(f"expected a report at most {MAX_REPORT_AGE} s old, found iat {iat}")
    try:
        ref = StatusReference.from_claims(claims)
    except DataError as exc:
        raise _refuse(f"expected the credential's status reference: {exc}") from exc
    if ref is None:
        raise _refuse("expected the credential's status reference (status.status_list)")
    holder = claims.get("holder_jwk")
    if holder is not None and not isinstance(holder, dict):
        raise _refuse(f"expected holder_jwk as a JWK object or null, found {holder!r:.80}")
    return UseReport(
        iss=_text(claims, "iss"), aud=audience, iat=iat, jti=_text(claims, "jti", 64),
        credential=ref, verifier_entity_id=_text(claims, "verifier_entity_id"),
        verifier_name=_text(claims, "verifier_name", 128),
        city_name=_text(claims, "city_name", 64), city_code=_text(claims, "city_code", 6),
        at=_int(claims, "at"), reason=_text(claims, "reason", MAX_REASON),
        fields=_names(claims, "fields", MAX_FIELDS), reason_code=_text(claims, "reason_code", 40),
        kb_jwt=_text(claims, "kb_jwt", MAX_KB_JWT), holder_jwk=holder,
    )  # fmt: skip
