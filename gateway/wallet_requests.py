"""The web wallet asks its own gateway who a counter is (``POST /wallet/api/requests/resolve``).

OpenID Federation in a browser is too much; the page asks the gateway that served its code,
which the holder trusts already. :func:`resolve_request` takes the counter's ``openid4vp://``
link and decides as the CLI wallet does (:mod:`trust.oid4vp_wallet`), with this gateway's own
trust anchor (:func:`gateway.trustsync.trust_anchors`) in place of one the holder pins:

1. the link names an ``openid_federation:`` counter whose entity id lies under an entity this
   gateway knows as a member of its federation (:func:`gateway.federation.known_entities`), and
   a ``request_uri`` on the counter's own origin: the gateway fetches nothing a stranger names;
2. the counter's chain resolves to this gateway's trust anchor, through the app's bounded
   peer fetcher (:mod:`gateway.peers`: time, size and the app's stop);
3. the request object (at most :data:`MAX_REQUEST_OBJECT` bytes) is signed by the counter's
   federation key from that chain, current, and names the link's ``client_id``;
4. the fields are within what the counter's role, or a role granted by one of its valid and
   active trust marks (:func:`gateway.trustmarks.widen_by_marks`, as the CLI wallet), may
   request, and ``response_uri`` is in the counter's city.

The answer is what the consent screen shows (the counter's name, city and role, the chain, the
type and fields with zh/en labels, the reason) and what the browser needs to answer
(``client_id``, ``nonce``, ``state``, ``response_uri``, the DCQL credential query id). Every
refusal is :class:`gateway.errors.Unprocessable` (422) with a Chinese and an English message:
a counter that cannot be reached is the holder's problem to read, not a gateway failure.

Deliberately not here: the holder's key, credentials and history (the browser's IndexedDB),
building or posting the presentation (the browser does, to the counter's ``response_uri``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from gateway import trustmarks
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound, Unprocessable
from gateway.federation import known_entities
from gateway.peers import HttpFetcher
from gateway.trustsync import trust_anchors
from trust.errors import DataError, FetchError
from trust.federation import check_entity_id
from trust.federation.common import same_origin
from trust.oid4vp import FEDERATION_PREFIX, QUERY_ID
from trust.oid4vp_wallet import (
    RequestRefused,
    check_against_role,
    open_request,
    parse_link,
    resolve_counter,
    type_code,
)

MAX_REQUEST_OBJECT = 64 * 1024  # bytes; one request object is about 1.5 kB


def _counter(gw: Gateway, client: str, request_uri: str) -> str:
    """The counter's entity id, once it is a member known here and ``request_uri`` is on its
    origin (checked before anything is fetched)."""
    entity = client[len(FEDERATION_PREFIX) :]
    try:
        check_entity_id(entity, "the counter's entity id")
    except DataError as exc:
        raise RequestRefused("核验点标识不是有效的实体标识", str(exc)) from exc
    known = known_entities(gw)
    if entity not in known and not any(entity.startswith(k + "/") for k in known):
        raise RequestRefused(
            "核验点不属于本网关所知的联邦成员，不会向其发起请求",
            f"expected a counter under a federation member known to this gateway, found {entity}",
        )
    parts = urlsplit(request_uri)
    if not same_origin(request_uri, entity) or parts.username or parts.password:
        raise RequestRefused(
            "出示请求地址不在核验点自己的网站上",
            f"expected a request_uri on the origin of {entity}, found {request_uri[:200]}",
        )
    return entity


def _fetch(fetcher: HttpFetcher, request_uri: str) -> str:
    try:
        body = fetcher.fetch(request_uri)
    except FetchError as exc:
        raise RequestRefused(
            "无法获取出示请求（可能已过期或已应答）",
            f"cannot fetch the request object (expired or answered?): {exc}",
        ) from exc
    if len(body) > MAX_REQUEST_OBJECT:
        raise RequestRefused(
            "出示请求过大", f"expected at most {MAX_REQUEST_OBJECT} bytes, found {len(body)}"
        )
    return body.decode("ascii", "replace").strip()


def resolve_request(gw: Gateway, fetcher: HttpFetcher, link: str) -> dict[str, Any]:
    """Who asks, for what and why, and how to answer; or :class:`Unprocessable`."""
    now = gw.clock()
    try:
        client, request_uri = parse_link(link)
        try:
            anchors = trust_anchors(gw)
        except (Conflict, NotFound) as exc:  # no federation, or a city that has not joined
            raise RequestRefused(
                "本网关尚未加入联邦，无法核实核验点", f"cannot resolve counters: {exc}"
            ) from exc
        entity = _counter(gw, client, request_uri)
        chain, meta = resolve_counter(fetcher, entity, trust_anchors=anchors, now=now)
        asked = open_request(_fetch(fetcher, request_uri), chain, client=client, now=now)
        meta, marks = trustmarks.widen_by_marks(
            fetcher, chain, meta, subject=entity, credential_type=type_code(asked.vct),
            claims=asked.claims, now=now,
        )  # fmt: skip
        ctype = check_against_role(asked, meta, entity)
    except RequestRefused as exc:
        raise Unprocessable(exc.message_zh, exc.message_en) from exc
    role_name = meta.get("role_name")
    role = role_name if isinstance(role_name, dict) else {}
    known_type = gw.types.get(ctype) if ctype in gw.types else None
    labels = known_type.labels if known_type is not None else {}
    return {
        "verifier": {
            "entity_id": entity,
            "name": str(meta.get("organization_name") or entity),
            "city": str(meta.get("city_name") or ""),
            "city_entity_id": str(meta.get("city_entity_id") or ""),
            "role": {
                "code": str(meta.get("role") or ""),
                "zh": str(role.get("zh") or ""),
                "en": str(role.get("en") or ""),
            },
        },
        "chain": list(chain.path),
        "roles_by_trust_mark": [
            {"zh": m.mark.role.name_zh, "en": m.mark.role.name_en, "issuer": m.mark.iss}
            for m in marks
            if m.mark is not None and m.mark.role is not None
        ],
        "trust_anchor": chain.anchor_id,
        "credential_type": {
            "code": ctype,
            "zh": known_type.name_zh if known_type else ctype,
            "en": known_type.name_en if known_type else ctype,
        },
        "vct": asked.vct,
        "fields": [
            {"name": name, "label": labels.get(name, {"zh": name, "en": name})}
            for name in asked.claims
        ],
        "purpose": asked.purpose,
        "client_id": asked.client_id,
        "nonce": asked.nonce,
        "state": asked.state,
        "response_uri": asked.response_uri,
        "query_id": QUERY_ID,
        "expires_at": asked.exp,
    }
