"""The offline side of trust: this gateway's signed root, and trust bundles for kiosks.

A kiosk that never goes online loads one file: the root (which keys may sign trust lists,
TUF-style), the latest signed trust list, and every status list it references. It pins the
root on first load (or an operator gives it one); later bundles must chain from it, versions
never go back, and an expired list answers TRUST_LIST_STALE.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit, city_bundle, federation, trustsync
from gateway.core import Gateway
from gateway.errors import NotFound
from gateway.federation import ROOT_LIFETIME
from gateway.models import (
    AgencyRow,
    FederationKeyRow,
    FederationRow,
    PeerDocumentRow,
    StatusListRow,
)
from gateway.publish import publisher_for
from gateway.state import StateChange, mark_changed
from trust.trustlist.bundle import TrustBundle
from trust.trustlist.root import Role, RootMetadata, SignedRoot

ROOT_RENEW_BEFORE = 30 * 86_400


def signed_root(gw: Gateway) -> SignedRoot:
    """This gateway's root metadata as held (a read: made at ``federation.init``, renewed by
    :func:`prepare`)."""
    with gw.sessions() as session:
        fed = federation.config(session)
        if fed.root is None:
            raise NotFound(
                "no root metadata yet: it is made when the federation role is taken "
                "(or at the next start of `ecert serve`)"
            )
        return SignedRoot.from_bytes(fed.root.encode())


def prepare(gw: Gateway) -> None:
    """The writes reads must never make, made ahead: federation keys not made yet (databases
    from before keys were made up front), root version 1 if none, and root n+1 with the same
    keys once the held one is within :data:`ROOT_RENEW_BEFORE` of its expiry (an expired root
    stops every kiosk and every follower, TUF §5.3.10). Called when a gateway starts and on
    every sync tick; a no-op, in a read, when nothing is due."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = session.get(FederationRow, 1)
        if fed is None:
            return
        due = fed.root is None or (
            SignedRoot.from_bytes(fed.root.encode()).root.expires - now <= ROOT_RENEW_BEFORE
        )
        owners = set(session.scalars(select(AgencyRow.id)))
        keyed = set(
            session.scalars(
                select(FederationKeyRow.owner).where(FederationKeyRow.retired_at.is_(None))
            )
        )
        if not due and {federation.SELF, *owners} <= keyed:
            return
    with gw.transaction() as session:
        federation.ensure_keys(gw, session, now)
        row = session.get(FederationRow, 1, with_for_update=True)  # one renewal, not two
        assert row is not None
        if row.root is None:
            row.root = federation.first_root(gw, session, row, now).to_bytes().decode()
            return
        held = SignedRoot.from_bytes(row.root.encode())
        if held.root.expires - now > ROOT_RENEW_BEFORE:
            return
        _, change = _renew(gw, session, row, held)
    gw.live.changed(change)


def _renew(
    gw: Gateway, session: Session, row: FederationRow, held: SignedRoot
) -> tuple[SignedRoot, StateChange]:
    """Root n+1 with the same keys and roles and a new expiry, signed by the current key; the
    change to apply once the caller's transaction committed."""
    now = gw.clock()
    key, _ = federation.signing_key(gw, session, federation.SELF)
    renewed = SignedRoot.sign(replace(held.root, version=held.root.version + 1,
                                      expires=now + ROOT_LIFETIME), [key])  # fmt: skip
    row.root_history = [*(row.root_history or []), held.to_bytes().decode()]
    row.root = renewed.to_bytes().decode()
    audit.record(session, at=now, actor="gateway", action="federation.renew_root",
                 subject=row.entity_id, root_version=renewed.root.version)  # fmt: skip
    return renewed, mark_changed(session)


def root_history(gw: Gateway) -> list[str]:
    """Older signed roots, oldest first, so a verifier can walk to the current one."""
    with gw.sessions() as session:
        row = session.get(FederationRow, 1)
        return list(row.root_history or []) if row is not None else []


def rotate(gw: Gateway, *, actor: str) -> SignedRoot:
    """A new federation key signs from now on (TUF §6.1): root version n+1 lists only it and
    is signed by the old keys AND the new one; the old root joins the history; old keys are
    retired (they stay in historical keys)."""
    current = signed_root(gw)
    now = gw.clock()
    with gw.transaction() as session:
        old_keys = federation.current_keys(gw, session, federation.SELF)
        fresh = federation.new_key(gw, session, federation.SELF)
        for row in session.scalars(
            select(FederationKeyRow).where(
                FederationKeyRow.owner == federation.SELF, FederationKeyRow.kid != fresh.kid
            )
        ):
            row.retired_at = row.retired_at or now
        new_key = gw.keyring.unseal(fresh.private_pem)
        kids = frozenset({new_key.kid})
        root = RootMetadata(
            version=current.root.version + 1,
            expires=now + ROOT_LIFETIME,
            region_id=current.root.region_id,
            region_name=current.root.region_name,
            keys={new_key.kid: new_key.public},
            root_role=Role(keyids=kids, threshold=1),
            trust_list_role=Role(keyids=kids, threshold=1),
        )
        signed = SignedRoot.sign(root, [*old_keys, new_key])
        fed = session.get(FederationRow, 1)
        assert fed is not None
        fed.root_history = [*(fed.root_history or []), current.to_bytes().decode()]
        fed.root = signed.to_bytes().decode()
        audit.record(session, at=now, actor=actor, action="federation.rotate_key",
                     subject=fed.entity_id, kid=new_key.kid, root_version=root.version)  # fmt: skip
        change = mark_changed(session)
    gw.live.changed(change)
    return signed


def export_bundle(gw: Gateway) -> bytes:
    """Root, latest trust list and all status lists it names, as one file. A city in no
    federation exports its own agencies' (:mod:`gateway.city_bundle`; it makes the city's
    federation key on the first export)."""
    if not trustsync.federated(gw):
        return city_bundle.export_bundle(gw)
    latest = trustsync.latest(gw)
    if latest is None:
        raise NotFound("no trust list yet: run `ecert federation sync` (or serve) first")
    root = signed_root(gw)
    publisher = publisher_for(gw)
    lists: dict[str, str] = {}
    with gw.sessions() as session:
        for row in session.scalars(select(StatusListRow)):
            lists[row.uri] = publisher.token(row.id).token
        for doc in session.scalars(
            select(PeerDocumentRow).where(PeerDocumentRow.body.is_not(None))
        ):
            if doc.body is not None and doc.url not in lists:
                lists[doc.url] = doc.body
    history = tuple(SignedRoot.from_bytes(r.encode()) for r in root_history(gw))
    bundle = TrustBundle(
        root=root, root_history=history, trust_list=latest.token, status_lists=lists
    )
    return bundle.to_bytes()
