"""Witnessing peers' audit logs during the federation sync (issue 11, "Peers witness").

After each trust sync, for every peer gateway this one knows through its verified federation
data (:func:`known_peers`: its anchor, the cities and regions of its trust list's chains, an
anchor's own approved cities), :func:`witness_all`:

1. fetches the peer's ``GET /audit/checkpoint`` and, when the log grew since the head last
   verified, ``GET /audit/proof/consistency?first=<seen>&second=<new>``, through the gateway's
   fetcher (bounded in time and size, stopped with the gateway; only hosts of the federation);
2. lets :func:`trust.witness.judge` decide, with the peer's federation keys as the chain to this
   gateway's trust anchors vouches for them (the checkpoint's ``kid`` and ``iss`` are hints);
3. stores what it decided: an accepted head as the peer's new state; an alarm that stands until
   an operator acknowledges it (:mod:`gateway.witness_alarms`), an audit event when raised;
4. for a newly accepted head, POSTs its cosignature to the peer's ``POST /audit/cosignature``.

A peer that cannot be reached, whose keys do not resolve, or whose head names a key not yet
vouched for (a rotation the federation has not followed yet) raises no alarm at once: nothing
was shown to be wrong. Its last error is kept, ``/healthz`` shows since when it was last
verified, and once no head was verified for longer than ``ECERT_AUDIT_HEAD_MAX_AGE`` the alarm
is ``stale`` (:func:`trust.witness.overdue`).

Deliberately not here: the decisions themselves (:mod:`trust.witness`); receiving cosignatures,
``/healthz`` and metrics (:mod:`gateway.witness_views`); the log itself (:mod:`gateway.audit`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway import federation
from gateway.background import checkpoint as stop_point
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.models import SubordinateRow, WitnessedPeerRow
from gateway.peers import HttpFetcher
from gateway.trustsync import trust_anchors
from gateway.witness_alarms import raise_alarm
from trust.encoding import b64url_decode, b64url_encode
from trust.errors import DataError, FetchError
from trust.federation import resolve_chain
from trust.keys import PublicKey
from trust.witness import (
    Accepted,
    Alarm,
    Checkpoint,
    Seen,
    Unverified,
    WitnessError,
    decide,
    judge,
    overdue,
    proof_range,
    read_checkpoint,
    sign_cosignature,
)

log = logging.getLogger("ecert.witness")
CHECKPOINT_PATH = "/audit/checkpoint"
CONSISTENCY_PATH = "/audit/proof/consistency"
COSIGNATURE_PATH = "/audit/cosignature"
JWT_MEDIA_TYPE = "application/jwt"
MAX_PEERS = 64  # peers witnessed per sync, in entity id order
POST_DEADLINE = 5.0  # seconds for one cosignature's delivery
KEYS_FOR = 600  # seconds a peer's resolved keys are reused (at most until its chain expires)


@dataclass(frozen=True)
class Peer:
    entity: str
    keys: tuple[PublicKey, ...]  # its federation keys, from this gateway's trusted federation data
    # resolves its keys afresh, when ``keys`` came from a cache (None: they are fresh)
    refresh: Callable[[], tuple[PublicKey, ...]] | None = None


@dataclass
class KeyCache:
    """Peers' federation keys as resolved (in memory, one per app), each kept until its chain
    expires or :data:`KEYS_FOR` seconds pass, so a sync does not walk every peer's chain again.
    A head that does not verify with cached keys is checked again with fresh ones before any
    verdict (:attr:`Peer.refresh`): a rotation is picked up at once, and no alarm rests on an
    old key set."""

    held: dict[str, tuple[tuple[PublicKey, ...], int]] = field(default_factory=dict)

    def peer(self, gw: Gateway, fetcher: HttpFetcher, entity: str, now: int) -> Peer:
        hit = self.held.get(entity)
        if hit is not None and now < hit[1]:
            return Peer(entity, hit[0], lambda: self._resolve(gw, fetcher, entity, now))
        return Peer(entity, self._resolve(gw, fetcher, entity, now))

    def _resolve(
        self, gw: Gateway, fetcher: HttpFetcher, entity: str, now: int
    ) -> tuple[PublicKey, ...]:
        self.held.pop(entity, None)
        keys, until = resolve_keys(gw, fetcher, entity, now)
        self.held[entity] = (keys, until)
        return keys


def candidates(gw: Gateway) -> list[str]:
    """Entity ids of the peer gateways this gateway knows from its own verified federation
    data (never from a message): its anchor, its approved subordinates (an anchor's cities, a
    peer region's anchor), and the city and region links of its trust list's issuer chains."""
    found: set[str] = set()
    for issuer in gw.state.trust.issuers.values():
        found.update(
            link.id for link in issuer.chain if link.role in ("city", "region") and "://" in link.id
        )
    with gw.sessions() as session:
        fed = federation.config(session)
        if fed.superior_id:
            found.add(fed.superior_id)
        approved = select(SubordinateRow.entity_id).where(SubordinateRow.status == "approved")
        found.update(session.scalars(approved))
        found.discard(fed.entity_id)
    return sorted(found)[:MAX_PEERS]


def resolve_keys(
    gw: Gateway, fetcher: HttpFetcher, entity: str, now: int
) -> tuple[tuple[PublicKey, ...], int]:
    """``entity``'s federation keys and until when to rely on them: pinned for a trust anchor of
    ours, else those its chain to our anchors vouches for (:func:`trust.federation.resolve_chain`,
    until the chain expires). Raises DataError or FetchError when it does not resolve."""
    anchors = trust_anchors(gw)
    if entity in anchors:
        return tuple(anchors[entity]), now + KEYS_FOR
    chain = resolve_chain(entity, fetcher=fetcher, trust_anchors=anchors, now=now)
    return tuple(chain.keys), min(chain.exp, now + KEYS_FOR)


def peer_keys(gw: Gateway, fetcher: HttpFetcher, entity: str, now: int) -> tuple[PublicKey, ...]:
    """:func:`resolve_keys`' keys."""
    return resolve_keys(gw, fetcher, entity, now)[0]


def own_entity_id(gw: Gateway) -> str:
    with gw.sessions() as session:
        return federation.config(session).entity_id


def _seen(row: WitnessedPeerRow | None) -> Seen | None:
    if row is None or row.tree_size is None or row.root_hash is None:
        return None
    return Seen(row.tree_size, b64url_decode(row.root_hash), row.checkpoint_iat or 0,
                row.checkpoint or "")  # fmt: skip


def state_of(gw: Gateway, peer: str) -> Seen | None:
    with gw.sessions() as session:
        return _seen(session.get(WitnessedPeerRow, peer))


def _note_error(gw: Gateway, peer: str, error: str, now: int) -> tuple[int | None, int]:
    """Keep why ``peer`` was not verified now; (when it was last verified, when witnessing it
    began)."""
    with gw.transaction() as session:
        row = session.get(WitnessedPeerRow, peer) or WitnessedPeerRow(peer=peer)
        row.last_attempt_at, row.last_error = now, error[:500]
        if row.first_seen_at is None:
            row.first_seen_at = now
        session.add(row)
        return row.verified_at, row.first_seen_at


def not_verified(gw: Gateway, peer: str, error: str, *, now: int, max_age: int) -> str:
    """``peer``'s log could not be checked now (no verdict): kept as its last error, and a
    ``stale`` alarm once nothing was verified for longer than ``max_age``."""
    verified_at, since = _note_error(gw, peer, error, now)
    alarm = overdue(peer=peer, last_verified_at=verified_at, since=since, now=now, max_age=max_age)
    if alarm is None:
        return "unverified"
    raise_alarm(gw, peer, alarm, state_of(gw, peer), now)
    return f"alarm:{alarm.kind}"


def _accept(gw: Gateway, peer: str, verdict: Accepted, now: int) -> bool:
    """Store an accepted head; True when it is one this witness has not co-signed yet."""
    with gw.transaction() as session:
        row = session.get(WitnessedPeerRow, peer) or WitnessedPeerRow(peer=peer)
        if verdict.changed:
            state = verdict.state
            row.tree_size, row.root_hash = state.tree_size, b64url_encode(state.root_hash)
            row.checkpoint, row.checkpoint_iat = state.checkpoint, state.iat
            row.cosigned_at = None
        if row.first_seen_at is None:
            row.first_seen_at = now
        row.verified_at = row.last_attempt_at = now
        row.last_error = None
        session.add(row)
        return row.cosigned_at is None


def _cosign(gw: Gateway, fetcher: HttpFetcher, peer: str, head: Checkpoint, now: int) -> str:
    """Deliver this gateway's cosignature of ``head``; "cosigned" or why not."""
    own = own_entity_id(gw)
    token = sign_cosignature(federation.own_signing_key(gw), witness=own, checkpoint=head, now=now)
    status, body = fetcher.post(
        peer + COSIGNATURE_PATH, token, content_type=JWT_MEDIA_TYPE, deadline=POST_DEADLINE
    )
    if status >= 300:
        raise FetchError(f"POST {peer}{COSIGNATURE_PATH} answered {status}: {body[:200]!r}")
    with gw.transaction() as session:
        row = session.get(WitnessedPeerRow, peer)
        if row is not None and row.tree_size == head.tree_size:
            row.cosigned_at = now
    return "cosigned"


def _read(token: str, peer: Peer, now: int) -> tuple[Checkpoint | None, tuple[PublicKey, ...]]:
    """The head verified with the peer's keys (again with fresh keys when cached ones fail),
    or None; and the keys it was last checked with."""
    try:
        return read_checkpoint(token, peer.keys, peer=peer.entity, now=now), peer.keys
    except WitnessError:
        if peer.refresh is None:
            return None, peer.keys
    try:
        keys = peer.refresh()
    except (DataError, FetchError, Conflict, NotFound):
        return None, peer.keys
    try:
        return read_checkpoint(token, keys, peer=peer.entity, now=now), keys
    except WitnessError:
        return None, keys


def witness_peer(gw: Gateway, fetcher: HttpFetcher, peer: Peer, *, now: int, max_age: int) -> str:
    """Witness one peer's log once: "accepted", "cosigned", "alarm:<kind>" or "unverified"
    (not reachable, or its head not verifiable yet)."""
    last = state_of(gw, peer.entity)
    try:
        token = fetcher.fetch(peer.entity + CHECKPOINT_PATH).decode("ascii", "replace").strip()
    except FetchError as exc:
        return not_verified(gw, peer.entity, str(exc), now=now, max_age=max_age)
    verdict: Accepted | Alarm | Unverified
    head, keys = _read(token, peer, now)
    if head is None:
        verdict = decide(peer=peer.entity, keys=keys, last=last, token=token, proof=None,
                         now=now, max_age=max_age)  # fmt: skip
    else:
        wanted = proof_range(last, head)
        proof = None
        if wanted is not None:
            query = urlencode({"first": wanted[0], "second": wanted[1]})
            try:
                proof = fetcher.fetch(f"{peer.entity}{CONSISTENCY_PATH}?{query}")
            except FetchError as exc:
                return not_verified(gw, peer.entity, str(exc), now=now, max_age=max_age)
        verdict = judge(last=last, checkpoint=head, proof=proof, now=now, max_age=max_age)
    if isinstance(verdict, Unverified):
        return not_verified(gw, peer.entity, verdict.message_en, now=now, max_age=max_age)
    if isinstance(verdict, Alarm):
        raise_alarm(gw, peer.entity, verdict, last, now)
        _note_error(gw, peer.entity, f"{verdict.kind}: {verdict.message_en}", now)
        return f"alarm:{verdict.kind}"
    if not _accept(gw, peer.entity, verdict, now):
        return "accepted"
    assert head is not None  # accepted: it was read
    try:
        return _cosign(gw, fetcher, peer.entity, head, now)
    except (FetchError, DataError) as exc:  # the peer keeps the head; co-signed next sync
        _note_error(gw, peer.entity, f"cosignature not delivered: {exc}", now)
        return "accepted"


def known_peers(
    gw: Gateway, fetcher: HttpFetcher, now: int, cache: KeyCache
) -> tuple[list[Peer], dict[str, str]]:
    """The peers to witness with their keys, and why others could not be (entity → error)."""
    peers: list[Peer] = []
    failures: dict[str, str] = {}
    try:
        entities = candidates(gw)
    except (Conflict, NotFound) as exc:  # in no federation: no peers
        return [], {"": str(exc)}
    for entity in entities:
        try:
            peers.append(cache.peer(gw, fetcher, entity, now))
        except (DataError, FetchError, Conflict, NotFound) as exc:
            failures[entity] = str(exc)
    return peers, failures


def witness_all(
    gw: Gateway,
    fetcher: HttpFetcher,
    *,
    stop: threading.Event | None = None,
    cache: KeyCache | None = None,
) -> dict[str, str]:
    """One round over every known peer (the step after each trust sync): peer → outcome.
    Without a ``cache``, every peer's keys are resolved afresh."""
    now = gw.clock()
    max_age = gw.settings.audit_head_max_age
    peers, failures = known_peers(gw, fetcher, now, cache or KeyCache())
    outcomes: dict[str, str] = {}
    for entity, error in failures.items():
        if entity:
            outcomes[entity] = not_verified(
                gw, entity, f"keys not resolved: {error}", now=now, max_age=max_age
            )
    for peer in peers:
        stop_point(stop)
        try:
            outcomes[peer.entity] = witness_peer(gw, fetcher, peer, now=now, max_age=max_age)
        except IntegrityError:  # another process of this city stored the same row first
            outcomes[peer.entity] = "raced"
            continue
        if outcomes[peer.entity].startswith("alarm"):
            log.warning("audit log of %s: %s", peer.entity, outcomes[peer.entity])
    return outcomes
