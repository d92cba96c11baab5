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
import hashlib
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway import federation
from gateway.background import checkpoint
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.models import FederationRow, PeerDocumentRow, TrustListRow
from gateway.rootfollow import follow_subordinate_roots, follow_superior_root
from gateway.state import stored_trust_list, type_info
from trust.errors import DataError, FetchError
from trust.federation import (
    ECERT_ISSUER,
    FEDERATION_ENTITY,
    Fetcher,
    ResolvedChain,
    entity_configuration_url,
    parse_subordinate_listing,
    resolve_chain,
    verify_entity_configuration,
)
from trust.keys import PublicKey, is_short_alias
from trust.snapshot import ChainLink, TypeInfo
from trust.trustlist import TrustList, sign_trust_list
from trust.trustlist_entry import ACTIVE, COMPROMISED, RETIRED, KeyEvent, TrustListEntry
from trust.trustlist_types import types_to_json

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

    def record(self, report: SyncReport, now: int) -> None:
        self.last_sync_at, self.last_version = now, report.version
        self.leaves, self.failures = len(report.leaves), dict(report.failures)
        failing = bool(report.failures) and not report.leaves
        self.consecutive_failures = self.consecutive_failures + 1 if failing else 0
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


def _history(jwk: Mapping[str, Any]) -> tuple[int | None, int | None, tuple[KeyEvent, ...]]:
    created = int(jwk["iat"])
    retired, compromised = jwk.get("retired_at"), jwk.get("compromised_at")
    events = [KeyEvent(ACTIVE, created)]
    if retired is not None and (compromised is None or retired < compromised):
        events.append(KeyEvent(RETIRED, int(retired)))
    else:
        retired = None
    if compromised is not None:
        events.append(KeyEvent(COMPROMISED, int(compromised)))
    return retired, compromised, tuple(events)


def entries_for(
    resolved: ResolvedChain, names: Mapping[str, str], roles: Sequence[str]
) -> list[TrustListEntry]:
    """One entry per credential key the leaf's verified metadata publishes. A key's alias
    under its short ``kid`` (:func:`trust.keys.with_short_alias`) is for JOSE libraries that
    select keys by ``kid``; verifiers here find keys by every ``kid`` form, so aliases add
    nothing and are passed over: the full entry alone says what the key is and when it lived."""
    meta = resolved.metadata[ECERT_ISSUER]
    chain = tuple(
        ChainLink(name=names.get(e, e), role=role, id=e)
        for e, role in zip(resolved.path, roles, strict=False)
    )
    accepted = resolved.accepted_types if resolved.acceptance is not None else None
    try:  # the leaf's own metadata: a problem there is the leaf's, reported as its failure
        return [
            _entry(resolved, meta, chain, accepted, jwk)
            for jwk in meta["jwks"]["keys"]
            if not is_short_alias(jwk)
        ]
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"{resolved.leaf_id} publishes unusable credential keys ({type(exc).__name__}: "
            f"{exc}); expected jwks.keys, each a public JWK with kid and iat"
        ) from exc


def _entry(
    resolved: ResolvedChain,
    meta: Mapping[str, Any],
    chain: tuple[ChainLink, ...],
    accepted: frozenset[str] | None,
    jwk: Mapping[str, Any],
) -> TrustListEntry:
    retired, compromised, history = _history(jwk)
    return TrustListEntry(
        issuer=resolved.leaf_id,
        name=str(meta.get("organization_name") or resolved.leaf_id),
        uscc=str(meta.get("uscc") or "-"),
        region_code=str(meta.get("region_code") or "-"),
        chain=chain,
        key=PublicKey.from_jwk({k: v for k, v in jwk.items() if k in _JWK_MEMBERS}),
        types=frozenset(resolved.credential_types),
        accepted=None if accepted is None else frozenset(accepted),
        policy=resolved.acceptance.policy if resolved.acceptance is not None else "",
        status_lists=tuple(sorted(set(meta.get("status_lists", [])))),
        not_before=int(jwk["iat"]),
        retired_at=retired,
        compromised_at=compromised,
        history=history,
        chain_exp=resolved.exp,
    )


_JWK_MEMBERS = ("kty", "crv", "x", "y", "kid")


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


def _roles(length: int) -> list[str]:
    return ["agency", "city", *["region"] * max(0, length - 2)][:length]


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
                resolved, _names(memo, resolved.path, now), _roles(len(resolved.path))
            )
        except (DataError, FetchError) as exc:
            report.failures[leaf] = str(exc)
            log.warning("trust chain of %s refused: %s", leaf, exc)
            continue
        report.leaves.append(leaf)
        entries.extend(made)
    previous = latest(gw)
    stale: list[dict[str, Any]] = []
    if previous is not None:
        carried, stale = _carry_forward(previous, report, now)
        entries.extend(carried)
    entries = _listable(entries, now + MIN_LIFETIME, report, previous)
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
            digest = _entries_digest(draft)
            if (
                previous is not None
                and previous.content_hash == digest
                and previous.exp - now > refresh
            ):
                report.version = previous.version
                return report
            session.add(
                TrustListRow(version=version, iat=now, exp=exp, content_hash=digest,
                             token=sign_trust_list(draft, key), stale=stale)
            )  # fmt: skip
            gw.bump(session)
    except IntegrityError:  # PostgreSQL: the other signer committed the same version first
        report.version = latest_version(gw)
        return report
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


def _listable(
    entries: Sequence[TrustListEntry],
    not_before_exp: int,
    report: SyncReport,
    previous: TrustListRow | None,
) -> list[TrustListEntry]:
    """The entries one trust list can hold together. An issuer is left out, and reported, when
    one of its keys or status lists is another issuer's (the owner in the previous list keeps
    it; else the first one found), or its chain ends before ``not_before_exp``: one city's bad
    metadata costs its own issuers, not the region's list."""
    by_issuer: dict[str, list[TrustListEntry]] = {}
    for entry in entries:
        by_issuer.setdefault(entry.issuer, []).append(entry)
    kid_owner: dict[str, str] = {}
    uri_owner: dict[str, str] = {}
    if previous is not None:  # a key or status list never moves to another issuer
        for e in stored_trust_list(previous.token).entries:
            kid_owner[e.kid] = e.issuer
            uri_owner.update(dict.fromkeys(e.status_lists, e.issuer))
    kept: list[TrustListEntry] = []
    for issuer, group in by_issuer.items():
        problem = next(
            (p for e in group if (p := _conflict(e, kid_owner, uri_owner, not_before_exp))), None
        )
        if problem is not None:
            report.failures[issuer] = problem
            report.leaves = [leaf for leaf in report.leaves if leaf != issuer]
            log.warning("issuer %s left out of the trust list: %s", issuer, problem)
            continue
        for e in group:
            kid_owner[e.kid] = issuer
            uri_owner.update(dict.fromkeys(e.status_lists, issuer))
        kept.extend(group)
    return kept


def _conflict(
    e: TrustListEntry, kid_owner: Mapping[str, str], uri_owner: Mapping[str, str], exp: int
) -> str | None:
    if e.chain_exp < exp:
        return f"its trust chain ends at {e.chain_exp}, before the trust list may ({exp})"
    if kid_owner.get(e.kid, e.issuer) != e.issuer:
        return f"it lists key {e.kid}, which is already {kid_owner[e.kid]}'s"
    for uri in e.status_lists:
        if uri_owner.get(uri, e.issuer) != e.issuer:
            return f"it claims status list {uri}, which is already {uri_owner[uri]}'s"
    return None


def _carry_forward(
    previous: TrustListRow, report: SyncReport, now: int
) -> tuple[list[TrustListEntry], list[dict[str, Any]]]:
    """Last good entries of issuers this sync could not resolve (their city or chain failed;
    they were not delisted): kept while their chains are valid, then kept aside as stale."""
    resolved = set(report.leaves)
    carried: list[TrustListEntry] = []
    stale = [e for e in previous.stale or [] if e.get("issuer") not in resolved]
    for entry in stored_trust_list(previous.token).entries:
        parent = entry.chain[1].id if len(entry.chain) > 1 else None
        delisted = parent in report.listed and entry.issuer not in report.listed[parent]
        if entry.issuer in resolved or delisted:
            continue
        if entry.chain_exp > now:
            carried.append(entry)
            report.carried.append(entry.issuer)
        else:
            stale.append(entry.to_json())
            report.stale.append(entry.issuer)
    return carried, stale


def described_types(gw: Gateway, entries: Iterable[TrustListEntry]) -> list[TypeInfo]:
    """The names and field labels, as this gateway's type registry gives them, of every type
    the entries may issue: signed into the list, they are what verifiers elsewhere and offline
    kiosks show. A type the registry does not know stays undescribed (it answers UNSUPPORTED)."""
    issued = {code for e in entries for code in e.types}
    return [type_info(t) for t in gw.types if t.code in issued]


def _entries_digest(tl: TrustList) -> str:
    """What "changed" means: issuers, keys, types and their descriptions, acceptance and status
    lists, not the version, the times, nor ``chain_exp`` (it moves with every freshly signed
    statement; the list is re-signed anyway before its ``exp``). A list stored before lists
    described types digests otherwise, so the first sync after an upgrade signs one that does."""
    entries = [{k: v for k, v in e.to_json().items() if k != "chain_exp"} for e in tl.entries]
    types = types_to_json(tl.types or ())
    body = {"issuer": tl.issuer, "region": tl.region, "entries": entries, "types": types}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


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
    verifying at all, is :class:`trust.peer_statuslists.PeerStatusLists`' to say. Once
    ``stop`` is set, it ends before its next fetch or write (raising ``Stopped``)."""
    now = gw.clock()
    state = gw.state
    lists = gw.peer_lists
    wanted = {
        uri: issuer_id for issuer_id, uris in state.remote_status_uris.items() for uri in uris
    }
    keys = state.trust.keys
    changed = 0
    for uri, issuer_id in sorted(wanted.items()):
        checkpoint(stop)
        with gw.sessions() as session:
            doc = session.get(PeerDocumentRow, uri)
        fresh = doc is not None and doc.expires_at is not None and now < doc.expires_at
        if fresh and lists.current(uri, owner=issuer_id, keys=keys, now=now) is not None:
            continue  # its ttl has not run out and its signer still may sign: nothing to do
        try:
            if doc is not None and doc.body is not None:
                with contextlib.suppress(DataError):  # the copy held, the floor for replays
                    lists.accept(uri, doc.body, owner=issuer_id, keys=keys, now=now)
            body = fetcher.fetch(uri).decode("ascii")
            held, _ = lists.accept(uri, body, owner=issuer_id, keys=keys, now=now)
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
            doc.expires_at = now + min(snap.ttl or gw.settings.status_ttl, snap.exp - now)
            doc.last_error, doc.failures = None, 0
            session.add(doc)
    if changed:
        with gw.transaction() as session:
            gw.bump(session)  # one rebuild for every list that changed
    return changed
