"""Who sent a message from another city's gateway about one of its counters (a reference
request, a use report): decided from the federation, never from the message alone.

1. the message names a city (``iss``) and one of its counters (``{iss}/verifiers/{id}``); the
   city must be a member this gateway knows (:func:`gateway.federation.known_entities`) or one
   its trust anchor lists: nothing is fetched from a host a stranger names;
2. the counter's chain resolves to this gateway's trust anchors
   (:func:`trust.oid4vp_wallet.resolve_counter`) through ``iss`` (its superior, and the city
   its metadata names); ``iss``'s federation keys are those that chain vouches for, and the
   caller checks the message's signature with them.

Every refusal is :class:`gateway.errors.Unprocessable` with zh-CN and English.

Deliberately not here: reading the message itself (:mod:`trust.reference_request`), HTTP.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from gateway.core import Gateway
from gateway.errors import Conflict, NotFound, Unprocessable
from gateway.federation import known_entities
from gateway.peers import HttpFetcher
from gateway.trustsync import trust_anchors
from trust.errors import DataError, FetchError
from trust.federation import ResolvedChain, check_entity_id, parse_subordinate_listing
from trust.keys import PublicKey
from trust.oid4vp_wallet import RequestRefused, resolve_counter
from trust.reference_request import PeerMessageRefused, unverified_sender

LIST_PATH = "/federation/list"


def _refuse(zh: str, en: str) -> Unprocessable:
    return Unprocessable(zh, en)


def _listed(gw: Gateway, fetcher: HttpFetcher, city: str, anchors: list[str]) -> bool:
    """Whether ``city`` is a federation member known here, or listed by one of our anchors."""
    if city in known_entities(gw):
        return True
    for anchor in anchors:
        try:
            if city in parse_subordinate_listing(fetcher.fetch(anchor + LIST_PATH)):
                return True
        except (FetchError, DataError):
            continue
    return False


def _keys_of(chain: ResolvedChain, entity: str) -> tuple[PublicKey, ...]:
    """``entity``'s federation keys as its superior vouches for them in ``chain``."""
    for statement in chain.chain.statements[1:]:
        if statement.sub == entity and statement.iss != entity:
            return statement.jwks
    return ()


@dataclass(frozen=True)
class Sender:
    city: str  # entity id
    counter: str  # entity id, under the city
    chain: ResolvedChain  # the counter's, to one of our anchors
    meta: dict[str, Any]  # the counter's ecert_verifier metadata, as resolved
    keys: tuple[PublicKey, ...]  # the city's federation keys, as the chain vouches for them


def sender(gw: Gateway, fetcher: HttpFetcher, token: object, now: int) -> Sender:
    """Who sent ``token``, checked through the federation (its signature is not checked
    here: :func:`read_signed` does that with the keys found)."""
    try:
        city, counter = unverified_sender(token)
        check_entity_id(city, "iss")
        check_entity_id(counter, "verifier_entity_id")
    except DataError as exc:
        raise _refuse("网关间请求无法识别", f"expected iss and verifier_entity_id: {exc}") from exc
    if not counter.startswith(city + "/verifiers/"):
        raise _refuse("核验点不属于发送请求的城市",
                      f"expected a counter under {city}/verifiers/, found {counter}")  # fmt: skip
    try:
        anchors = trust_anchors(gw)
    except (Conflict, NotFound) as exc:
        raise _refuse("本网关尚未加入联邦", f"cannot check other cities: {exc}") from exc
    if not _listed(gw, fetcher, city, sorted(anchors)):
        raise _refuse(
            "发送请求的城市不是本网关所知的联邦成员",
            f"expected a city known to this gateway's federation, found {city}",
        )
    try:
        chain, meta = resolve_counter(fetcher, counter, trust_anchors=anchors, now=now)
    except RequestRefused as exc:
        raise _refuse(exc.message_zh, exc.message_en) from exc
    if len(chain.path) < 2 or chain.path[1] != city or meta.get("city_entity_id") != city:
        raise _refuse("核验点的上级不是发送请求的城市",
                      f"expected {counter} vouched for by {city}, found path "
                      f"{' → '.join(chain.path)}")  # fmt: skip
    keys = _keys_of(chain, city)
    if not keys:
        raise _refuse("找不到发送城市的联邦密钥", f"no statement in the chain vouches for {city}")
    return Sender(city, counter, chain, meta, keys)


class FromCounter(Protocol):
    """A message a city sends for one of its counters."""

    @property
    def iss(self) -> str: ...
    @property
    def verifier_entity_id(self) -> str: ...


M = TypeVar("M", bound=FromCounter)


def read_signed(
    gw: Gateway, fetcher: HttpFetcher, token: object, now: int,
    read: Callable[[object, tuple[PublicKey, ...]], M],
) -> tuple[M, Sender]:  # fmt: skip
    """The message ``read`` finds in ``token`` with the keys of its :func:`sender`, once it is
    signed by that city for that counter (the names in it were only hints until then)."""
    who = sender(gw, fetcher, token, now)
    try:
        message = read(token, who.keys)
    except PeerMessageRefused as exc:
        raise _refuse(exc.message_zh, exc.message_en) from exc
    if message.iss != who.city or message.verifier_entity_id != who.counter:
        raise _refuse(
            "网关间消息内容不一致",
            f"expected iss {who.city} and counter {who.counter} as signed, found others",
        )
    return message, who
