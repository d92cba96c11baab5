"""The gateway's in-memory verification state, built from the database and swapped whole.

``LiveState`` is immutable. Writers commit, bump ``city.state_version`` in the same
transaction, then rebuild; other processes sharing the database notice the version change on
their next poll. The verify hot path reads ``Gateway.state`` (one attribute load) and never
queries the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.models import AgencyRow, CityRow, CredentialRow, SigningKeyRow, StatusListRow
from issuers.credential_types import CredentialType, TypeRegistry
from trust import statuslist
from trust.keys import PublicKey
from trust.snapshot import ChainLink, FieldLabel, IssuerRecord, KeyRecord, TrustSnapshot, TypeInfo
from trust.statuslist import StatusSource

BUMPED = "ecert.state_bumped"


def mark_changed(session: Session) -> None:
    """Record a change verifiers must see: other processes notice the shared version, this
    one rebuilds once the transaction commits (see ``Gateway.transaction``)."""
    session.execute(update(CityRow).values(state_version=CityRow.state_version + 1))
    session.info[BUMPED] = True


@dataclass(frozen=True)
class LiveState:
    trust: TrustSnapshot
    statuses: dict[str, StatusSource]
    version: int
    built_at: int
    public_url: str


def type_info(ctype: CredentialType) -> TypeInfo:
    return TypeInfo(
        code=ctype.code,
        qr_code=ctype.qr_code,
        type_code=ctype.type_code,
        name_zh=ctype.name_zh,
        name_en=ctype.name_en,
        labels=tuple(FieldLabel(f.name, f.label_zh, f.label_en) for f in ctype.fields),
    )


def _confirmed_hashes(session: Session, row: SigningKeyRow) -> frozenset[bytes]:
    """Tokens our own issuance record shows as signed by ``row`` before its compromise."""
    if row.compromised_at is None:
        return frozenset()
    hashes = session.scalars(
        select(CredentialRow.token_hash).where(
            CredentialRow.kid == row.kid, CredentialRow.issued_at < row.compromised_at
        )
    )
    return frozenset(bytes.fromhex(h) for h in hashes)


def build_state(
    session: Session,
    *,
    types: TypeRegistry,
    now: int,
    status_ttl: int,
    status_validity: int,
) -> LiveState:
    city = session.get(CityRow, 1)
    if city is None:
        raise LookupError("the gateway is not initialised: run `ecert init` first")
    city_link = ChainLink(name=city.name, role="city", id=city.code)
    issuers = [
        IssuerRecord(
            id=a.id,
            name=a.name,
            uscc=a.uscc,
            region_code=a.region_code,
            types=frozenset(a.types),
            chain=(ChainLink(name=a.name, role="agency", id=a.id), city_link),
        )
        for a in session.scalars(select(AgencyRow))
    ]
    keys = [
        KeyRecord(
            key=PublicKey.from_jwk(k.public_jwk),
            issuer_id=k.agency_id,
            not_before=k.created_at,
            retired_at=k.retired_at,
            compromised_at=k.compromised_at,
            confirmed_hashes=_confirmed_hashes(session, k),
        )
        for k in session.scalars(select(SigningKeyRow))
    ]
    statuses = {
        row.uri: StatusSource(
            issuer_id=row.agency_id,
            snapshot=statuslist.StatusListSnapshot(
                uri=row.uri,
                iat=now,
                exp=now + status_validity,
                ttl=status_ttl,
                status_list=statuslist.StatusList(bits=row.bits, size=row.size, data=row.data),
            ),
        )
        for row in session.scalars(select(StatusListRow))
    }
    trust = TrustSnapshot.build(
        issuers=issuers,
        keys=keys,
        types=[type_info(t) for t in types],
        as_of=now,
    )
    return LiveState(
        trust=trust,
        statuses=statuses,
        version=city.state_version,
        built_at=now,
        public_url=city.public_url,
    )
