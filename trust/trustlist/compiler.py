"""What a gateway's next trust list holds, decided from verified chains and the previous list.

Pure: the compiling gateway (``gateway.trustsync``) walks the federation, verifies each issuing
agency's chain (``trust.federation.resolve_chain``) and hands the results here with the list it
signed last, as a :class:`trust.trustlist.document.TrustList`. Here it is decided

- which entries each verified chain gives (:func:`entries_for`: one per published credential key);
- which issuers of the previous list are carried forward while their chains last, because this
  sync could not reach them, and which are kept aside as stale once those chains expired;
- which issuers are left out, and why: a key or status list already another issuer's (the owner
  in the previous list keeps it), or a chain that ends before the list may;
- what "changed" means (:func:`entries_digest`): a list is re-signed only when it did, or when
  the one held is about to expire.

Deliberately not here: fetching, verifying chains, signing and storing the list, and when a sync
runs (``gateway.trustsync``, ``gateway.app``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from trust.errors import DataError
from trust.federation import ECERT_ISSUER, ResolvedChain
from trust.keys import PublicKey, is_short_alias
from trust.snapshot import ChainLink
from trust.trustlist.credential_types import types_to_json
from trust.trustlist.document import TrustList
from trust.trustlist.entry import ACTIVE, COMPROMISED, RETIRED, KeyEvent, TrustListEntry

_JWK_MEMBERS = ("kty", "crv", "x", "y", "kid")


def chain_roles(length: int) -> list[str]:
    """The role of each link of a chain of ``length``, leaf first: agency, city, region …"""
    return ["agency", "city", *["region"] * max(0, length - 2)][:length]


def _key_life(jwk: Mapping[str, Any]) -> tuple[int | None, int | None, tuple[KeyEvent, ...]]:
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
    nothing and are passed over: the full entry alone says what the key is and when it lived.
    Raises :class:`DataError` naming the leaf when its keys are unusable."""
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
    return key_entry(
        resolved.leaf_id, meta, chain, jwk,
        types=frozenset(resolved.credential_types),
        accepted=None if accepted is None else frozenset(accepted),
        policy=resolved.acceptance.policy if resolved.acceptance is not None else "",
        chain_exp=resolved.exp,
    )  # fmt: skip


def key_entry(
    issuer: str,
    meta: Mapping[str, Any],
    chain: tuple[ChainLink, ...],
    jwk: Mapping[str, Any],
    *,
    types: frozenset[str],
    accepted: frozenset[str] | None,
    policy: str,
    chain_exp: int,
) -> TrustListEntry:
    """The entry of one credential key (``jwk``, with ``iat`` and its retirement or
    compromise) of the issuer whose ``ecert_issuer`` metadata is ``meta``. Also what a city in
    no federation lists for its own agencies (``gateway.city_bundle``): there the chain is
    the city's own record, not one resolved."""
    retired, compromised, history = _key_life(jwk)
    return TrustListEntry(
        issuer=issuer,
        name=str(meta.get("organization_name") or issuer),
        uscc=str(meta.get("uscc") or "-"),
        region_code=str(meta.get("region_code") or "-"),
        chain=chain,
        key=PublicKey.from_jwk({k: v for k, v in jwk.items() if k in _JWK_MEMBERS}),
        types=types,
        accepted=accepted,
        policy=policy,
        status_lists=tuple(sorted(set(meta.get("status_lists", [])))),
        not_before=int(jwk["iat"]),
        retired_at=retired,
        compromised_at=compromised,
        history=history,
        chain_exp=chain_exp,
    )


@dataclass(frozen=True)
class Compiled:
    """The entries of the next list, and what became of the issuers not in it as resolved."""

    entries: tuple[TrustListEntry, ...]
    stale: tuple[dict[str, Any], ...]  # entries kept aside: unreachable, chains expired
    left_out: Mapping[str, str]  # issuer → why it is not in the list
    carried: tuple[str, ...]  # unreachable issuers whose last good entries are kept
    expired: tuple[str, ...]  # unreachable issuers moved to ``stale`` in this compile


def compile_entries(
    resolved: Sequence[TrustListEntry],
    *,
    reached: Collection[str],
    listed: Mapping[str, frozenset[str]],
    previous: TrustList | None,
    previous_stale: Sequence[Mapping[str, Any]],
    now: int,
    not_before_exp: int,
) -> Compiled:
    """The next list's entries: those of the chains resolved in this sync (``resolved``, for the
    issuers in ``reached``), plus the previous list's entries of issuers this sync could not
    resolve and that were not delisted (``listed``: each superior whose list answered → what it
    listed), while their chains last; then every issuer whose entries conflict, or whose chain
    ends before ``not_before_exp``, left out (one city's bad metadata costs its own issuers,
    not the region's list)."""
    carried_entries, stale, carried, expired = _carry_forward(
        previous, previous_stale, reached=set(reached), listed=listed, now=now
    )
    kept, left_out = _listable([*resolved, *carried_entries], not_before_exp, previous)
    return Compiled(
        entries=tuple(kept),
        stale=tuple(stale),
        left_out=left_out,
        carried=tuple(carried),
        expired=tuple(expired),
    )


def _carry_forward(
    previous: TrustList | None,
    previous_stale: Sequence[Mapping[str, Any]],
    *,
    reached: set[str],
    listed: Mapping[str, frozenset[str]],
    now: int,
) -> tuple[list[TrustListEntry], list[dict[str, Any]], list[str], list[str]]:
    stale = [dict(e) for e in previous_stale if e.get("issuer") not in reached]
    carried_entries: list[TrustListEntry] = []
    carried: list[str] = []
    expired: list[str] = []
    for entry in previous.entries if previous is not None else ():
        parent = entry.chain[1].id if len(entry.chain) > 1 else None
        delisted = parent is not None and parent in listed and entry.issuer not in listed[parent]
        if entry.issuer in reached or delisted:
            continue
        if entry.chain_exp > now:
            carried_entries.append(entry)
            carried.append(entry.issuer)
        else:
            stale.append(entry.to_json())
            expired.append(entry.issuer)
    return carried_entries, stale, carried, expired


def _listable(
    entries: Sequence[TrustListEntry], not_before_exp: int, previous: TrustList | None
) -> tuple[list[TrustListEntry], dict[str, str]]:
    by_issuer: dict[str, list[TrustListEntry]] = {}
    for entry in entries:
        by_issuer.setdefault(entry.issuer, []).append(entry)
    kid_owner: dict[str, str] = {}
    uri_owner: dict[str, str] = {}
    for e in previous.entries if previous is not None else ():
        kid_owner[e.kid] = e.issuer  # a key or status list never moves to another issuer
        uri_owner.update(dict.fromkeys(e.status_lists, e.issuer))
    kept: list[TrustListEntry] = []
    left_out: dict[str, str] = {}
    for issuer, group in by_issuer.items():
        problem = next(
            (p for e in group if (p := _conflict(e, kid_owner, uri_owner, not_before_exp))), None
        )
        if problem is not None:
            left_out[issuer] = problem
            continue
        for e in group:
            kid_owner[e.kid] = issuer
            uri_owner.update(dict.fromkeys(e.status_lists, issuer))
        kept.extend(group)
    return kept, left_out


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


def entries_digest(tl: TrustList) -> str:
    """What "changed" means: issuers, keys, types and their descriptions, acceptance and status
    lists, not the version, the times, nor ``chain_exp`` (it moves with every freshly signed
    statement; the list is re-signed anyway before its ``exp``). A list stored before lists
    described types digests otherwise, so the first sync after an upgrade signs one that does."""
    entries = [{k: v for k, v in e.to_json().items() if k != "chain_exp"} for e in tl.entries]
    types = types_to_json(tl.types or ())
    body = {"issuer": tl.issuer, "region": tl.region, "entries": entries, "types": types}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
