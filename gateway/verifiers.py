"""Counters and kiosks as verifiers: registered under their city, each a federation leaf
(``{city}/verifiers/{id}``) with its own federation key and a role saying which fields of which
types it may ask a wallet for (``issuers/roles/verifier-roles.json``).

Its leaf Entity Configuration carries ``openid_relying_party`` metadata (OpenID4VP 1.0 §5.9.3:
the ``openid_federation`` client identifier prefix resolves a verifier through the federation)
and our ``ecert_verifier`` metadata (organisation, city, role and what the role may request);
the city's Subordinate Statement vouches for its keys and fixes its role by metadata policy.
API keys look like agencies' but start ``vk_``: they authenticate a counter's requests.

A role may also be granted by a trust mark of the region's anchor (``gateway.trustmarks``); the
mark travels in the counter's ``trust_marks``, its registered role stays as the city fixed it.

Deliberately not here: the requests themselves (``gateway.presentations``), signing statements
(``gateway.statements``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit, federation
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound, Unauthorised
from gateway.federation import verifier_entity_id
from gateway.models import CityRow, FederationRow, VerifierRow
from gateway.state import mark_changed
from issuers.credential_types import TypeRegistry
from issuers.verifier_roles import RoleTable, VerifierRole
from trust.errors import FieldError
from trust.federation import ECERT_VERIFIER, OPENID_RELYING_PARTY
from trust.keys import PublicKey

MAX_NAME = 128
KEY_PREFIX = "vk"


@functools.cache
def roles(types: TypeRegistry) -> RoleTable:
    """The shipped role table, checked against ``types`` (loaded once per registry)."""
    return RoleTable.load(types)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_verifier(gw: Gateway, *, name: str, role: str, actor: str) -> tuple[VerifierRow, str]:
    """Register a counter of ``role`` under this city, with a federation key and an API key
    (returned once). The city must be in a federation: the counter is one of its leaves."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise FieldError.single(
            "name", "length", f"核验点名称须为 1–{MAX_NAME} 个字符",
            f"name must be 1 to {MAX_NAME} characters, found {len(name)}",
        )  # fmt: skip
    roles(gw.types).get(role)
    now = gw.clock()
    secret = secrets.token_urlsafe(32)
    with gw.transaction() as session:
        if federation.config(session).role != federation.CITY:
            raise Conflict("counters are registered at a city gateway, not at a region's anchor")
        row = VerifierRow(
            id=f"vf-{secrets.token_hex(5)}",
            name=name,
            role=role,
            secret_hash=_digest(secret),
            created_at=now,
        )
        session.add(row)
        session.flush()
        federation.new_key(gw, session, row.id, now)
        audit.record(session, at=now, actor=actor, action="verifier.add", subject=row.id,
                     role=role)  # fmt: skip
        change = mark_changed(session)
        session.expunge(row)
    gw.live.changed(change)
    return row, f"{KEY_PREFIX}_{row.id}_{secret}"


def list_verifiers(gw: Gateway) -> list[dict[str, Any]]:
    with gw.sessions() as session:
        fed = session.get(FederationRow, 1)
        rows = session.scalars(select(VerifierRow).order_by(VerifierRow.created_at))
        return [
            {
                "id": r.id,
                "name": r.name,
                "role": r.role,
                "entity_id": verifier_entity_id(fed.entity_id, r.id) if fed else None,
            }
            for r in rows
        ]


def get_verifier(session: Session, verifier_id: str) -> VerifierRow:
    row = session.get(VerifierRow, verifier_id)
    if row is None:
        raise NotFound(f"no counter (verifier) {verifier_id!r} at this gateway")
    return row


@dataclass(frozen=True)
class Counter:
    """An authenticated counter, as routes see it (never its row)."""

    id: str
    name: str
    role: str


def authenticate(session: Session, presented: str) -> Counter:
    """Check a ``vk_<id>_<secret>`` key; any failure is the same ``Unauthorised``."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(presented) > 200:
        raise Unauthorised("expected a counter key of the form vk_<id>_<secret>")
    row = session.get(VerifierRow, parts[1])
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(parts[2])):
        raise Unauthorised("unknown counter key")
    return Counter(id=row.id, name=row.name, role=row.role)


def role_of(gw: Gateway, row: VerifierRow) -> VerifierRole:
    return roles(gw.types).get(row.role)


def metadata(
    gw: Gateway, *, fed: FederationRow, city: CityRow, row: VerifierRow, keys: list[PublicKey]
) -> dict[str, dict[str, Any]]:
    """The counter's leaf metadata: what a wallet shows and checks before it presents."""
    role = role_of(gw, row)
    return {
        OPENID_RELYING_PARTY: {
            "client_name": row.name,
            "jwks": {"keys": [dict(k.jwk) for k in keys]},
            "request_object_signing_alg": keys[0].alg,
            "vp_formats_supported": {"dc+sd-jwt": {}},
        },
        ECERT_VERIFIER: {
            "organization_name": row.name,
            "city_name": city.name,
            "city_code": city.code,
            "city_entity_id": fed.entity_id,
            "role": role.code,
            "role_name": {"zh": role.name_zh, "en": role.name_en},
            "may_request": role.to_metadata(),
        },
    }


def role_policy(role: str) -> dict[str, Any]:
    """The city fixes the counter's role in its Subordinate Statement (§6.1.3.1.1 ``value``)."""
    return {ECERT_VERIFIER: {"role": {"value": role}}}
