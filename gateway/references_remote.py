"""A counter resolves another city's reference code (亮证码): this gateway asks the issuing
city's gateway, and shows the answer as it would a local resolution.

1. The code's routable form names the issuing city by its region code (``330100-…``). The
   city's gateway is found from data this gateway holds, never from the input: the city links
   of its trust state's issuer chains, each resolved through the federation to this gateway's
   trust anchors (:func:`trust.federation.resolve_chain`), whose ``ecert_gateway`` metadata says
   its ``city_code``. That chain also gives the city's federation keys.
2. The request (:class:`trust.reference_request.ReferenceRequest`) is signed with this
   gateway's federation key; it names the counter, its role, the reason and the types this
   gateway's trust state accepts from that city (its policy), and is POSTed to the city's
   ``/federation/reference_resolve`` (bounded in time and size, :mod:`gateway.peers`).
3. The answer must be signed by that city's federation keys, for this gateway, naming the
   request. Before anything is shown, the issuer it names is checked against this gateway's
   own trust state (known, under that city, authorised for the type, accepted by policy), and
   the fields are cut to what the counter's effective role may see here too.

A city that cannot be reached, refuses, or answers something that does not verify gives the
counter a refusal with a reason code (STATUS_UNAVAILABLE, BAD_SIGNATURE …), never an error of
this gateway; a counter whose role may see nothing gets the issuing city's 403.

Deliberately not here: throttling and the local resolution (:mod:`gateway.references`), the
issuing side (:mod:`gateway.reference_requests`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway import audit, trustmarks
from gateway.core import Gateway
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.federation import CITY, ECERT_GATEWAY, config, own_signing_key
from gateway.peers import HttpFetcher
from gateway.presentation_answers import result_json
from gateway.trustsync import trust_anchors
from gateway.verifiers import Counter
from trust.errors import DataError, FetchError
from trust.federation import ChainError, resolve_chain
from trust.keys import PublicKey
from trust.reference_code import TypedCode
from trust.reference_request import REQUEST_TYP, make_request, read_answer
from trust.snapshot import IssuerRecord
from verify.delegation import Delegation, DelegationClaimError
from verify.presentation import PresentationResult
from verify.reasons import Reason
from verify.result_json import iso

RESOLVE_PATH = "/federation/reference_resolve"
REQUEST_MEDIA_TYPE = f"application/{REQUEST_TYP}"
MAX_CANDIDATES = 64  # cities tried to find a region code's gateway
ASK_DEADLINE = 8.0  # seconds for the whole request to the issuing city
REFERENCE_ASKED = "reference.resolve_remote"


@dataclass(frozen=True)
class Refusal:
    """Why a remote code shows nothing: a reason code and an English detail."""

    reason: Reason
    detail: str


@dataclass(frozen=True)
class CityPeer:
    entity: str
    keys: tuple[PublicKey, ...]
    issuers: tuple[IssuerRecord, ...]  # this gateway's trust state's issuers under it


def _candidates(gw: Gateway, city_code: str) -> dict[str, list[IssuerRecord]]:
    """City entity ids of the trust state's issuer chains, those whose issuers' region codes
    share the code's prefecture first."""
    cities: dict[str, list[IssuerRecord]] = {}
    for issuer in gw.state.trust.issuers.values():
        for link in issuer.chain:
            if link.role == "city" and "://" in link.id:
                cities.setdefault(link.id, []).append(issuer)
    near = sorted(cities, key=lambda c: not any(
        i.region_code[:4] == city_code[:4] for i in cities[c]))  # fmt: skip
    return {c: cities[c] for c in near[:MAX_CANDIDATES]}


def city_peer(
    gw: Gateway, fetcher: HttpFetcher, city_code: str, now: int
) -> CityPeer | Refusal | None:
    """The gateway of the city with ``city_code``, its keys from its chain to this gateway's
    anchors; ``None`` when no city of the federation known here has it."""
    try:
        anchors = trust_anchors(gw)
    except (Conflict, NotFound) as exc:
        return Refusal(Reason.STATUS_UNAVAILABLE, f"this gateway is in no federation: {exc}")
    unreachable: list[str] = []
    for entity, issuers in _candidates(gw, city_code).items():
        try:
            chain = resolve_chain(entity, fetcher=fetcher, trust_anchors=anchors, now=now)
        except ChainError as exc:
            if exc.unavailable:
                unreachable.append(entity)
            continue
        meta = chain.metadata.get(ECERT_GATEWAY, {})
        if meta.get("city_code") == city_code and meta.get("role") == CITY:
            return CityPeer(entity, tuple(chain.keys), tuple(issuers))
    if unreachable:
        return Refusal(
            Reason.STATUS_UNAVAILABLE,
            f"cannot reach {', '.join(unreachable[:3])} to learn which serves region "
            f"{city_code}; try again later",
        )
    return None


def _peer_error(status: int, body: bytes) -> str:
    """A peer's §8.9 error answer, as text (its own zh-CN and English description)."""
    try:
        parsed = json.loads(body[:4096])
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("error_description"), str):
        return f"{parsed.get('error')}: {parsed['error_description'][:300]}"
    return f"HTTP {status}"


def _shown(
    gw: Gateway, fetcher: HttpFetcher, counter: Counter, peer: CityPeer,
    result: Mapping[str, Any], now: int,
) -> dict[str, Any] | Refusal:  # fmt: skip
    """The counter's answer from a verified remote result, checked against this gateway's
    own trust state and the counter's role here."""
    try:
        reason = Reason(result["reason"])
    except ValueError:
        return Refusal(Reason.MALFORMED, f"the issuing city answered reason {result['reason']!r}")
    detail = str(result.get("detail") or "")[:500]
    ctype = result.get("type")
    if not isinstance(ctype, str) or ctype not in gw.types:
        if reason is Reason.VALID:
            return Refusal(Reason.UNSUPPORTED, f"the credential type {ctype!r:.60} is unknown here")
        return Refusal(reason, f"{peer.entity}: {detail}")
    issuer = gw.state.trust.issuers.get(str(result.get("issuer_entity")))
    fields: dict[str, Any] = {}
    if reason is Reason.VALID:
        under = issuer is not None and any(c.id == peer.entity for c in issuer.chain)
        if issuer is None or not under:
            return Refusal(Reason.UNKNOWN_ISSUER, f"{result.get('issuer_entity')!r:.200} is not "
                           f"an issuer of {peer.entity} in this gateway's trust list")  # fmt: skip
        if ctype not in issuer.types:
            return Refusal(Reason.ISSUER_NOT_AUTHORISED,
                           f"{issuer.name} is not authorised for {ctype}")  # fmt: skip
        if issuer.accepted is not None and ctype not in issuer.accepted:
            return Refusal(Reason.NOT_ACCEPTED_BY_POLICY,
                           f"policy {issuer.policy or '(unnamed)'} does not accept {ctype!r} "
                           f"from {issuer.name}")  # fmt: skip
        allowed = trustmarks.may_see(gw, fetcher, verifier_id=counter.id, credential_type=ctype)
        sent = result.get("fields")
        fields = {n: v for n, v in sent.items() if n in allowed} if isinstance(sent, dict) else {}
    shown_by = result.get("delegation")
    try:  # a delegate's code (委托用证): who shows it, as the issuing city answered
        delegation = None if shown_by is None else Delegation.from_shown(shown_by)
    except DelegationClaimError as exc:
        return Refusal(Reason.MALFORMED, f"the issuing city's delegation is malformed: {exc}")
    answer = PresentationResult(reason, detail, now, fields, True, issuer, None, delegation)
    out = result_json(gw, answer, ctype)
    status_as_of = result.get("status_as_of")
    out["status_as_of"] = status_as_of if isinstance(status_as_of, str) else None
    out["freshness"] = {"trust": iso(gw.state.trust.as_of), "status": out["status_as_of"]}
    return out


def _accepted(issuers: Sequence[IssuerRecord]) -> set[str]:
    """The types this gateway's trust state accepts from a city's issuers (its policy)."""
    types: set[str] = set()
    for i in issuers:
        types |= i.types if i.accepted is None else i.types & i.accepted
    return types


def ask(
    gw: Gateway, fetcher: HttpFetcher | None, counter: Counter, counter_entity: str,
    typed: TypedCode, purpose: str, now: int,
) -> dict[str, Any] | Refusal | None:  # fmt: skip
    """Resolve ``typed`` (another city's code) for ``counter`` at the city that issued it: the
    counter's answer, a :class:`Refusal`, or ``None`` for a region code no known city has."""
    if fetcher is None or typed.city_code is None:
        return Refusal(Reason.STATUS_UNAVAILABLE, "this gateway cannot reach other cities here")
    peer = city_peer(gw, fetcher, typed.city_code, now)
    if not isinstance(peer, CityPeer):
        return peer
    with gw.sessions() as session:
        own = config(session).entity_id
    request, token = make_request(
        own_signing_key(gw), iss=own, aud=peer.entity, code=typed.code,
        verifier_entity_id=counter_entity, role=counter.role, reason=purpose,
        accepted_types=_accepted(peer.issuers), now=now,
    )  # fmt: skip
    url = peer.entity + RESOLVE_PATH
    try:
        status, body = fetcher.post(
            url, token, content_type=REQUEST_MEDIA_TYPE, deadline=ASK_DEADLINE
        )
    except FetchError as exc:
        return Refusal(Reason.STATUS_UNAVAILABLE, f"the issuing city cannot be reached: {exc}")
    if status == 403:
        raise Forbidden(f"签发城市拒绝：核验点的角色不能查看 · {_peer_error(status, body)}")
    if status != 200:
        refused = f"the issuing city {peer.entity} refused: {_peer_error(status, body)}"
        return Refusal(Reason.STATUS_UNAVAILABLE, refused)
    try:
        answer = read_answer(
            body.decode("ascii").strip(), peer.keys, issuer=peer.entity, audience=own,
            request_jti=request.jti, now=now,
        )  # fmt: skip
    except (DataError, UnicodeDecodeError) as exc:
        return Refusal(Reason.BAD_SIGNATURE, f"the answer is not {peer.entity}'s: {exc}")
    shown = _shown(gw, fetcher, counter, peer, answer.result, now)
    reason = shown.reason if isinstance(shown, Refusal) else Reason(shown["reason"])
    with gw.transaction() as session:
        audit.record(session, at=now, actor=f"verifier:{counter.id}", action=REFERENCE_ASKED,
                     subject=peer.entity[:128], reason=reason.value, request=request.jti,
                     answered=str(answer.result.get("reason")))  # fmt: skip
    return shown
