"""What this gateway signs for the federation: its Entity Configuration, its agencies' leaf
configurations and its Subordinate Statements (OpenID Federation 1.0 §3, §8.1).

A read never writes: each is built in a read-only session and signed with a federation key
decrypted once. The signed statement is cached (:class:`StatementCache`) and signed again
only when what it says changed, or half its lifetime has passed, so a GET costs a few queries
and no signature. Deliberately not here: who is a member (``gateway.federation``) and fetching
(``gateway.peers``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import trustmarks, verifiers
from gateway.core import Gateway
from gateway.errors import BadRequest, InvalidSubject, InvalidTrustAnchor, NotFound
from gateway.federation import (
    ANCHOR,
    CITY,
    CITY_PATH_LENGTH,
    ECERT_GATEWAY,
    REGION_PATH_LENGTH,
    SELF,
    agency_entity_id,
    config,
    known_entities,
    own_signing_key,
    signing_key,
    verifier_entity_id,
)
from gateway.models import (
    AgencyRow,
    CityRow,
    FederationKeyRow,
    FederationRow,
    SigningKeyRow,
    StatusListRow,
    SubordinateRow,
)
from gateway.trustsync import trust_anchors
from trust.federation import (
    ECERT_ISSUER,
    ECERT_VERIFIER,
    FEDERATION_ENTITY,
    OPENID_RELYING_PARTY,
    Acceptance,
    Constraints,
    Fetcher,
    HistoricalKey,
    NamingConstraints,
    UrlPrefixes,
    check_entity_id,
    resolve_chain,
    sign_entity_statement,
    sign_historical_keys,
    sign_resolve_response,
)
from trust.keys import PublicKey, SigningKey, with_short_alias

STATEMENT_LIFETIME = 86_400
MAX_CACHED = 10_000  # statements; one per agency and subordinate in practice


@dataclass(frozen=True)
class _Signed:
    claims: dict[str, Any]  # everything but iat, exp and the signature
    signer: str  # kid
    iat: int
    token: str


class StatementCache:
    """Signed statements by subject, reused while their content and signer are unchanged and
    they are younger than half their lifetime (a verifier then still has half a day)."""

    def __init__(self, lifetime: int = STATEMENT_LIFETIME) -> None:
        self.lifetime = lifetime
        self._held: dict[tuple[str, str], _Signed] = {}
        self._lock = threading.Lock()

    def sign(
        self,
        kind: str,
        sub: str,
        *,
        now: int,
        key: SigningKey,
        claims: dict[str, Any],
        make: Callable[[int, int], str],
    ) -> str:
        """The cached token for ``(kind, sub)`` if it says ``claims`` and was signed by ``key``
        less than half a lifetime ago; else ``make(iat, exp)``, cached."""
        held = self._held.get((kind, sub))
        if (
            held is not None
            and held.signer == key.kid
            and held.claims == claims
            and 0 <= now - held.iat < self.lifetime // 2
        ):
            return held.token
        token = make(now, now + self.lifetime)
        with self._lock:
            if len(self._held) >= MAX_CACHED:
                self._held.clear()
            self._held[(kind, sub)] = _Signed(claims=claims, signer=key.kid, iat=now, token=token)
        return token


def _signed(
    cache: StatementCache | None,
    kind: str,
    *,
    iss: str,
    sub: str,
    now: int,
    key: SigningKey,
    **claims: Any,
) -> str:
    def make(iat: int, exp: int) -> str:
        return sign_entity_statement(iss=iss, sub=sub, iat=iat, exp=exp, key=key, **claims)

    if cache is None:
        return make(now, now + STATEMENT_LIFETIME)
    return cache.sign(kind, sub, now=now, key=key, claims={"iss": iss, **claims}, make=make)


def _gateway_metadata(fed: FederationRow, city: CityRow) -> dict[str, dict[str, Any]]:
    eid = fed.entity_id
    marks = {  # §5.1.1: a trust mark issuer's endpoints (§8.4-§8.6); the anchor issues roles
        "federation_trust_mark_status_endpoint": f"{eid}/federation/trust_mark_status",
        "federation_trust_mark_list_endpoint": f"{eid}/federation/trust_mark_list",
        "federation_trust_mark_endpoint": f"{eid}/federation/trust_mark",
    }
    return {
        FEDERATION_ENTITY: {
            "organization_name": fed.region_name if fed.role == ANCHOR else city.name,
            "federation_fetch_endpoint": f"{eid}/federation/fetch",
            "federation_list_endpoint": f"{eid}/federation/list",
            "federation_resolve_endpoint": f"{eid}/federation/resolve",
            "federation_historical_keys_endpoint": f"{eid}/federation/historical_keys",
            **(marks if fed.role == ANCHOR else {}),
        },
        ECERT_GATEWAY: {
            "role": fed.role,
            "region_id": fed.region_id,
            "region_name": fed.region_name,
            "city_code": city.code,
            "trust_list_endpoint": f"{eid}/trust/list",
        },
    }


def entity_configuration(gw: Gateway, cache: StatementCache | None = None) -> str:
    """This gateway's self-signed Entity Configuration (§3)."""
    now = gw.clock()
    with gw.sessions() as session:
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
        issuers = trustmarks.trust_mark_issuers(gw, fed.entity_id) if fed.role == ANCHOR else None
        return _signed(
            cache, "configuration", iss=fed.entity_id, sub=fed.entity_id, now=now, key=key,
            jwks=public, metadata=_gateway_metadata(fed, gw.city(session)),
            authority_hints=hints, trust_mark_issuers=issuers,
        )  # fmt: skip


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


def agency_configuration(gw: Gateway, agency_id: str, cache: StatementCache | None = None) -> str:
    """An agency's leaf Entity Configuration, served by its city at the agency's entity id."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = config(session)
        agency = _agency(session, agency_id)
        key, public = signing_key(gw, session, agency.id)
        eid = agency_entity_id(fed.entity_id, agency.id)
        return _signed(
            cache, "configuration", iss=eid, sub=eid, now=now, key=key, jwks=public,
            metadata={ECERT_ISSUER: issuer_metadata(session, agency)},
            authority_hints=[fed.entity_id],
        )  # fmt: skip


def verifier_configuration(
    gw: Gateway, verifier_id: str, cache: StatementCache | None = None
) -> str:
    """A counter's leaf Entity Configuration, served by its city at the counter's entity id."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = config(session)
        row = verifiers.get_verifier(session, verifier_id)
        key, public = signing_key(gw, session, row.id)
        eid = verifier_entity_id(fed.entity_id, row.id)
        meta = verifiers.metadata(gw, fed=fed, city=gw.city(session), row=row, keys=public)
        return _signed(
            cache, "configuration", iss=eid, sub=eid, now=now, key=key, jwks=public,
            metadata=meta, authority_hints=[fed.entity_id],
            trust_marks=trustmarks.held_marks(session, row.id, now),
        )  # fmt: skip


def _types_policy(types: Sequence[str]) -> dict[str, Any]:
    return {ECERT_ISSUER: {"credential_types": {"subset_of": sorted(types)}}}


def subordinate_statement(gw: Gateway, sub: str, cache: StatementCache | None = None) -> str:
    """What this gateway says about ``sub`` (§8.1): keys, granted types, constraints."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = config(session)
        if sub == fed.entity_id:  # §8.1.1: invalid_request is RECOMMENDED
            raise BadRequest(f"{sub} is this gateway itself: fetch its entity configuration")
        key, _ = signing_key(gw, session, SELF)

        def signed(**claims: Any) -> str:
            return _signed(
                cache, "subordinate", iss=fed.entity_id, sub=sub, now=now, key=key, **claims
            )

        prefix = f"{fed.entity_id}/agencies/"
        if fed.role == CITY and sub.startswith(prefix):
            agency = _agency(session, sub.removeprefix(prefix))
            _, agency_keys = signing_key(gw, session, agency.id)
            return signed(jwks=agency_keys, metadata_policy=_types_policy(agency.types))
        counters = f"{fed.entity_id}/verifiers/"
        if fed.role == CITY and sub.startswith(counters):
            counter = verifiers.get_verifier(session, sub.removeprefix(counters))
            _, counter_keys = signing_key(gw, session, counter.id)
            return signed(jwks=counter_keys, metadata_policy=verifiers.role_policy(counter.role))
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
                allowed_entity_types=frozenset(
                    {ECERT_ISSUER, ECERT_VERIFIER, ECERT_GATEWAY, OPENID_RELYING_PARTY}
                ),
            ),
        )


HISTORY_KEEP = 86_400 * 365  # how long a current key is listed as valid when none retired


def historical_keys(gw: Gateway) -> str:
    """This gateway's retired federation keys (§8.7), or its current one while none retired."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = config(session)
        key, current = signing_key(gw, session, SELF)
        rows = session.scalars(
            select(FederationKeyRow).where(
                FederationKeyRow.owner == SELF, FederationKeyRow.retired_at.is_not(None)
            )
        )
        past = [
            HistoricalKey(key=PublicKey.from_jwk(r.public_jwk), iat=r.created_at,
                          exp=int(r.retired_at or now))
            for r in rows
        ]  # fmt: skip
        listed = past or [HistoricalKey(key=current[0], iat=now, exp=now + HISTORY_KEEP)]
        return sign_historical_keys(iss=fed.entity_id, iat=now, keys=listed, key=key)


def resolve_response(gw: Gateway, fetcher: Fetcher, *, sub: str, trust_anchor: str) -> str:
    """``/federation/resolve``: ``sub``'s chain to ``trust_anchor`` (one this gateway trusts),
    resolved now and signed by this gateway. ``sub`` must be a member of the federation known
    here: the resolver fetches nothing on behalf of strangers."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = config(session)
    anchors = trust_anchors(gw)
    if check_entity_id(trust_anchor) not in anchors:
        raise InvalidTrustAnchor(f"this resolver trusts {sorted(anchors)}, not {trust_anchor!r}")
    if check_entity_id(sub) not in known_entities(gw):
        raise InvalidSubject(f"{sub} is not a member of the federation known to this gateway")
    resolved = resolve_chain(
        check_entity_id(sub),
        fetcher=fetcher,
        trust_anchors={trust_anchor: anchors[trust_anchor]},
        now=now,
    )
    key = own_signing_key(gw)
    return sign_resolve_response(iss=fed.entity_id, resolved=resolved, iat=now, key=key)
