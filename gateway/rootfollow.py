"""Following other parties' federation key rotations (TUF §5.3), as part of every sync.

A gateway pins the federation keys of the gateways it vouches for or trusts: a city its own
region's anchor (at join); an anchor its cities (at approval) and every region it has an
agreement with (``ecert region trust-add``). When one of them rotates its key (``ecert
federation rotate-key``), it publishes root version n+1, signed by the old keys and the new one,
at ``/trust/root/history``. Here we walk from the root
we trust, only through such doubly signed roots, and re-pin the newest root's keys, recording
the change in the audit log. A root signed by anything less breaks the walk and changes
nothing; so does a history that goes backwards or skips a version.

Whether a root may follow another is :class:`trust.trusted_state.TrustedState`'s to decide (the
same rules as a kiosk's bundle and the gateway's own root): here we fetch and write. This module
does not pin anything on first use (that is ``join`` or ``trust-add``, with the
operator's ``--anchor-kid``), nor decide which credentials are trusted: the trust list does.
"""

from __future__ import annotations

import threading

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit, federation
from gateway.background import checkpoint
from gateway.core import Gateway
from gateway.models import FederationRow, SubordinateRow
from gateway.state import StateChange, mark_changed
from trust.errors import DataError, FetchError
from trust.federation import Fetcher
from trust.trusted_state import TrustedState
from trust.trustlist.root import MAX_ROOT_STEPS, SignedRoot

MAX_HISTORY = 1000  # root versions in one history document
FOLLOWED_KINDS = ("city", "region")  # an anchor's subordinates with keys of their own


def _history(fetcher: Fetcher, entity_id: str) -> list[SignedRoot]:
    url = f"{entity_id}/trust/root/history"
    try:
        roots = orjson.loads(fetcher.fetch(url))
    except orjson.JSONDecodeError as exc:
        raise DataError(f"expected a JSON list of signed roots from {url}: {exc}") from exc
    if not isinstance(roots, list) or len(roots) > MAX_HISTORY:
        raise DataError(
            f"expected a JSON list of at most {MAX_HISTORY} signed roots from {url}, found "
            f"{type(roots).__name__}{f' of {len(roots)}' if isinstance(roots, list) else ''}"
        )
    return [SignedRoot.from_bytes(orjson.dumps(root)) for root in roots]


def newest_root(
    fetcher: Fetcher, entity_id: str, *, pinned: set[str], trusted: SignedRoot | None, now: int
) -> SignedRoot:
    """The newest root of ``entity_id`` reachable from the one we trust: ``trusted`` when we
    keep it, else the newest published root whose keys are exactly the ``pinned`` ones. The
    walk is :meth:`trust.trusted_state.TrustedState.update_root`'s to decide; here we only
    choose what to offer it: the newest published version at most ``MAX_ROOT_STEPS`` ahead
    (the next sync walks on from there)."""
    history = _history(fetcher, entity_id)
    if trusted is None:
        matching = [s for s in history if set(s.root.keys) == pinned]
        if not matching:
            raise DataError(f"{entity_id} publishes no root with the pinned keys {sorted(pinned)}")
        trusted = max(matching, key=lambda s: s.root.version)
    state = TrustedState.from_root(trusted)
    reach = trusted.root.version + MAX_ROOT_STEPS
    offered = [s for s in history if s.root.version <= reach]
    if not offered:
        raise DataError(
            f"expected {entity_id} to publish root version {trusted.root.version} or later "
            f"(up to {reach}), found {len(history)} roots, none of them within reach"
        )
    newest = max(offered, key=lambda s: s.root.version)
    state.update_root(newest, history=offered, now=now, source=f"{entity_id}'s root history")
    # Only a root the walk stepped to, or the trusted one itself: never a stranger's root that
    # merely claims the trusted root's version (the walk refuses one whose content differs).
    return trusted if newest.root.version == trusted.root.version else newest


def _repin(
    gw: Gateway, session: Session, action: str, entity_id: str, newest: SignedRoot
) -> tuple[list[dict[str, str]], StateChange]:
    """Record the change in the audit log and mark the state changed; the JWKs to pin, and the
    change to apply once the caller's transaction committed."""
    audit.record(session, at=gw.clock(), actor="sync", action=f"federation.{action}",
                 subject=entity_id, root_version=newest.root.version,
                 kids=sorted(newest.root.keys))  # fmt: skip
    return [dict(k.jwk) for k in newest.root.keys.values()], mark_changed(session)


def follow_superior_root(
    gw: Gateway, fetcher: Fetcher, *, stop: threading.Event | None = None
) -> bool:
    """A city follows its anchor's rotations, from the root it stored (first: the one matching
    the keys pinned at join). Returns True if the anchor's keys changed. Writes nothing once
    ``stop`` is set."""
    with gw.sessions() as session:
        fed = federation.config(session)
        if fed.role != federation.CITY or not fed.superior_id:
            return False
        superior = fed.superior_id
        pinned = {str(j.get("kid")) for j in fed.superior_jwks}
        stored = SignedRoot.from_bytes(fed.superior_root) if fed.superior_root else None
    newest = newest_root(fetcher, superior, pinned=pinned, trusted=stored, now=gw.clock())
    changed = set(newest.root.keys) != pinned
    if not changed and newest is stored:
        return False  # the usual sync: nothing to write
    checkpoint(stop)
    change: StateChange | None = None
    with gw.transaction() as session:
        row = session.get(FederationRow, 1)
        assert row is not None
        row.superior_root = newest.to_bytes().decode()
        if changed:
            row.superior_jwks, change = _repin(gw, session, "follow_anchor_root", superior, newest)
    gw.live.changed(change)
    return changed


def follow_subordinate_roots(
    gw: Gateway, fetcher: Fetcher, *, stop: threading.Event | None = None
) -> dict[str, str]:
    """An anchor follows the rotations of its cities and of every region it has an agreement
    with. Returns what failed, as ``{"<kind> root <entity id>": reason}``; an entity that failed
    keeps the keys pinned before. Writes nothing once ``stop`` is set."""
    with gw.sessions() as session:
        if federation.config(session).role != federation.ANCHOR:
            return {}
        pinned_by = {
            (row.entity_id, row.kind): {str(j.get("kid")) for j in row.jwks}
            for row in session.scalars(
                select(SubordinateRow).where(
                    SubordinateRow.kind.in_(FOLLOWED_KINDS), SubordinateRow.status == "approved"
                )
            )
        }
    failures: dict[str, str] = {}
    for (entity_id, kind), pinned in pinned_by.items():
        try:
            newest = newest_root(fetcher, entity_id, pinned=pinned, trusted=None, now=gw.clock())
        except (DataError, FetchError) as exc:
            failures[f"{kind} root {entity_id}"] = str(exc)
            continue
        if set(newest.root.keys) == pinned:
            continue
        checkpoint(stop)
        with gw.transaction() as session:
            row = session.get(SubordinateRow, entity_id)
            if row is None or {str(j.get("kid")) for j in row.jwks} != pinned:
                continue  # the operator changed it meanwhile: theirs stands
            row.jwks, change = _repin(gw, session, f"follow_{kind}_root", entity_id, newest)
        gw.live.changed(change)
    return failures
