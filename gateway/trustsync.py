"""Compiling this gateway's signed trust list from verified federation chains.

One sync: walk the federation from our trust anchor (list endpoints, bounded depth, visited
set), resolve every issuing agency's trust chain (``trust.federation.resolve_chain``), turn
each of its credential keys into a trust list entry, and sign a new version when the content
changed. Entity configurations are fetched once per sync (a memo), everything through one
``Fetcher`` so tests can route it in-process. A path that fails is reported and skipped; the
previous list stays served until a new one is signed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway import federation
from gateway.background import checkpoint
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.freshness import next_status_fetch
from gateway.models import FederationRow, PeerDocumentRow, TrustListRow
from gateway.rootfollow import follow_subordinate_roots, follow_superior_root
from gateway.state import mark_changed, stored_trust_list, type_info
from trust.errors import DataError, FetchError
from trust.federation import (
    ECERT_ISSUER,
    FEDERATION_ENTITY,
    Fetcher,
    entity_configuration_url,
    parse_subordinate_listing,
    resolve_chain,
    verify_entity_configuration,
)
from trust.keys import PublicKey
from trust.snapshot import TypeInfo
from trust.trustlist.compiler import chain_roles, compile_entries, entries_digest, entries_for
from trust.trustlist.document import TrustList, sign_trust_list, unverified_signer_kid
from trust.trustlist.entry import TrustListEntry

log = logging.getLogger("ecert.trustsync")
MAX_DEPTH = 3  # anchor → (peer anchor →) city → agency
MAX_LEAVES = 5000
MAX_FETCHES = 20_000
MIN_LIFETIME = 60  # seconds: the shortest trust list this gateway signs


class MemoFetcher:
    """One sync's view of the network: each URL fetched at most once, within a budget, and
    none once ``stop`` is set (:class:`gateway.background.Stopped` ends the sync there)."""

    def __init__(
        self, inner: Fetcher, *, budget: int = MAX_FETCHES, stop: threading.Event | None = None
    ) -> None:
        self.inner = inner
        self.budget = budget
        self.stop = stop
        self.memo: dict[str, bytes | FetchError] = {}

    def fetch(self, url: str) -> bytes:
        cached = self.memo.get(url)
        if cached is None:
            checkpoint(self.stop)
            if self.budget <= 0:
                raise FetchError(f"fetch budget of this sync used up before {url}")
            self.budget -= 1
            try:
                cached = self.inner.fetch(url)
            except FetchError as exc:
                cached = exc
            self.memo[url] = cached
        if isinstance(cached, FetchError):
            raise cached
        return cached


def federated(gw: Gateway) -> bool:
    with gw.sessions() as session:
        return session.get(FederationRow, 1) is not None


@dataclass
class SyncHealth:
    """What the last syncs did, for the health endpoint (in memory, per process)."""

    last_sync_at: int | None = None
    last_version: int | None = None
    leaves: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    consecutive_failures: int = 0
    last_error: str | None = None
    leader: bool = False  # whether this process leads the city's sync (gateway.cluster)

    def record(self, report: SyncReport, now: int) -> None:
        self.last_sync_at, self.last_version = now, report.version
        self.leaves, self.failures = len(report.leaves), dict(report.failures)
        self.consecutive_failures = self.consecutive_failures + 1 if report.failing else 0
        self.last_error = None

    def error(self, message: str, now: int) -> None:
        self.last_error = f"{now}: {message[:300]}"
        self.consecutive_failures += 1


@dataclass
class SyncReport:
    leaves: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    listed: dict[str, frozenset[str]] = field(default_factory=dict)
    carried: list[str] = field(default_factory=list)  # unreachable: last good entries kept
    stale: list[str] = field(default_factory=list)  # unreachable and their chains expired
    version: int | None = None
    changed: bool = False

    @property
    def failing(self) -> bool:
        """Nothing resolved and something failed: the federation looks unreachable."""
        return bool(self.failures) and not self.leaves


MAX_BACKOFF = 4  # times the interval: the longest wait between syncs while peers keep failing


def next_sync_in(interval: float, consecutive_failures: int, jitter: float) -> float:
    """Seconds until the next sync: ``interval``, doubled for each sync in a row that found the
    federation unreachable (at most :data:`MAX_BACKOFF` times), spread by ``jitter`` in [0, 1)
    to ±20% so that a region's gateways do not all ask at once."""
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"expected a jitter in [0, 1), found {jitter}")
    factor = min(MAX_BACKOFF, 1 << min(consecutive_failures, 16))
    return interval * factor * (0.8 + 0.4 * jitter)


def trust_anchors(gw: Gateway) -> dict[str, list[PublicKey]]:
    """The anchor this gateway trusts: a city's pinned superior, an anchor itself."""
    with gw.sessions() as session:
        fed = federation.config(session)
        if fed.role == federation.ANCHOR:
            _, own = federation.signing_key(gw, session, federation.SELF)
            return {fed.entity_id: own}
        if not fed.superior_id or not fed.superior_jwks:
            raise Conflict(f"city {fed.entity_id} has no pinned region anchor: run join first")
        return {fed.superior_id: [PublicKey.from_jwk(j) for j in fed.superior_jwks]}


def _configuration_metadata(fetcher: Fetcher, entity_id: str, now: int) -> Mapping[str, Any]:
    token = fetcher.fetch(entity_configuration_url(entity_id)).decode("ascii", "replace")
    return verify_entity_configuration(token, now=now, expected_sub=entity_id).metadata


def discover(fetcher: Fetcher, anchor_id: str, now: int, report: SyncReport) -> list[str]:
    """Issuing agencies reachable from ``anchor_id`` through list endpoints. Every entity
    whose list answered goes to ``report.listed`` with what it listed."""
    leaves: list[str] = []
    seen = {anchor_id}
    frontier = [(anchor_id, 0)]
    while frontier and len(leaves) < MAX_LEAVES:
        entity, depth = frontier.pop(0)
        try:
            metadata = _configuration_metadata(fetcher, entity, now)
            if ECERT_ISSUER in metadata:
                leaves.append(entity)
                continue
            endpoint = metadata.get(FEDERATION_ENTITY, {}).get("federation_list_endpoint")
            if not isinstance(endpoint, str) or depth >= MAX_DEPTH:
                continue
            children = parse_subordinate_listing(fetcher.fetch(endpoint))
        except (DataError, FetchError) as exc:
            report.failures[entity] = str(exc)
            continue
        report.listed[entity] = frozenset(children)
        for child in children:
            if child not in seen:
                seen.add(child)
                frontier.append((child, depth + 1))
    return leaves


def _names(fetcher: Fetcher, path: Iterable[str], now: int) -> dict[str, str]:
    names = {}
    for entity in path:
        try:
            meta = _configuration_metadata(fetcher, entity, now)
        except (DataError, FetchError):
            continue
        for kind in (ECERT_ISSUER, FEDERATION_ENTITY):
            name = meta.get(kind, {}).get("organization_name")
            if isinstance(name, str) and name:
                names[entity] = name
                break
    return names


def latest(gw: Gateway) -> TrustListRow | None:
    with gw.sessions() as session:
        return session.scalar(select(TrustListRow).order_by(TrustListRow.version.desc()).limit(1))


def sync_once(
    gw: Gateway,
    fetcher: Fetcher,
    *,
    lifetime: int,
    refresh: int,
    stop: threading.Event | None = None,
) -> SyncReport:
    """Compile and, if anything changed, sign and store a new trust list version. Once
    ``stop`` is set, the sync ends before its next fetch or write (raising ``Stopped``)."""
    now = gw.clock()
    report = SyncReport()
    memo = MemoFetcher(fetcher, stop=stop)
    try:
        follow_superior_root(gw, memo, stop=stop)
    except (DataError, FetchError) as exc:  # keep the pinned keys; say why
        report.failures["anchor root"] = str(exc)
    report.failures.update(follow_subordinate_roots(gw, memo, stop=stop))
    checkpoint(stop)
    anchors = trust_anchors(gw)
    ((anchor_id, _),) = anchors.items()
    entries: list[TrustListEntry] = []
    for leaf in discover(memo, anchor_id, now, report):
        try:
            resolved = resolve_chain(leaf, fetcher=memo, trust_anchors=anchors, now=now)
            made = entries_for(
                resolved, _names(memo, resolved.path, now), chain_roles(len(resolved.path))
            )
        except (DataError, FetchError) as exc:
            report.failures[leaf] = str(exc)
            log.warning("trust chain of %s refused: %s", leaf, exc)
            continue
        report.leaves.append(leaf)
        entries.extend(made)
    previous = latest(gw)
    compiled = compile_entries(
        entries,
        reached=report.leaves,
        listed=report.listed,
        previous=stored_trust_list(previous.token) if previous is not None else None,
        previous_stale=(previous.stale or []) if previous is not None else [],
        now=now,
        not_before_exp=now + MIN_LIFETIME,
    )
    report.carried, report.stale = list(compiled.carried), list(compiled.expired)
    for issuer, problem in compiled.left_out.items():
        report.failures[issuer] = problem
        log.warning("issuer %s left out of the trust list: %s", issuer, problem)
    report.leaves = [leaf for leaf in report.leaves if leaf not in compiled.left_out]
    entries, stale = list(compiled.entries), list(compiled.stale)
    earliest = min([now + lifetime, *(e.chain_exp for e in entries)])
    checkpoint(stop)
    try:
        with gw.transaction() as session:
            checkpoint(stop)  # the write lock may have come after a long wait: still wanted?
            fed = federation.config(session)
            held = session.scalar(select(func.max(TrustListRow.version)))
            if held != (previous.version if previous is not None else None):
                # Another sync (this process's background loop, or another process of this
                # city) signed a version while this one compiled: keep theirs; the next tick
                # compiles afresh from it.
                report.version = held
                return report
            key, _ = federation.signing_key(gw, session, federation.SELF)
            version = (previous.version + 1) if previous is not None else 1
            exp = max(now + MIN_LIFETIME, earliest)
            draft = TrustList.build(
                version=version, iat=now, exp=exp, next_update=min(now + refresh, exp),
                issuer=fed.entity_id, region=fed.region_id, entries=entries,
                types=described_types(gw, entries),
            )  # fmt: skip
            digest = entries_digest(draft)
            if (
                previous is not None
                and previous.content_hash == digest
                and previous.exp - now > refresh
                and unverified_signer_kid(previous.token) == key.kid  # else rotated: re-sign
            ):
                report.version = previous.version
                return report
            session.add(
                TrustListRow(version=version, iat=now, exp=exp, content_hash=digest,
                             token=sign_trust_list(draft, key), stale=stale)
            )  # fmt: skip
            change = mark_changed(session)
    except IntegrityError:  # PostgreSQL: the other signer committed the same version first
        report.version = latest_version(gw)
        return report
    gw.live.changed(change)
    report.version, report.changed = version, True
    return report


def served_trust_list(gw: Gateway, since: int | None) -> tuple[TrustListRow, TrustListRow | None]:
    """The newest trust list, and version ``since`` to answer a delta from (``None``: the
    whole list); :class:`NotFound` when there is none yet or ``since`` is not kept."""
    with gw.sessions() as session:
        row = session.scalar(select(TrustListRow).order_by(TrustListRow.version.desc()).limit(1))
        if row is None:
            raise NotFound("no trust list compiled yet: the first federation sync makes one")
        if since is None:
            return row, None
        base = session.get(TrustListRow, since)
    if base is None:
        raise NotFound(f"version {since} is not kept here: fetch the whole list")
    return row, base


def failing_documents(gw: Gateway) -> list[dict[str, Any]]:
    """Peers' documents whose last fetches failed, for ``/healthz``."""
    with gw.sessions() as session:
        return [
            {"url": d.url, "failures": d.failures, "last_error": d.last_error,
             "last_error_at": iso(d.last_error_at), "last_good_at": iso(d.fetched_at)}
            for d in session.scalars(select(PeerDocumentRow).where(PeerDocumentRow.failures > 0))
        ]  # fmt: skip


def latest_version(gw: Gateway) -> int | None:
    with gw.sessions() as session:
        return session.scalar(select(func.max(TrustListRow.version)))


def described_types(gw: Gateway, entries: Iterable[TrustListEntry]) -> list[TypeInfo]:
    """The names and field labels, as this gateway's type registry gives them, of every type
    the entries may issue: signed into the list, they are what verifiers elsewhere and offline
    kiosks show. A type the registry does not know stays undescribed (it answers UNSUPPORTED)."""
    issued = {code for e in entries for code in e.types}
    return [type_info(t) for t in gw.types if t.code in issued]


def _record_failure(gw: Gateway, url: str, error: str) -> None:
    now = gw.clock()
    with gw.transaction() as session:
        doc = session.get(PeerDocumentRow, url) or PeerDocumentRow(url=url, failures=0)
        doc.last_error, doc.last_error_at = error[:500], now
        doc.failures = (doc.failures or 0) + 1
        session.add(doc)


def refresh_status_lists(
    gw: Gateway, fetcher: Fetcher, *, stop: threading.Event | None = None
) -> int:
    """Fetch other gateways' status lists that are due (by their ``ttl``); keep the last good
    copy when a fetch fails or the answer is bad. Returns how many lists changed; the state is
    rebuilt once if any did, never when none did. What is accepted, and whether a token needs
    verifying at all, is the gateway's :class:`trust.trusted_state.TrustedState`'s to say
    (owner from the trust list it verified, a key of that owner that may sign now, no replay).
    Once ``stop`` is set, it ends before its next fetch or write (raising ``Stopped``)."""
    now = gw.clock()
    state = gw.state
    trusted = gw.live.peers.held
    wanted = sorted(uri for uris in state.remote_status_uris.values() for uri in uris)
    if trusted is None:
        return 0  # no trust list verified: no peer status list has an owner to check it by
    changed = 0
    for uri in wanted:
        checkpoint(stop)
        with gw.sessions() as session:
            doc = session.get(PeerDocumentRow, uri)
        fresh = doc is not None and doc.expires_at is not None and now < doc.expires_at
        if fresh and trusted.status_list(uri, now=now) is not None:
            continue  # its ttl has not run out and its signer still may sign: nothing to do
        try:
            if doc is not None and doc.body is not None:
                with contextlib.suppress(DataError):  # the copy held, the floor for replays
                    trusted.update_status_list(uri, doc.body, now=now)
            body = fetcher.fetch(uri).decode("ascii")
            held, _ = trusted.update_status_list(uri, body, now=now)
        except (DataError, FetchError, UnicodeDecodeError) as exc:
            log.warning("status list %s not refreshed: %s", uri, exc)
            checkpoint(stop)
            _record_failure(gw, uri, str(exc))
            continue
        snap = held.snapshot
        with gw.transaction() as session:
            checkpoint(stop)  # checked once the write lock is ours: it may have taken a while
            doc = session.get(PeerDocumentRow, uri) or PeerDocumentRow(url=uri, failures=0)
            if doc.body != body:
                changed += 1
            doc.body, doc.fetched_at = body, now
            doc.expires_at = next_status_fetch(snap, now=now, ttl=gw.settings.status_ttl)
            doc.last_error, doc.failures = None, 0
            session.add(doc)
    if changed:
        with gw.transaction() as session:
            change = mark_changed(session)
        gw.live.changed(change)  # one rebuild for every list that changed
    return changed
