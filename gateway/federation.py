"""This gateway's part in the federation: its role, its federation keys and what it signs.

- A **region trust anchor** vouches for the cities that joined it (after an operator approved
  them, with the credential types granted) and, by explicit agreement, for other regions'
  anchors (cross-certification carrying which of their types this region accepts).
- A **city gateway** vouches for its agencies (leaf entities ``{city}/agencies/{id}``) and
  names its anchor in ``authority_hints``.

Every statement is signed with a federation key (kept apart from credential keys, stored
encrypted like them). Every change to who is trusted goes to the audit log with who and when.
This module signs and records; it fetches nothing (``gateway.peers`` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit
from gateway.core import Gateway
from gateway.errors import BadRequest, Conflict, NotFound
from gateway.models import (
    AgencyRow,
    CityRow,
    FederationKeyRow,
    FederationRow,
    SigningKeyRow,
    StatusListRow,
    SubordinateRow,
)
from trust.federation import (
    ECERT_ISSUER,
    ECERT_VERIFIER,
    FEDERATION_ENTITY,
    Acceptance,
    Constraints,
    NamingConstraints,
    UrlPrefixes,
    check_entity_id,
    sign_entity_statement,
    verify_entity_configuration,
)
from trust.keys import PublicKey, SigningKey, with_short_alias

SELF = "self"
ECERT_GATEWAY = "ecert_gateway"  # our metadata type: a gateway's role, region and endpoints
ANCHOR, CITY = "anchor", "city"
STATEMENT_LIFETIME = 86_400
MAX_PENDING = 100
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


def new_key(gw: Gateway, session: Session, owner: str, now: int | None = None) -> FederationKeyRow:
    now = gw.clock() if now is None else now
    key = SigningKey.generate()
    row = FederationKeyRow(
        kid=key.kid,
        owner=owner,
        public_jwk=dict(key.public.jwk),
        private_pem=key.to_encrypted_pem(gw.settings.passphrase),
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
    return [
        SigningKey.from_encrypted_pem(r.private_pem, gw.settings.passphrase)
        for r in _keys(session, owner)
    ]


def signing_key(gw: Gateway, session: Session, owner: str) -> tuple[SigningKey, list[PublicKey]]:
    """The owner's newest federation key (made on first use) and all its current keys."""
    rows = _keys(session, owner) or [new_key(gw, session, owner, gw.clock())]
    key = SigningKey.from_encrypted_pem(rows[0].private_pem, gw.settings.passphrase)
    return key, [PublicKey.from_jwk(r.public_jwk) for r in rows]


MAX_STORED_ENTITY_ID = 256  # the entity id columns (SubordinateRow, FederationRow)


def _storable(entity_id: str, what: str) -> str:
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
        _storable(superior_id, "the superior's entity id")
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
        new_key(gw, session, SELF, now)
        audit.record(
            session, at=now, actor=actor, action=f"federation.{role}", subject=entity_id,
            region=region_id, superior=superior_id,
        )  # fmt: skip
        return row


def _gateway_metadata(fed: FederationRow, city: CityRow) -> dict[str, dict[str, Any]]:
    eid = fed.entity_id
    return {
        FEDERATION_ENTITY: {
            "organization_name": fed.region_name if fed.role == ANCHOR else city.name,
            "federation_fetch_endpoint": f"{eid}/federation/fetch",
            "federation_list_endpoint": f"{eid}/federation/list",
            "federation_resolve_endpoint": f"{eid}/federation/resolve",
            "federation_historical_keys_endpoint": f"{eid}/federation/historical_keys",
        },
        ECERT_GATEWAY: {
            "role": fed.role,
            "region_id": fed.region_id,
            "region_name": fed.region_name,
            "city_code": city.code,
            "trust_list_endpoint": f"{eid}/trust/list",
        },
    }


def entity_configuration(gw: Gateway) -> str:
    """This gateway's self-signed Entity Configuration (§3)."""
    now = gw.clock()
    with gw.transaction() as session:
        fed = config(session)
        key, public = signing_key(gw, session, SELF)
        if fed.role == CITY:
            hints = [fed.superior_id] if fed.superior_id else []
        else:  # the anchors that cross-certify us (our agreements are bilateral)
            hints = list(
                session.scalars(
                    select(SubordinateRow.entity_id).where(
                        SubordinateRow.kind == "region", SubordinateRow.status == "approved"
                    )
                )
            )
        return sign_entity_statement(
            iss=fed.entity_id,
            sub=fed.entity_id,
            iat=now,
            exp=now + STATEMENT_LIFETIME,
            jwks=public,
            key=key,
            metadata=_gateway_metadata(fed, gw.city(session)),
            authority_hints=hints,
        )


def _agency(session: Session, agency_id: str) -> AgencyRow:
    agency = session.get(AgencyRow, agency_id)
    if agency is None:
        raise NotFound(f"no agency {agency_id!r} at this gateway")
    return agency


def issuer_metadata(session: Session, agency: AgencyRow) -> dict[str, Any]:
    """``ecert_issuer`` metadata: what verifiers elsewhere need to trust this agency. Its
    ``jwks`` lists each credential key under its full and its short ``kid`` (as the JWKS does)."""
    keys = []
    for k in session.scalars(select(SigningKeyRow).where(SigningKeyRow.agency_id == agency.id)):
        jwk: dict[str, Any] = {**k.public_jwk, "iat": k.created_at}
        if k.retired_at is not None:
            jwk["retired_at"] = k.retired_at
        if k.compromised_at is not None:
            jwk["compromised_at"] = k.compromised_at
        keys.extend(with_short_alias(jwk))
    lists = session.scalars(select(StatusListRow.uri).where(StatusListRow.agency_id == agency.id))
    return {
        "organization_name": agency.name,
        "uscc": agency.uscc,
        "region_code": agency.region_code,
        "credential_types": sorted(agency.types),
        "jwks": {"keys": keys},
        "status_lists": sorted(lists),
    }


def agency_configuration(gw: Gateway, agency_id: str) -> str:
    """An agency's leaf Entity Configuration, served by its city at the agency's entity id."""
    now = gw.clock()
    with gw.transaction() as session:
        fed = config(session)
        agency = _agency(session, agency_id)
        key, public = signing_key(gw, session, agency.id)
        eid = agency_entity_id(fed.entity_id, agency.id)
        return sign_entity_statement(
            iss=eid,
            sub=eid,
            iat=now,
            exp=now + STATEMENT_LIFETIME,
            jwks=public,
            key=key,
            metadata={ECERT_ISSUER: issuer_metadata(session, agency)},
            authority_hints=[fed.entity_id],
        )


def _types_policy(types: Sequence[str]) -> dict[str, Any]:
    return {ECERT_ISSUER: {"credential_types": {"subset_of": sorted(types)}}}


def subordinate_statement(gw: Gateway, sub: str) -> str:
    """What this gateway says about ``sub`` (§8.1): keys, granted types, constraints."""
    now = gw.clock()
    with gw.transaction() as session:
        fed = config(session)
        key, _ = signing_key(gw, session, SELF)

        def signed(**claims: Any) -> str:
            return sign_entity_statement(
                iss=fed.entity_id, sub=sub, iat=now, exp=now + STATEMENT_LIFETIME, key=key, **claims
            )

        if sub == fed.entity_id:  # §8.1.1: invalid_request is RECOMMENDED
            raise BadRequest(f"{sub} is this gateway itself: fetch its entity configuration")
        prefix = f"{fed.entity_id}/agencies/"
        if fed.role == CITY and sub.startswith(prefix):
            agency = _agency(session, sub.removeprefix(prefix))
            _, agency_keys = signing_key(gw, session, agency.id)
            return signed(jwks=agency_keys, metadata_policy=_types_policy(agency.types))
        row = session.get(SubordinateRow, sub)
        if row is None or row.status != "approved":
            raise NotFound(f"{fed.entity_id} vouches for no entity {sub!r}")
        jwks = [PublicKey.from_jwk(j) for j in row.jwks]
        if row.kind == "region":
            return signed(
                jwks=jwks,
                constraints=Constraints(max_path_length=REGION_PATH_LENGTH),
                acceptance=Acceptance(
                    policy=row.policy, credential_types=frozenset(row.credential_types)
                ),
            )
        return signed(
            jwks=jwks,
            metadata_policy=_types_policy(row.credential_types),
            constraints=Constraints(
                max_path_length=CITY_PATH_LENGTH,
                naming_constraints=NamingConstraints.host_of(sub),  # §6.2.2: its host
                url_prefixes=UrlPrefixes(permitted=(sub,)),  # ours: below its own URL
                allowed_entity_types=frozenset({ECERT_ISSUER, ECERT_VERIFIER, ECERT_GATEWAY}),
            ),
        )


def subordinates(gw: Gateway) -> list[str]:
    """Entity ids this gateway vouches for (the list endpoint, §8.2)."""
    with gw.sessions() as session:
        fed = config(session)
        if fed.role == CITY:
            ids = session.scalars(select(AgencyRow.id).order_by(AgencyRow.created_at))
            return [agency_entity_id(fed.entity_id, i) for i in ids]
        rows = session.scalars(
            select(SubordinateRow.entity_id)
            .where(SubordinateRow.status == "approved")
            .order_by(SubordinateRow.entity_id)
        )
        return list(rows)


def request_join(gw: Gateway, configuration: str) -> SubordinateRow:
    """Anchor side: a city asks to join, presenting its self-signed Entity Configuration."""
    now = gw.clock()
    statement = verify_entity_configuration(configuration, now=now)
    _storable(statement.sub, "a joining city's entity id")
    with gw.transaction() as session:
        if config(session).role != ANCHOR:
            raise Conflict("only a region trust anchor takes join requests")
        pending = session.scalars(select(SubordinateRow).where(SubordinateRow.status == "pending"))
        if len(list(pending)) >= MAX_PENDING:
            raise Conflict(f"{MAX_PENDING} join requests are already waiting for an operator")
        name = str(statement.metadata.get(FEDERATION_ENTITY, {}).get("organization_name", ""))
        row = session.get(SubordinateRow, statement.sub)
        if row is None:
            row = SubordinateRow(
                entity_id=statement.sub, kind="city", name=name[:128], credential_types=[],
                status="pending", requested_at=now, decided_at=None, decided_by=None,
                jwks=[dict(k.jwk) for k in statement.jwks],
            )  # fmt: skip
            session.add(row)
        elif row.status != "approved":
            row.jwks = [dict(k.jwk) for k in statement.jwks]
            row.status, row.requested_at = "pending", now
        audit.record(session, at=now, actor=statement.sub, action="federation.join_request",
                     subject=statement.sub)  # fmt: skip
        return row


def approve(
    gw: Gateway,
    *,
    entity_id: str,
    credential_types: Sequence[str],
    actor: str,
    kids: Sequence[str] | None = None,
) -> SubordinateRow:
    """Anchor side: vouch for a city that asked to join, granting it these types.

    Anyone can post a join request in a city's name (the latest one stands), so the keys to
    vouch for are checked here: ``kids`` are the federation key ids the city's operator gave
    out of band, and the request must carry exactly those. Without ``kids`` the request's keys
    are trusted on first use (the CLI warns)."""
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
        carried = sorted(str(j.get("kid")) for j in row.jwks)
        if kids is not None and carried != sorted(set(kids)):
            raise Conflict(
                f"the join request for {entity_id} carries federation keys "
                f"{', '.join(carried)}, not {', '.join(sorted(set(kids)))}: it may not be the "
                "city's own; ask the city to join again, then approve"
            )
        row.status, row.credential_types = "approved", sorted(set(credential_types))
        row.decided_at, row.decided_by = now, actor
        audit.record(session, at=now, actor=actor, action="federation.approve",
                     subject=entity_id, types=row.credential_types)  # fmt: skip
        gw.bump(session)
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
    _storable(anchor_id, "the other region's entity id")
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
        gw.bump(session)
        return row


def known_entities(gw: Gateway) -> set[str]:
    """Every entity this gateway knows as a member of its federation: itself and its agencies,
    its superior, its subordinates and regions, and every issuer and chain link of its trust
    data. The public resolve endpoint answers only for these: it never fetches a URL a stranger
    names (no server-side requests to arbitrary, possibly internal, hosts)."""
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
    return known
