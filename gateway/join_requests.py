"""Join requests at a region trust anchor: taken, bounded, expired, rejected and purged.

A city asks its region's anchor to vouch for it by posting its self-signed Entity
Configuration (``POST /federation/join``, or :func:`request_join` from the operator's own
set-up). Anyone on the network can post one, so a request waits only within bounds:

- **one request per entity id**, and a waiting one is never displaced by a request signed by
  other keys: that is refused, and the operator rejects the waiting one if it is the wrong
  one (the attack corpus: a forged request replaced a waiting city's keys, so ``approve
  --kid`` kept refusing it). A request signed by the same keys renews the waiting one;
- **the entity's own configuration must agree** (HTTP callers): OpenID Federation has a
  superior fetch a subordinate's Entity Configuration from the entity id itself (§9, §3.5), and
  the anchor resolves the city that way afterwards anyway. So before a request takes a slot,
  the anchor fetches ``{entity_id}/.well-known/openid-federation`` (one GET of a fixed path,
  :data:`FETCH_DEADLINE` seconds and :data:`MAX_FETCHED` bytes at most, through the gateway's
  bounded fetcher; what it answered, or why it failed, is never shown to the requester) and it
  must carry exactly the request's keys. A made-up entity id serves nothing, and a request in
  another entity's name is not signed by the keys that entity serves: neither takes a slot;
- **per requester**: at most :data:`MAX_PER_ADDRESS` waiting requests from one client address
  (an IPv6 address counts by its /64) and :data:`MAX_PER_HOST` for entity ids on one host;
- **in total**: at most :data:`MAX_PENDING` waiting requests;
- **expiring**: a request waits :data:`JOIN_LIFETIME` seconds (72 hours). An expired request
  counts for nothing, cannot be approved, and is dropped when the next request is taken or by
  ``ecert federation purge``.

Each decision is the pure :func:`decide` (it takes ``now``); taking, rejecting and purging are
audit events. Deliberately not here: approval (``gateway.federation.approve``) and rate limits
on the endpoint as a whole (the gateway's limiter).
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import audit, federation
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import NotFound, Unprocessable
from gateway.models import FederationRow, SubordinateRow
from gateway.peers import HttpFetcher
from trust.errors import EcertError
from trust.federation import (
    FEDERATION_ENTITY,
    WELL_KNOWN_PATH,
    EntityStatement,
    verify_entity_configuration,
)

JOIN_LIFETIME = 72 * 3600  # seconds a join request waits for the operator
MAX_PENDING = 100  # waiting requests in all
MAX_PER_ADDRESS = 5  # waiting requests from one client address (IPv6: one /64)
MAX_PER_HOST = 5  # waiting requests for entity ids on one scheme://host:port
MAX_FETCHED = 64 * 1024  # bytes of the entity's own configuration
FETCH_DEADLINE = 5.0  # seconds for that fetch, connect to last byte
MAX_REASON = 200  # characters of a rejection's reason
UNKNOWN_ADDRESS = "unknown"
LOCAL = "local"  # the operator's own set-up, not over HTTP


class JoinRefused(Unprocessable):
    """A join request that takes no slot (400 ``invalid_request``), in zh-CN and English."""


@dataclass(frozen=True)
class Waiting:
    """A join request as the bounds see it."""

    entity_id: str
    kids: tuple[str, ...]
    address: str
    expires_at: int


def requester(host: str | None) -> str:
    """The client address a request counts against: an IPv4 address, an IPv6 /64 (one
    subscriber's usual allocation), or the name given (at most 64 characters)."""
    if not host:
        return UNKNOWN_ADDRESS
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _host(entity_id: str) -> str:
    parts = urlsplit(entity_id)
    return f"{parts.scheme}://{parts.netloc}"


def decide(
    *, entity_id: str, kids: Sequence[str], address: str, now: int, waiting: Sequence[Waiting]
) -> bool:
    """May this request wait? True when it renews the entity's own waiting request (same
    keys), False when it is new; raises :class:`JoinRefused` when it may not wait at all.
    ``waiting`` are the anchor's pending requests (expired ones count for nothing)."""
    live = [w for w in waiting if w.expires_at > now]
    own = next((w for w in live if w.entity_id == entity_id), None)
    if own is not None:
        if sorted(own.kids) == sorted(kids):
            return True
        raise JoinRefused(
            f"{entity_id} 已有一个由其他密钥签名的加入申请等待审核（{iso(own.expires_at)} 到期），"
            "本申请未替换它",
            f"a join request for {entity_id} signed by {', '.join(own.kids)} is already waiting "
            f"(until {iso(own.expires_at)}); expected a request signed by those keys, found one "
            f"signed by {', '.join(kids)}: the waiting request stands (its operator may "
            "reject it with `ecert federation reject`)",
        )
    bounds = (
        ([w for w in live if w.address == address], MAX_PER_ADDRESS,
         f"来自客户端地址 {address}", f"from the client address {address}"),
        ([w for w in live if _host(w.entity_id) == _host(entity_id)], MAX_PER_HOST,
         f"主机 {_host(entity_id)} 上的实体", f"for entity ids on {_host(entity_id)}"),
        (live, MAX_PENDING, "全部", "in all"),
    )  # fmt: skip
    for counted, bound, zh, en in bounds:
        if len(counted) >= bound:
            first = min(w.expires_at for w in counted)
            raise JoinRefused(
                f"{zh}的待审核加入申请已达上限 {bound} 个，{iso(first)} 起才有空位",
                f"at most {bound} join requests {en} may wait at once; found {len(counted)} "
                f"(the first expires at {iso(first)}, or the operator rejects some)",
            )
    return False


def _waiting(session: Session) -> tuple[list[SubordinateRow], list[Waiting]]:
    rows = list(session.scalars(select(SubordinateRow).where(SubordinateRow.status == "pending")))
    return rows, [
        Waiting(
            entity_id=r.entity_id,
            kids=tuple(sorted(str(j.get("kid")) for j in r.jwks)),
            address=r.client_address or UNKNOWN_ADDRESS,
            expires_at=expiry(r),
        )
        for r in rows
    ]


def expiry(row: SubordinateRow) -> int:
    """When a waiting request expires (a row from before expiry was recorded: by its time)."""
    return row.expires_at if row.expires_at is not None else row.requested_at + JOIN_LIFETIME


def _check_anchor(session: Session) -> None:
    if federation.config(session).role != federation.ANCHOR:
        raise JoinRefused(
            "只有区域信任锚受理加入申请",
            "only a region trust anchor takes join requests; this gateway is a city",
        )


def _confirm(fetcher: HttpFetcher, statement: EntityStatement, now: int) -> None:
    """The entity's own configuration, fetched from its entity id, carries the request's keys
    (one bounded GET; what it answered is not repeated to the requester)."""
    url = statement.sub + WELL_KNOWN_PATH
    bounded = HttpFetcher(
        fetcher.client, max_bytes=MAX_FETCHED, deadline=FETCH_DEADLINE, stop=fetcher.stop
    )
    try:
        served = verify_entity_configuration(
            bounded.fetch(url).decode("utf-8"), now=now, expected_sub=statement.sub
        )
    except (EcertError, UnicodeDecodeError) as exc:
        raise JoinRefused(
            f"无法从 {url} 取得该实体自身有效的实体配置，申请未受理",
            f"expected {statement.sub} to serve its own valid entity configuration at {url} "
            f"(OpenID Federation §9), within {FETCH_DEADLINE:g}s and {MAX_FETCHED} bytes; "
            "found none: serve it, then join again",
        ) from exc
    offered = sorted(k.kid for k in statement.jwks)
    found = sorted(k.kid for k in served.jwks)
    if found != offered:
        raise JoinRefused(
            f"{url} 上的实体配置所列密钥与申请中的不同，申请未受理",
            f"expected the entity configuration served at {url} to carry the request's keys "
            f"{', '.join(offered)}; found {', '.join(found)}: a join request must be signed by "
            "the keys the entity itself serves",
        )


def request_join(
    gw: Gateway,
    configuration: str,
    *,
    client_address: str | None = LOCAL,
    confirm_with: HttpFetcher | None = None,
) -> SubordinateRow:
    """Anchor side: a city asks to join, presenting its self-signed Entity Configuration.

    ``confirm_with`` fetches the entity's own configuration first (every HTTP request does);
    only the operator's own set-up, which read the configuration from the city's database,
    passes ``None``."""
    now = gw.clock()
    statement = verify_entity_configuration(configuration, now=now)
    federation.storable(statement.sub, "a joining city's entity id")
    kids = sorted(k.kid for k in statement.jwks)
    address = requester(client_address)
    with gw.sessions() as session:  # refuse what cannot wait before fetching anything
        _check_anchor(session)
        known = session.get(SubordinateRow, statement.sub)
        if known is not None and known.status == "approved":
            return known
        decide(entity_id=statement.sub, kids=kids, address=address, now=now,
               waiting=_waiting(session)[1])  # fmt: skip
    if confirm_with is not None:
        _confirm(confirm_with, statement, now)
    with gw.transaction() as session:
        session.execute(select(FederationRow.id).where(FederationRow.id == 1).with_for_update())
        _check_anchor(session)
        row = session.get(SubordinateRow, statement.sub)
        if row is not None and row.status == "approved":
            return row  # approved meanwhile
        rows, waiting = _waiting(session)
        renewal = decide(entity_id=statement.sub, kids=kids, address=address, now=now,
                         waiting=waiting)  # fmt: skip
        _drop_expired(session, [r for r in rows if r.entity_id != statement.sub], now=now,
                      actor="gateway", everything=False)  # fmt: skip
        name = str(statement.metadata.get(FEDERATION_ENTITY, {}).get("organization_name", ""))
        if row is None:
            row = SubordinateRow(entity_id=statement.sub, kind="city", credential_types=[])
            session.add(row)
        if not renewal or row.request_id is None:
            row.request_id = "jr-" + secrets.token_hex(8)
        row.name = "".join(c for c in name if c.isprintable())[:128]  # shown to the operator
        row.status, row.jwks = "pending", [dict(k.jwk) for k in statement.jwks]
        row.requested_at, row.expires_at, row.client_address = now, now + JOIN_LIFETIME, address
        row.decided_at = row.decided_by = None
        audit.record(session, at=now, actor=statement.sub, action="federation.join_request",
                     subject=statement.sub, request_id=row.request_id, kids=kids,
                     address_hash=_hash(address), renewal=renewal)  # fmt: skip
        session.flush()
        return row


def _hash(text: str) -> str:
    """An address in an audit record: a hash, never the address itself."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pending(gw: Gateway) -> list[dict[str, Any]]:
    """Every waiting join request, oldest first: id, entity, keys, when, from where, expiry."""
    now = gw.clock()
    with gw.sessions() as session:
        rows = sorted(_waiting(session)[0], key=lambda r: (r.requested_at, r.entity_id))
        return [
            {"id": r.request_id or r.entity_id, "entity_id": r.entity_id, "name": r.name,
             "kids": sorted(str(j.get("kid")) for j in r.jwks), "requested_at": r.requested_at,
             "address": r.client_address or UNKNOWN_ADDRESS, "expires_at": expiry(r),
             "expired": expiry(r) <= now}
            for r in rows
        ]  # fmt: skip


def reject(gw: Gateway, *, request_id: str, reason: str, actor: str) -> SubordinateRow:
    """Refuse one waiting request (by the id :func:`pending` lists); the entity may ask again."""
    reason = reason.strip()
    if not 1 <= len(reason) <= MAX_REASON:
        raise Unprocessable(
            f"拒绝理由须为 1 至 {MAX_REASON} 个字符，实际为 {len(reason)} 个",
            f"a rejection's reason must be 1 to {MAX_REASON} characters, found {len(reason)}",
        )
    now = gw.clock()
    with gw.transaction() as session:
        _check_anchor(session)
        rows = _waiting(session)[0]
        row = next((r for r in rows if (r.request_id or r.entity_id) == request_id), None)
        if row is None:
            raise NotFound(
                f"no waiting join request {request_id!r}: see `ecert federation pending`"
            )
        audit.record(session, at=now, actor=actor, action="federation.join_reject",
                     subject=row.entity_id, request_id=request_id,
                     kids=sorted(str(j.get("kid")) for j in row.jwks),
                     reason_hash=audit.text_hash(reason))  # fmt: skip
        session.delete(row)
        return row


def purge(gw: Gateway, *, everything: bool, actor: str) -> list[str]:
    """Drop the expired waiting requests (``everything``: every waiting request); their ids."""
    now = gw.clock()
    with gw.transaction() as session:
        _check_anchor(session)
        return _drop_expired(session, _waiting(session)[0], now=now, actor=actor,
                             everything=everything)  # fmt: skip


def _drop_expired(
    session: Session, rows: Sequence[SubordinateRow], *, now: int, actor: str, everything: bool
) -> list[str]:
    dropped = [r for r in rows if everything or expiry(r) <= now]
    if not dropped:
        return []
    ids = [r.request_id or r.entity_id for r in dropped]
    anchor = federation.config(session).entity_id
    audit.record(session, at=now, actor=actor, action="federation.join_purge", subject=anchor,
                 request_ids=ids, everything=everything)  # fmt: skip
    for r in dropped:
        session.delete(r)
    session.flush()
    return ids
