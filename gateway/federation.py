"""This gateway's part in the federation: its role, its members and its federation keys.

- A **region trust anchor** vouches for the cities that joined it (after an operator approved
  them, with the credential types granted) and, by explicit agreement, for other regions'
  anchors (cross-certification carrying which of their types this region accepts).
- A **city gateway** vouches for its agencies (leaf entities ``{city}/agencies/{id}``) and
  names its anchor in ``authority_hints``.

Every statement is signed with a federation key (kept apart from credential keys, stored
encrypted like them). Keys are made when a role is taken, an agency is added or a key rotates,
never on a read: :func:`signing_key` only reads. What is signed is in ``gateway.statements``.
Every change to who is trusted goes to the audit log with who and when. This module records;
it fetches nothing (``gateway.peers`` does). Join requests, before approval, are
``gateway.join_requests``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.models import (
    AgencyRow,
    FederationKeyRow,
    FederationRow,
    SubordinateRow,
    VerifierRow,
)
from gateway.state import mark_changed
from trust.federation import Acceptance, check_entity_id
from trust.keys import PublicKey, SigningKey
from trust.trustlist.root import Role, RootMetadata, SignedRoot

SELF = "self"
ECERT_GATEWAY = "ecert_gateway"  # our metadata type: a gateway's role, region and endpoints
ANCHOR, CITY = "anchor", "city"
ROOT_LIFETIME = 365 * 86_400
MAX_REGION_TEXT = 64
CITY_PATH_LENGTH = 1  # anchor → city → agency: one intermediate
REGION_PATH_LENGTH = 2  # anchor → other anchor → city → agency; never a third region


def config(session: Session) -> FederationRow:
    row = session.get(FederationRow, 1)
    if row is None:
        raise NotFound(
            "this gateway is not in a federation: run `ecert federation init-anchor` "
            "(region) or `ecert federation join` (city)"
        )
    return row


def agency_entity_id(city_entity_id: str, agency_id: str) -> str:
    return f"{city_entity_id}/agencies/{agency_id}"


def verifier_entity_id(city_entity_id: str, verifier_id: str) -> str:
    """A counter's leaf entity id (``gateway.verifiers``)."""
    return f"{city_entity_id}/verifiers/{verifier_id}"


def new_key(gw: Gateway, session: Session, owner: str, now: int | None = None) -> FederationKeyRow:
    now = gw.clock() if now is None else now
    key = SigningKey.generate()
    row = FederationKeyRow(
        kid=key.kid,
        owner=owner,
        public_jwk=dict(key.public.jwk),
        private_pem=gw.keyring.seal(key),
        created_at=now,
        retired_at=None,
    )
    session.add(row)
    session.flush()
    return row


def _keys(session: Session, owner: str) -> list[FederationKeyRow]:
    return list(
        session.scalars(
            select(FederationKeyRow)
            .where(FederationKeyRow.owner == owner, FederationKeyRow.retired_at.is_(None))
            .order_by(FederationKeyRow.created_at.desc())
        )
    )


def current_keys(gw: Gateway, session: Session, owner: str) -> list[SigningKey]:
    """The owner's federation keys still in use, decrypted (to sign a root rotation)."""
    return [gw.keyring.unseal(r.private_pem) for r in _keys(session, owner)]


def signing_key(gw: Gateway, session: Session, owner: str) -> tuple[SigningKey, list[PublicKey]]:
    """The owner's newest federation key (decrypted once, then held in memory) and all its
    current keys. Reads only: keys are made by :func:`ensure_keys`."""
    rows = _keys(session, owner)
    if not rows:
        raise NotFound(
            f"{owner} has no federation key yet: it is made when the gateway takes its "
            "federation role or the agency is added (or at the next start of `ecert serve`)"
        )
    return gw.keyring.signing_key(rows[0]), [PublicKey.from_jwk(r.public_jwk) for r in rows]


def own_signing_key(gw: Gateway) -> SigningKey:
    """This gateway's newest federation key, read in a short session of its own."""
    with gw.sessions() as session:
        key, _ = signing_key(gw, session, SELF)
    return key


def ensure_keys(gw: Gateway, session: Session, now: int) -> int:
    """Make the federation keys this gateway signs with and does not have yet: its own and
    (a city's) each agency's and each counter's. A write, for a role taken, an agency or a
    counter added, or the start of a gateway whose database was made before keys were made
    up front; returns how many."""
    owners = [
        SELF,
        *session.scalars(select(AgencyRow.id)),
        *session.scalars(select(VerifierRow.id)),
    ]
    held = set(session.scalars(select(FederationKeyRow.owner).where(
        FederationKeyRow.retired_at.is_(None))))  # fmt: skip
    missing = [o for o in owners if o not in held]
    for owner in missing:
        new_key(gw, session, owner, now)
    return len(missing)


def first_root(gw: Gateway, session: Session, fed: FederationRow, now: int) -> SignedRoot:
    """Root metadata version 1 (TUF §5.3): this gateway's current federation keys may sign
    roots and trust lists, one signature each; it lives :data:`ROOT_LIFETIME` seconds."""
    key, current = signing_key(gw, session, SELF)
    kids = frozenset(k.kid for k in current)
    root = RootMetadata(
        version=1,
        expires=now + ROOT_LIFETIME,
        region_id=fed.region_id,
        region_name=fed.region_name,
        keys={k.kid: k for k in current},
        root_role=Role(keyids=kids, threshold=1),
        trust_list_role=Role(keyids=kids, threshold=1),
    )
    return SignedRoot.sign(root, [key])


MAX_STORED_ENTITY_ID = 256  # the entity id columns (SubordinateRow, FederationRow)


def storable(entity_id: str, what: str) -> str:
    """An entity id this gateway can store: checked before a database refuses it (a 500)."""
    if len(entity_id) > MAX_STORED_ENTITY_ID:
        raise Conflict(
            f"{what} must be at most {MAX_STORED_ENTITY_ID} characters, found {len(entity_id)}"
        )
    return entity_id


def init(
    gw: Gateway,
    *,
    role: str,
    region_id: str,
    region_name: str,
    superior_id: str | None = None,
    superior_jwks: Sequence[dict[str, Any]] = (),
    actor: str,
) -> FederationRow:
    """Take the anchor or city role (once; the same call again changes nothing)."""
    for name, value in (("region id", region_id), ("region name", region_name)):
        if not 1 <= len(value.strip()) <= MAX_REGION_TEXT:
            raise Conflict(f"{name} must be 1 to {MAX_REGION_TEXT} characters, found {value!r}")
    if superior_id is not None:
        storable(superior_id, "the superior's entity id")
    now = gw.clock()
    with gw.transaction() as session:
        entity_id = check_entity_id(gw.city(session).public_url)
        row = session.get(FederationRow, 1)
        if row is not None:
            if (row.role, row.entity_id, row.superior_id) != (role, entity_id, superior_id):
                raise Conflict(
                    f"this gateway is already the {row.role} {row.entity_id} "
                    f"(superior {row.superior_id}); found a request for {role} {entity_id}"
                )
            return row
        row = FederationRow(
            id=1,
            role=role,
            entity_id=entity_id,
            region_id=region_id,
            region_name=region_name,
            superior_id=superior_id,
            superior_jwks=list(superior_jwks),
            created_at=now,
        )
        session.add(row)
        ensure_keys(gw, session, now)
        session.flush()
        row.root = first_root(gw, session, row, now).to_bytes().decode()
        audit.record(
            session, at=now, actor=actor, action=f"federation.{role}", subject=entity_id,
            region=region_id, superior=superior_id,
        )  # fmt: skip
        return row


def subordinates(gw: Gateway) -> list[str]:
    """Entity ids this gateway vouches for (the list endpoint, §8.2)."""
    with gw.sessions() as session:
        fed = config(session)
        if fed.role == CITY:
            ids = session.scalars(select(AgencyRow.id).order_by(AgencyRow.created_at))
            counters = session.scalars(select(VerifierRow.id).order_by(VerifierRow.created_at))
            return [agency_entity_id(fed.entity_id, i) for i in ids] + [
                verifier_entity_id(fed.entity_id, i) for i in counters
            ]
        rows = session.scalars(
            select(SubordinateRow.entity_id)
            .where(SubordinateRow.status == "approved")
            .order_by(SubordinateRow.entity_id)
        )
        return list(rows)


def approve(
    gw: Gateway,
    *,
    entity_id: str,
    credential_types: Sequence[str],
    actor: str,
    kids: Sequence[str] | None = None,
) -> SubordinateRow:
    """Anchor side: vouch for a city that asked to join, granting it these types.

    A waiting request is never displaced by one signed by other keys
    (``gateway.join_requests``), and the keys to vouch for are checked here too: ``kids`` are
    the federation key ids the city's operator gave out of band, and the request must carry
    exactly those. Without ``kids`` the request's keys are trusted on first use (the CLI
    warns). An expired request is not approved."""
    known = {t.code for t in gw.types}
    unknown = sorted(set(credential_types) - known)
    if unknown or not credential_types:
        raise Conflict(f"grant some of {sorted(known)}; found {sorted(credential_types)}")
    now = gw.clock()
    with gw.transaction() as session:
        if config(session).role != ANCHOR:
            raise Conflict("only a region trust anchor approves cities")
        row = session.get(SubordinateRow, entity_id)
        if row is None or row.kind != "city":
            raise NotFound(f"no join request from {entity_id!r}")
        if row.status == "pending" and row.expires_at is not None and row.expires_at <= now:
            raise Conflict(
                f"the join request of {entity_id} expired at {iso(row.expires_at)}: ask the city "
                "to join again, then approve"
            )
        carried = sorted(str(j.get("kid")) for j in row.jwks)
        if kids is not None and carried != sorted(set(kids)):
            raise Conflict(
                f"the join request for {entity_id} carries federation keys "
                f"{', '.join(carried)}, not {', '.join(sorted(set(kids)))}: it may not be the "
                "city's own; ask the city to join again, then approve"
            )
        row.status, row.credential_types = "approved", sorted(set(credential_types))
        row.decided_at, row.decided_by, row.expires_at = now, actor, None
        audit.record(session, at=now, actor=actor, action="federation.approve",
                     subject=entity_id, types=row.credential_types)  # fmt: skip
        change = mark_changed(session)
    gw.live.changed(change)
    return row


def trust_region(
    gw: Gateway,
    *,
    anchor_id: str,
    jwks: Sequence[dict[str, Any]],
    name: str,
    policy: str,
    accepted_types: Sequence[str],
    actor: str,
) -> SubordinateRow:
    """Anchor side: a cross-region agreement, naming which of its types our verifiers accept."""
    now = gw.clock()
    keys = [PublicKey.from_jwk(j) for j in jwks]
    if not keys:
        raise Conflict(f"pin at least one federation key of {anchor_id}")
    known = {t.code for t in gw.types}
    if not accepted_types or set(accepted_types) - known:
        raise Conflict(f"accept some of {sorted(known)}; found {sorted(accepted_types)}")
    Acceptance(policy=policy, credential_types=frozenset(accepted_types))  # checks the name
    storable(anchor_id, "the other region's entity id")
    with gw.transaction() as session:
        fed = config(session)
        if fed.role != ANCHOR:
            raise Conflict("only a region trust anchor makes cross-region agreements")
        if check_entity_id(anchor_id) == fed.entity_id:
            raise Conflict("a region cannot make an agreement with itself")
        row = session.get(SubordinateRow, anchor_id)
        if row is not None and row.kind != "region":
            raise Conflict(f"{anchor_id} is one of this region's cities, not another region")
        if row is None:
            row = SubordinateRow(entity_id=anchor_id, kind="region", requested_at=now)
            session.add(row)
        row.name, row.policy, row.status = name[:128], policy, "approved"
        row.jwks = [dict(k.jwk) for k in keys]
        row.credential_types = sorted(set(accepted_types))
        row.decided_at, row.decided_by = now, actor
        audit.record(session, at=now, actor=actor, action="federation.region_agreement",
                     subject=anchor_id, policy=policy, accepted=row.credential_types)  # fmt: skip
        change = mark_changed(session)
    gw.live.changed(change)
    return row


def known_entities(gw: Gateway) -> set[str]:
    """Every entity this gateway knows as a member of its federation: itself and its agencies,
    its counters, its superior, its subordinates and regions, and every issuer and chain link
    of its trust data. The public resolve endpoint answers only for these: it never fetches a
    URL a stranger names (no server-side requests to arbitrary, possibly internal, hosts)."""
    known: set[str] = set()
    for issuer in gw.state.trust.issuers.values():
        known.add(issuer.id)
        known.update(link.id for link in issuer.chain)
    with gw.sessions() as session:
        fed = config(session)
        known.add(fed.entity_id)
        if fed.superior_id:
            known.add(fed.superior_id)
        known.update(session.scalars(select(SubordinateRow.entity_id)))
        known.update(
            agency_entity_id(fed.entity_id, agency_id)
            for agency_id in session.scalars(select(AgencyRow.id))
        )
        known.update(
            verifier_entity_id(fed.entity_id, verifier_id)
            for verifier_id in session.scalars(select(VerifierRow.id))
        )
    return known
