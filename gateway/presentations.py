"""A counter asks a wallet for a presentation (OpenID4VP 1.0, cross-device, DCQL).

:func:`create_request` checks what the counter asks against its role (a request for more is
refused here, before anything is signed), then signs a request object with the counter's own
federation key: ``client_id`` = ``openid_federation:`` + its entity id, ``response_mode``
``direct_post`` to this gateway's ``response_uri``, a fresh ``nonce`` and ``state``, a DCQL
query for the type's ``vct`` and the chosen claims, and the reason as ``purpose``. The wallet
fetches it at its ``request_uri`` (:func:`request_object`) for five minutes; after that it is
gone. The nonce is stored only as its SHA-256.

A counter may also ask for what a role granted to it by a trust mark of its region's anchor
allows (``gateway.trustmarks``): checked, with the mark's status, before the transaction.

:func:`counter_profile` tells a counter (its page) who it is and what its role lets it ask,
with zh/en names and labels.

Deliberately not here: checking the answer (``gateway.presentation_answers``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete

from gateway import audit, trustmarks, verifiers
from gateway.core import Gateway
from gateway.errors import NotFound
from gateway.federation import config, signing_key, verifier_entity_id
from gateway.models import PresentationRequestRow
from gateway.peers import HttpFetcher
from issuers.verifier_roles import VerifierRole
from issuers.wallet_types import vct_url
from trust.errors import FieldError
from trust.oid4vp import MAX_CLAIMS, MAX_PURPOSE, RequestObject, client_id, request_link

REQUEST_TTL = 300  # seconds: a request outlives its five minutes by nothing
REQUEST_PATH = "/oid4vp/requests/"
RESPONSE_PATH = "/oid4vp/responses/"
KEEP_ANSWERED = 86_400  # expired requests are dropped after a day (answers kept that long)
MAX_ID_LENGTH = 40


@dataclass(frozen=True)
class PresentationRequest:
    id: str
    client_id: str
    request_uri: str
    link: str  # openid4vp://?client_id=…&request_uri=…
    qr_png: str
    expires_at: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "client_id": self.client_id,
            "request_uri": self.request_uri,
            "uri": self.link,
            "qr_png": self.qr_png,
            "expires_at": self.expires_at,
        }


def counter_profile(gw: Gateway, verifier_id: str) -> dict[str, Any]:
    """Who counter ``verifier_id`` is (name, city, entity id, role) and which fields of which
    types it may ask for, in the type's field order, with zh/en labels: those of its
    registered role, and those a role mark it carries would add (each such field names the
    mark; whether the mark still holds is checked when a request needs it); and the bounds of
    a request (reason length, lifetime)."""
    with gw.sessions() as session:
        row = verifiers.get_verifier(session, verifier_id)
        entity_id = verifier_entity_id(config(session).entity_id, row.id)
        city = gw.city(session)
        city_name, city_code = city.name, city.code
        marked = trustmarks.held_roles(gw, session, row.id)
    role = verifiers.role_of(gw, row)
    granted: dict[str, dict[str, str | None]] = {}  # type → field → None (role) or mark type
    for by, source in ((None, role), *marked):
        for type_code, allowed in source.may_request.items():
            for name in allowed:
                granted.setdefault(type_code, {}).setdefault(name, by)
    may_request = []
    for type_code, fields in sorted(granted.items()):
        ctype = gw.types.get(type_code)
        may_request.append(
            {"type": ctype.code, "name": {"zh": ctype.name_zh, "en": ctype.name_en},
             "fields": [{"name": f.name, "label": {"zh": f.label_zh, "en": f.label_en},
                         "trust_mark": fields[f.name]}
                        for f in ctype.fields if f.name in fields]}
        )  # fmt: skip
    return {
        "id": row.id,
        "name": row.name,
        "entity_id": entity_id,
        "city": {"name": city_name, "code": city_code},
        "role": _role_out(role),
        "trust_marks": [{"type": t, "role": _role_out(r)} for t, r in marked],
        "may_request": may_request,
        "reason_max_length": MAX_PURPOSE,
        "request_ttl": REQUEST_TTL,
    }


def _role_out(role: VerifierRole) -> dict[str, Any]:
    return {"code": role.code, "name": {"zh": role.name_zh, "en": role.name_en}}


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _check_input(credential_type: str, fields: list[str], purpose: str) -> str:
    errors = []
    purpose = purpose.strip()
    if not 1 <= len(purpose) <= MAX_PURPOSE:
        errors.append(
            {
                "field": "reason",
                "code": "length",
                "message": f"用证事由须为 1–{MAX_PURPOSE} 个字符",
                "message_en": f"reason must be 1 to {MAX_PURPOSE} characters, found {len(purpose)}",
            }
        )
    if not 1 <= len(fields) <= MAX_CLAIMS or len(credential_type) > 64:
        errors.append(
            {
                "field": "fields",
                "code": "count",
                "message": f"须索取 1–{MAX_CLAIMS} 个字段",
                "message_en": f"expected 1 to {MAX_CLAIMS} fields, found {len(fields)}",
            }
        )
    if errors:
        raise FieldError(errors)
    return purpose


def create_request(
    gw: Gateway,
    *,
    verifier_id: str,
    credential_type: str,
    fields: list[str],
    reason: str,
    fetcher: HttpFetcher | None = None,
) -> PresentationRequest:
    """A signed request from counter ``verifier_id`` for ``fields`` of ``credential_type``;
    refused (:class:`FieldError`) when neither its role nor a role granted by one of its trust
    marks (checked through ``fetcher``; without one, marks grant nothing) allows them."""
    purpose = _check_input(credential_type, fields, reason)
    wanted = list(dict.fromkeys(f.strip() for f in fields if f.strip()))
    granted_by = trustmarks.check_request(
        gw, fetcher, verifier_id=verifier_id, credential_type=credential_type, fields=wanted
    )
    now = gw.clock()
    base = gw.public_url.rstrip("/")
    request_id = f"pr-{secrets.token_urlsafe(18)}"
    with gw.transaction() as session:
        row = verifiers.get_verifier(session, verifier_id)
        ctype = gw.types.get(credential_type)
        key, _ = signing_key(gw, session, row.id)
        client = client_id(verifier_entity_id(config(session).entity_id, row.id))
        nonce, state = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        token = RequestObject(
            client_id=client,
            response_uri=f"{base}{RESPONSE_PATH}{request_id}",
            nonce=nonce,
            state=state,
            vct=vct_url(base, ctype),
            claims=tuple(wanted),
            purpose=purpose,
            iat=now,
            exp=now + REQUEST_TTL,
        ).sign(key)
        session.execute(
            delete(PresentationRequestRow).where(
                PresentationRequestRow.expires_at <= now - KEEP_ANSWERED
            )
        )
        session.add(
            PresentationRequestRow(
                id=request_id, verifier_id=row.id, credential_type=ctype.code, fields=wanted,
                purpose=purpose, nonce_hash=_hash(nonce), state=state, token=token,
                created_at=now, expires_at=now + REQUEST_TTL,
            )
        )  # fmt: skip
        audit.record(session, at=now, actor=row.id, action="presentation.request",
                     subject=request_id, type=ctype.code, fields=wanted,
                     granted_by=granted_by)  # fmt: skip
    request_uri = f"{base}{REQUEST_PATH}{request_id}"
    return PresentationRequest(
        id=request_id,
        client_id=client,
        request_uri=request_uri,
        link=request_link(client, request_uri),
        qr_png=f"{REQUEST_PATH}{request_id}/qr.png",
        expires_at=now + REQUEST_TTL,
    )


def _live(gw: Gateway, request_id: str) -> PresentationRequestRow:
    if len(request_id) > MAX_ID_LENGTH:
        raise NotFound("no such presentation request")
    now = gw.clock()
    with gw.sessions() as session:
        row = session.get(PresentationRequestRow, request_id)
        if row is None or row.expires_at <= now or row.answered_at is not None:
            raise NotFound(
                "no such presentation request, or it expired (5 minutes) or was answered"
            )
        session.expunge(row)
        return row


def request_object(gw: Gateway, request_id: str) -> str:
    """The signed request object behind ``request_uri``, while the request is live."""
    return _live(gw, request_id).token


def request_link_of(gw: Gateway, request_id: str) -> str:
    """The ``openid4vp://`` link of a live request (for its QR image)."""
    row = _live(gw, request_id)
    with gw.sessions() as session:
        client = client_id(verifier_entity_id(config(session).entity_id, row.verifier_id))
    return request_link(client, f"{gw.public_url.rstrip('/')}{REQUEST_PATH}{row.id}")
