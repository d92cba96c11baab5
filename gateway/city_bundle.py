"""A trust bundle for offline kiosks from a city that is in no federation (issue 12).

A city alone has no region anchor, no federation sync and so no trust list: ``ecert trust
export`` used to say "run `ecert federation sync`", which then said the city is in no
federation. Here the city vouches for its own agencies, as it does when it answers ``/v``
itself: it is the region of its kiosks' bundle (region id = its GB/T 2260 code, name = its
name), and signs with its own federation key (made on the first export, kept in the database
like every federation key; the city keeps it if it later joins a region).

- Roots are derived, not stored: version ``n`` (from 1) lists this key alone and expires
  ``ROOT_LIFETIME`` after ``t0 + (n - 1) × period``, where ``t0`` is when the key was made and
  ``period`` is ``ROOT_LIFETIME - ROOT_RENEW_BEFORE``. The same inputs make the same signed
  content, so a kiosk that pinned version ``k`` walks to the newest one through the history
  each bundle carries (TUF §5.3), and no version ever expires within 30 days of an export.
- The trust list is signed fresh at each export from this gateway's own records (each
  agency's credential keys, their retirement and compromise, its status lists and types), and
  its version is the export's time in Unix seconds, so a later export is never a rollback.

Deliberately not here: a federated gateway's bundle (:func:`gateway.trustexport.export_bundle`
exports the list its federation sync signed), storing anything but the key, and what a kiosk
does with the file (``cli/kiosk.py``). When the city joins a region, its kiosks are given the
region's root anew: the region's root names another region.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import federation, statements
from gateway.core import Gateway
from gateway.federation import ROOT_LIFETIME, SELF
from gateway.models import AgencyRow, FederationKeyRow, StatusListRow
from gateway.publish import publisher_for
from gateway.trustsync import described_types
from trust.keys import PublicKey, SigningKey, is_short_alias
from trust.snapshot import ChainLink
from trust.trustlist.bundle import TrustBundle
from trust.trustlist.compiler import key_entry
from trust.trustlist.document import TrustList, sign_trust_list
from trust.trustlist.entry import TrustListEntry
from trust.trustlist.root import MAX_ROOT_STEPS, Role, RootMetadata, SignedRoot

ROOT_RENEW_BEFORE = 30 * 86_400  # as a federated gateway renews its root (gateway.trustexport)
ROOT_PERIOD = ROOT_LIFETIME - ROOT_RENEW_BEFORE


def own_key(gw: Gateway) -> tuple[SigningKey, int]:
    """The city's federation key and when it was made; made now if it has none (a write)."""
    with gw.transaction() as session:
        row = session.scalar(
            select(FederationKeyRow)
            .where(FederationKeyRow.owner == SELF, FederationKeyRow.retired_at.is_(None))
            .order_by(FederationKeyRow.created_at.desc())
            .limit(1)
        )
        if row is None:
            row = federation.new_key(gw, session, SELF)
        return gw.keyring.signing_key(row), row.created_at


def roots(
    key: SigningKey, *, since: int, now: int, region_id: str, region_name: str
) -> list[SignedRoot]:
    """The root versions a kiosk may need to walk through, oldest first, the newest last
    (at most :data:`MAX_ROOT_STEPS`); see the module docstring."""
    public: PublicKey = key.public
    kids = frozenset({public.kid})
    newest = 1 + max(0, now - since) // ROOT_PERIOD
    return [
        SignedRoot.sign(
            RootMetadata(
                version=version,
                expires=since + (version - 1) * ROOT_PERIOD + ROOT_LIFETIME,
                region_id=region_id,
                region_name=region_name,
                keys={public.kid: public},
                root_role=Role(keyids=kids, threshold=1),
                trust_list_role=Role(keyids=kids, threshold=1),
            ),
            [key],
        )
        for version in range(max(1, newest - MAX_ROOT_STEPS + 1), newest + 1)
    ]


def _entries(session: Session, city_name: str, city_url: str, exp: int) -> list[TrustListEntry]:
    """One entry per credential key of each of this city's agencies: agency → city."""
    entries: list[TrustListEntry] = []
    for agency in session.scalars(select(AgencyRow).order_by(AgencyRow.id)):
        meta = statements.issuer_metadata(session, agency)
        issuer = federation.agency_entity_id(city_url, agency.id)
        chain = (
            ChainLink(name=agency.name, role="agency", id=issuer),
            ChainLink(name=city_name, role="city", id=city_url),
        )
        entries.extend(
            key_entry(
                issuer,
                meta,
                chain,
                jwk,
                types=frozenset(agency.types),
                accepted=None,
                policy="",
                chain_exp=exp,
            )
            for jwk in meta["jwks"]["keys"]
            if not is_short_alias(jwk)
        )
    return entries


def export_bundle(gw: Gateway) -> bytes:
    """Root (with its history), a freshly signed trust list of this city's agencies and
    every status list they publish, as one file (:class:`TrustBundle`)."""
    key, since = own_key(gw)
    now = gw.clock()
    exp = now + gw.settings.trust_list_lifetime
    with gw.sessions() as session:
        city = gw.city(session)
        name, code, url = city.name, city.code, city.public_url
        entries = _entries(session, name, url, exp)
        list_ids = [(r.id, r.uri) for r in session.scalars(select(StatusListRow))]
    walk = roots(key, since=since, now=now, region_id=code, region_name=name)
    draft = TrustList.build(
        version=now, iat=now, exp=exp,
        next_update=min(now + int(gw.settings.federation_refresh), exp),
        issuer=url, region=code, entries=entries, types=described_types(gw, entries),
    )  # fmt: skip
    publisher = publisher_for(gw)
    lists = {uri: publisher.token(list_id).token for list_id, uri in list_ids}
    return TrustBundle(
        root=walk[-1],
        root_history=tuple(walk[:-1]),
        trust_list=sign_trust_list(draft, key),
        status_lists=lists,
    ).to_bytes()
