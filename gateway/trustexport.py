"""The offline side of trust: this gateway's signed root, and trust bundles for kiosks.

A kiosk that never goes online loads one file: the root (which keys may sign trust lists,
TUF-style), the latest signed trust list, and every status list it references. It pins the
root on first load (or an operator gives it one); later bundles must chain from it, versions
never go back, and an expired list answers TRUST_LIST_STALE.
"""

from __future__ import annotations

from sqlalchemy import select

from gateway import federation, trustsync
from gateway.core import Gateway
from gateway.errors import NotFound
from gateway.models import FederationRow, PeerDocumentRow, StatusListRow
from gateway.publish import StatusListPublisher
from trust.trustlist_bundle import TrustBundle
from trust.trustlist_root import Role, RootMetadata, SignedRoot

ROOT_LIFETIME = 365 * 86_400


def signed_root(gw: Gateway) -> SignedRoot:
    """This gateway's root metadata, version 1 made and signed on first use."""
    with gw.transaction() as session:
        fed = federation.config(session)
        row = session.get(FederationRow, 1)
        assert row is not None  # config() found it
        if row.root is not None:
            return SignedRoot.from_bytes(row.root.encode())
        key, current = federation.signing_key(gw, session, federation.SELF)
        kids = frozenset(k.kid for k in current)
        root = RootMetadata(
            version=1,
            expires=gw.clock() + ROOT_LIFETIME,
            region_id=fed.region_id,
            region_name=fed.region_name,
            keys={k.kid: k for k in current},
            root_role=Role(keyids=kids, threshold=1),
            trust_list_role=Role(keyids=kids, threshold=1),
        )
        signed = SignedRoot.sign(root, [key])
        row.root = signed.to_bytes().decode()
        return signed


def export_bundle(gw: Gateway) -> bytes:
    """Root, latest trust list and all status lists it names, as one file."""
    latest = trustsync.latest(gw)
    if latest is None:
        raise NotFound("no trust list yet: run `ecert federation sync` (or serve) first")
    root = signed_root(gw)
    publisher = StatusListPublisher(gw)
    lists: dict[str, str] = {}
    with gw.sessions() as session:
        for row in session.scalars(select(StatusListRow)):
            lists[row.uri] = publisher.token(row.id).token
        for doc in session.scalars(
            select(PeerDocumentRow).where(PeerDocumentRow.body.is_not(None))
        ):
            if doc.body is not None and doc.url not in lists:
                lists[doc.url] = doc.body
    bundle = TrustBundle(root=root, root_history=(), trust_list=latest.token, status_lists=lists)
    return bundle.to_bytes()
