"""The gateway's in-memory verification state, built from the database and swapped whole.

``LiveState`` is immutable. A writer bumps ``city.state_version`` in its transaction
(:func:`mark_changed`), which gives it a :class:`StateChange`; once the transaction committed,
whoever opened it hands the change to the state holder (``gw.live.changed(change)``), which
rebuilds. A function working inside its caller's transaction returns the change to that caller.
Other processes sharing the database are told on commit (PostgreSQL ``NOTIFY``,
:mod:`gateway.notify`) and notice the version change on their next poll anyway. The verify
hot path reads ``Gateway.state`` (one attribute load) and never queries the database.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import final

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway import notify
from gateway.models import (
    AgencyRow,
    CityRow,
    CredentialRow,
    FederationRow,
    PeerDocumentRow,
    SigningKeyRow,
    StatusListRow,
    TrustListRow,
)
from issuers.credential_types import CredentialType, TypeRegistry
from trust import statuslist
from trust.encoding import b64url_decode
from trust.errors import DataError
from trust.keys import PublicKey
from trust.snapshot import (
    ChainLink,
    FieldLabel,
    IssuerRecord,
    KeyRecord,
    TrustSnapshot,
    TypeInfo,
)
from trust.statuslist import StatusSource
from trust.trusted_state import TrustedState
from trust.trustlist.document import TrustList
from trust.trustlist.entry import TrustListEntry
from trust.trustlist.errors import RootError

log = logging.getLogger("ecert.state")


@final
@dataclass(frozen=True)
class StateChange:
    """A change verifiers must see, made in a transaction that moved ``city.state_version`` to
    ``version``. Not applied by itself: the code that opened the transaction hands it to the
    state holder once it committed (``gw.live.changed(change)``), or returns it to its caller.
    ``tests/gateway/test_state_changes.py`` checks that no change is dropped on the way."""

    version: int


def mark_changed(session: Session) -> StateChange:
    """Record a change verifiers must see: other processes are told on commit (PostgreSQL
    ``NOTIFY``, :mod:`gateway.notify`) or notice the shared version on their next poll; this
    one rebuilds when the returned change is applied, after the commit."""
    version = session.scalar(
        update(CityRow)
        .values(state_version=CityRow.state_version + 1)
        .returning(CityRow.state_version)
    )
    if version is not None:
        notify.announce(session, version)  # delivered on commit only
    return StateChange(version=version or 0)  # 0: no city yet, no state to see it


def combined(*changes: StateChange | None) -> StateChange | None:
    """The one change standing for several made in one transaction (one rebuild for all), or
    ``None`` if none was made."""
    made = [c for c in changes if c is not None]
    return max(made, key=lambda c: c.version) if made else None


def stored_trust_list(token: str) -> TrustList:
    """A trust list this gateway signed and stored itself, parsed without verifying it: for
    compiling the next version and answering deltas only. What verifiers decide with is
    verified through :class:`PeerTrust` (:func:`build_state`)."""
    return TrustList.from_json(orjson.loads(b64url_decode(token.split(".")[1])))


class PeerTrust:
    """The gateway's one :class:`trust.trusted_state.TrustedState` for peers' data, started
    from this gateway's own signed root the first time a state load finds one. Loads feed it
    the stored root (and its history) and the newest stored trust list; the trusted state
    verifies only what changed. Holds no session: the caller reads the rows."""

    def __init__(self) -> None:
        self._held: TrustedState | None = None
        self._lock = threading.Lock()

    @property
    def held(self) -> TrustedState | None:
        return self._held

    def load(self, fed: FederationRow, token: str, now: int) -> TrustedState | None:
        """What is trusted once ``fed``'s root and the trust list ``token`` are offered. A
        refusal is logged and leaves what was held (``None`` if nothing ever was)."""
        with self._lock:
            try:
                if fed.root is None:
                    raise RootError(
                        f"expected a root for {fed.entity_id} to verify its trust list with, "
                        "found none (it is made at `ecert serve`'s start)"
                    )
                if self._held is None:
                    self._held = TrustedState.from_root(fed.root)
                self._held.update_root(fed.root, history=fed.root_history or (), now=now,
                                       source="this gateway's stored root")  # fmt: skip
                self._held.update_trust_list(token, now=now)
            except DataError as exc:
                log.warning("stored trust list not taken: %s: %s", type(exc).__name__, exc)
            return self._held


def _remote(
    session: Session, now: int, statuses: dict[str, StatusSource], peers: PeerTrust
) -> tuple[list[IssuerRecord], list[KeyRecord], dict[str, tuple[str, ...]]]:
    """Other gateways' issuers from our latest trust list as verified by ``peers``, each
    stamped with when that trust expires (their credentials answer TRUST_LIST_STALE once it
    passes), and their status lists as last fetched and verified (missing or expired lists
    answer STATUS_UNAVAILABLE)."""
    fed = session.get(FederationRow, 1)
    row = session.scalar(select(TrustListRow).order_by(TrustListRow.version.desc()).limit(1))
    if fed is None or row is None:
        return [], [], {}
    trusted = peers.load(fed, row.token, now)
    tl = trusted.trust_list if trusted is not None else None
    local_prefix = f"{fed.entity_id}/agencies/"
    entries = [] if tl is None else [e for e in tl.entries if not e.issuer.startswith(local_prefix)]
    expires = trusted.expires_at if trusted is not None else now
    issuers = {e.issuer: replace(e.to_issuer_record(), expires_at=expires) for e in entries}
    live = {e.issuer for e in entries}
    stale = [TrustListEntry.from_json(j) for j in row.stale or []]
    stale = [e for e in stale if e.issuer not in live and not e.issuer.startswith(local_prefix)]
    for e in stale:  # unreachable peers whose chains expired: TRUST_LIST_STALE, not unknown
        issuers.setdefault(e.issuer, replace(e.to_issuer_record(), expires_at=e.chain_exp))
    docs = {
        d.url: d
        for d in session.scalars(select(PeerDocumentRow).where(PeerDocumentRow.body.is_not(None)))
    }
    records = [*(e.to_key_record() for e in entries), *(e.to_key_record() for e in stale)]
    for e in entries:
        for uri in e.status_lists:
            doc = docs.get(uri)
            if trusted is None or uri in statuses:
                continue
            if doc is not None and doc.body is not None:
                try:  # the trusted state's rules; a token it holds is compared, not verified
                    trusted.update_status_list(uri, doc.body, now=now)
                except DataError as exc:
                    log.warning("stored status list %s not taken: %s", uri, exc)
            held = trusted.status_list(uri, now=now)
            if held is not None:  # else expired or refused: STATUS_UNAVAILABLE
                statuses[uri] = StatusSource(issuer_id=e.issuer, snapshot=held.snapshot)
    uris = {e.issuer: e.status_lists for e in entries}
    return list(issuers.values()), records, uris


@dataclass(frozen=True)
class LiveState:
    trust: TrustSnapshot
    statuses: dict[str, StatusSource]
    version: int
    built_at: int
    public_url: str
    remote_status_uris: dict[str, tuple[str, ...]]  # other gateways' issuers → their lists


def type_info(ctype: CredentialType) -> TypeInfo:
    return TypeInfo(
        code=ctype.code,
        qr_code=ctype.qr_code,
        type_code=ctype.type_code,
        name_zh=ctype.name_zh,
        name_en=ctype.name_en,
        labels=tuple(FieldLabel(f.name, f.label_zh, f.label_en) for f in ctype.fields),
        personal=ctype.personal,
        max_status_age=ctype.max_status_age,
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
    peers: PeerTrust,
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
    remote_issuers, remote_keys, remote_uris = _remote(session, now, statuses, peers)
    trust = TrustSnapshot.build(
        issuers=[*issuers, *remote_issuers],
        keys=[*keys, *remote_keys],
        types=[type_info(t) for t in types],
        as_of=now,
    )
    return LiveState(
        trust=trust,
        statuses=statuses,
        version=city.state_version,
        built_at=now,
        public_url=city.public_url,
        remote_status_uris=remote_uris,
    )
