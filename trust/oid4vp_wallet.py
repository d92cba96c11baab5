"""The wallet's decisions about a counter's OpenID4VP 1.0 request, shared by the CLI wallet
(``ecert wallet present``) and the gateway's web wallet API (``/wallet/api/requests/resolve``).

- :func:`parse_link`: the ``client_id`` and ``request_uri`` of an ``openid4vp://`` link (§5.7),
  only with an ``openid_federation:`` client identifier (§5.9.3).
- :func:`resolve_counter`: the counter's trust chain to the trust anchors the caller names, and
  its ``ecert_verifier`` metadata (name, city, role, what the role may request).
- :func:`open_request`: the request object verified with the counter's federation keys from
  that chain, read (:func:`trust.oid4vp.read_request`), naming the link's ``client_id``.
- :func:`check_against_role`: fields within the role's ``may_request``, and a ``response_uri``
  in the counter's own city.

Pure: the chain is resolved through the caller's :class:`trust.federation.Fetcher`. Every
refusal is a :class:`RequestRefused` with a Chinese and an English message.

Deliberately not here: which anchors to trust (the CLI pins one the holder names; the gateway
uses its own), fetching the request object, consent, choosing a credential, presenting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from trust.errors import DataError
from trust.federation import ECERT_VERIFIER, ChainError, Fetcher, ResolvedChain, resolve_chain
from trust.jws import KeyIndex, verify_compact
from trust.keys import PublicKey
from trust.oid4vp import (
    FEDERATION_PREFIX,
    REQUEST_TYP,
    SCHEME,
    Oid4vpError,
    RequestObject,
    read_request,
)

MAX_LINK = 4096
VCT_PATH = "/vct/"


class RequestRefused(Oid4vpError):
    """The wallet will not answer this request: ``message_zh`` and ``message_en`` say why (the
    string form is both, Chinese first, as the CLI prints it)."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(f"{message_zh} · {message_en}")
        self.message_zh = message_zh
        self.message_en = message_en


def parse_link(link: str) -> tuple[str, str]:
    """``client_id`` and ``request_uri`` of an ``openid4vp://`` link (§5.7)."""
    if len(link) > MAX_LINK or not link.startswith(SCHEME):
        raise RequestRefused("不是出示请求链接", f"expected {SCHEME}?client_id=…&request_uri=…")
    query = parse_qs(urlsplit(link).query)
    client, uri = query.get("client_id", []), query.get("request_uri", [])
    if len(client) != 1 or len(uri) != 1:
        raise RequestRefused(
            "出示请求链接应含一个 client_id 和一个 request_uri", "expected one of each"
        )
    if not client[0].startswith(FEDERATION_PREFIX):
        raise RequestRefused(
            f"核验点标识应以 {FEDERATION_PREFIX} 开头", f"expected a {FEDERATION_PREFIX} client_id"
        )
    if urlsplit(uri[0]).scheme not in ("http", "https"):
        raise RequestRefused("request_uri 不是网址", "the request_uri is not an http(s) URL")
    return client[0], uri[0]


def resolve_counter(
    fetcher: Fetcher,
    entity: str,
    *,
    trust_anchors: Mapping[str, Sequence[PublicKey]],
    now: int,
) -> tuple[ResolvedChain, dict[str, Any]]:
    """The counter's chain to one of ``trust_anchors`` and its ``ecert_verifier`` metadata."""
    try:
        chain = resolve_chain(entity, fetcher=fetcher, trust_anchors=trust_anchors, now=now)
    except ChainError as exc:
        raise RequestRefused(
            "核验点不在所信任的联邦中",
            f"the counter does not resolve to {', '.join(sorted(trust_anchors))}: {exc}",
        ) from exc
    meta = chain.metadata.get(ECERT_VERIFIER)
    if not isinstance(meta, Mapping):
        raise RequestRefused(
            f"{entity} 不是核验点", f"expected {ECERT_VERIFIER} metadata, found none"
        )
    return chain, dict(meta)


def open_request(token: str, chain: ResolvedChain, *, client: str, now: int) -> RequestObject:
    """The request object, signed by the counter's federation key from ``chain`` (JAR §5),
    current, and naming ``client`` as its ``client_id`` (and ``iss``, when present)."""
    entity = client[len(FEDERATION_PREFIX) :]
    try:
        verified = verify_compact(token, KeyIndex(chain.keys), typ=REQUEST_TYP)
    except DataError as exc:
        raise RequestRefused(
            "出示请求的签名不是该核验点的", f"the request is not signed by {entity}: {exc}"
        ) from exc
    try:
        asked = read_request(verified.payload, now=now)
    except Oid4vpError as exc:
        raise RequestRefused("出示请求内容无效", f"unusable request object: {exc}") from exc
    if asked.client_id != client or verified.payload.get("iss", client) != client:
        raise RequestRefused(
            "出示请求的 client_id 与链接不符",
            f"expected client_id {client}, found {asked.client_id}",
        )
    return asked


def type_code(vct: str) -> str:
    """The credential type code a ``vct`` names (``…/vct/{code}``)."""
    return urlsplit(vct).path.rsplit(VCT_PATH, 1)[-1]


def check_against_role(asked: RequestObject, meta: Mapping[str, Any], entity: str) -> str:
    """The type asked for, once the role allows every field and the answer goes to the
    counter's own city."""
    ctype = type_code(asked.vct)
    may = meta.get("may_request")
    allowed = may.get(ctype, []) if isinstance(may, dict) else []
    beyond = [f for f in asked.claims if f not in allowed]
    if beyond:
        raise RequestRefused(
            "核验点的角色不能索取这些字段，已拒绝",
            f"the counter's role may not ask for {beyond} of {ctype} (it may ask for {allowed})",
        )
    city = str(meta.get("city_entity_id", "")).rstrip("/")
    if not city or not asked.response_uri.startswith(city + "/") or not entity.startswith(city):
        raise RequestRefused(
            "应答地址不属于核验点所在城市",
            f"expected a response_uri under {city or '?'}, found {asked.response_uri[:200]}",
        )
    return ctype
