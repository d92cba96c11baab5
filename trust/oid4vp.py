"""OpenID for Verifiable Presentations 1.0, the parts that decide: a counter's signed request
object (§5, JAR RFC 9101, ``typ: oauth-authz-req+jwt``) for the cross-device flow
(``response_mode=direct_post``, §8.2), its DCQL query (§6) for one SD-JWT VC and chosen claim
paths, and the ``openid_federation:`` client identifier prefix (§5.9.3). Pure: claims, keys and
``now`` in; a token or a :class:`RequestObject` out, or an :class:`Oid4vpError`.

The reason a counter asks is carried in ``purpose``, a member of our own beside the registered
parameters (a wallet that does not know it ignores it; OpenID4VP's ``transaction_data`` would
make a wallet that does not know its type refuse the request).

Deliberately not here: who a counter is and what its role lets it ask (the caller resolves the
client identifier through the federation and checks the role), nonces' single use (the
verifier's records), verifying a presentation (verify/presentation.py) and HTTP. The
response's shape (``vp_token``) is read here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from trust.encoding import b64url_decode
from trust.errors import DataError
from trust.jws import sign_compact
from trust.keys import SigningKey

REQUEST_TYP = "oauth-authz-req+jwt"
REQUEST_MEDIA_TYPE = "application/oauth-authz-req+jwt"
FEDERATION_PREFIX = "openid_federation:"
SCHEME = "openid4vp://"
STATIC_AUDIENCE = "https://self-issued.me/v2"  # §5.8: a request with no wallet metadata
SD_JWT_VC_FORMAT = "dc+sd-jwt"
QUERY_ID = "credential"
MAX_CLAIMS = 32
MAX_PURPOSE = 200  # characters, as the national 用证事由 (DOMAIN-CN.md)


class Oid4vpError(DataError):
    """A request or response that does not follow OpenID4VP 1.0 as we use it."""


def client_id(entity_id: str) -> str:
    """The client identifier of a verifier that is a federation leaf (§5.9.3)."""
    return f"{FEDERATION_PREFIX}{entity_id}"


def dcql_query(vct: str, claims: Sequence[str]) -> dict[str, Any]:
    """A DCQL query (§6) for one SD-JWT VC of type ``vct`` and these top-level claims."""
    if not 1 <= len(claims) <= MAX_CLAIMS or len(set(claims)) != len(claims):
        raise Oid4vpError(f"expected 1 to {MAX_CLAIMS} distinct claims, found {list(claims)!r}")
    return {
        "credentials": [
            {
                "id": QUERY_ID,
                "format": SD_JWT_VC_FORMAT,
                "meta": {"vct_values": [vct]},
                "claims": [{"path": [name]} for name in claims],
            }
        ]
    }


@dataclass(frozen=True)
class RequestObject:
    """What a counter asks, before it is signed."""

    client_id: str
    response_uri: str
    nonce: str
    state: str
    vct: str
    claims: tuple[str, ...]
    purpose: str
    iat: int
    exp: int

    def __post_init__(self) -> None:
        if not self.client_id.startswith(FEDERATION_PREFIX):
            raise Oid4vpError(f"expected a {FEDERATION_PREFIX} client_id, found {self.client_id}")
        if not 1 <= len(self.purpose.strip()) <= MAX_PURPOSE:
            raise Oid4vpError(
                f"expected a purpose of 1 to {MAX_PURPOSE} characters, found {len(self.purpose)}"
            )
        if not 16 <= len(self.nonce) <= 128 or not 16 <= len(self.state) <= 128:
            raise Oid4vpError("expected a nonce and a state of 16 to 128 characters")
        if self.exp <= self.iat:
            raise Oid4vpError(f"expected exp after iat, found iat {self.iat} exp {self.exp}")

    def claims_set(self) -> dict[str, Any]:
        return {
            "iss": self.client_id,
            "aud": STATIC_AUDIENCE,
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": self.response_uri,
            "nonce": self.nonce,
            "state": self.state,
            "dcql_query": dcql_query(self.vct, self.claims),
            "purpose": self.purpose,
            "iat": self.iat,
            "exp": self.exp,
        }

    def sign(self, key: SigningKey) -> str:
        """The request object as a compact JWS signed by the counter's key (JAR, §5)."""
        return sign_compact(self.claims_set(), key, typ=REQUEST_TYP)


def request_link(client: str, request_uri: str) -> str:
    """What the counter's QR says: ``openid4vp://?client_id=…&request_uri=…`` (§5.7)."""
    return f"{SCHEME}?client_id={quote(client, safe='')}&request_uri={quote(request_uri, safe='')}"


# --- the response (§8.2 direct_post, §8.1 vp_token) ------------------------------------------

MAX_VP_TOKEN = 40_000  # characters of the vp_token form value (one SD-JWT+KB is ≤ 32 768)
MAX_STATE = 128


class ResponseRefused(Oid4vpError):
    """A direct_post answer refused before (or instead of) verifying it: ``error`` is the
    OAuth-style code, the message English, ``message_zh`` Chinese."""

    def __init__(self, error: str, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.error = error
        self.message_zh = message_zh
        self.message_en = message_en


def presentation_from_vp_token(raw: str) -> str:
    """The one SD-JWT VC presentation in a ``vp_token`` (§8.1): a JSON object keyed by the DCQL
    credential query id, its value an array of presentations (or, as a wallet may send, one
    string). We ask for one credential (``multiple`` is false), so exactly one is expected."""
    if not raw or len(raw) > MAX_VP_TOKEN:
        raise ResponseRefused(
            "invalid_request",
            f"vp_token 须为 1–{MAX_VP_TOKEN} 个字符",
            f"expected a vp_token of 1 to {MAX_VP_TOKEN} characters, found {len(raw)}",
        )
    try:
        token = json.loads(raw)
    except ValueError as exc:
        raise ResponseRefused(
            "invalid_request", "vp_token 不是 JSON 对象", f"expected a JSON object vp_token: {exc}"
        ) from exc
    if not isinstance(token, dict) or set(token) != {QUERY_ID}:
        keys = sorted(token)[:5] if isinstance(token, dict) else type(token).__name__
        raise ResponseRefused(
            "invalid_request",
            f"vp_token 须只含查询 {QUERY_ID!r} 的出示",
            f"expected a vp_token object with the one key {QUERY_ID!r}, found {keys}",
        )
    value = token[QUERY_ID]
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str) or not value:
        raise ResponseRefused(
            "invalid_request",
            "vp_token 须恰含一份出示",
            f"expected one presentation (a string) for {QUERY_ID!r}, found {type(value).__name__}"
            + (f" of {len(value)}" if isinstance(value, list) else ""),
        )
    return value


def unverified_kb_nonce(presentation: str) -> str | None:
    """The ``nonce`` a presentation's KB-JWT claims, unverified: only to find which issued
    nonce to hold it to (the KB-JWT's signature is checked against that nonce afterwards)."""
    last = presentation.rsplit("~", 1)[-1] if "~" in presentation else ""
    parts = last.split(".")
    if len(parts) != 3 or len(parts[1]) > 2 * MAX_VP_TOKEN:
        return None
    try:
        claims = json.loads(b64url_decode(parts[1]))
    except (DataError, ValueError):
        return None
    nonce = claims.get("nonce") if isinstance(claims, dict) else None
    return nonce if isinstance(nonce, str) and 0 < len(nonce) <= 256 else None


# --- the wallet's side: reading a verified request object (§5) -------------------------------


def read_request(claims: Mapping[str, Any], *, now: int, leeway: int = 60) -> RequestObject:
    """What a request object asks, from its verified claims: the parameters a wallet needs
    (``client_id``, ``response_uri``, ``nonce``, ``state``, the DCQL query for one SD-JWT VC
    and top-level claim paths, ``purpose``), refusing anything else we do not answer and a
    request past its ``exp``."""

    def text(name: str, limit: int = 2048) -> str:
        value = claims.get(name)
        if not isinstance(value, str) or not 0 < len(value) <= limit:
            raise Oid4vpError(f"expected a string {name} of at most {limit} characters")
        return value

    if claims.get("response_type") != "vp_token" or claims.get("response_mode") != "direct_post":
        raise Oid4vpError(
            "expected response_type vp_token and response_mode direct_post, found "
            f"{str(claims.get('response_type'))[:40]!r}, {str(claims.get('response_mode'))[:40]!r}"
        )
    iat, exp = claims.get("iat"), claims.get("exp")
    if type(iat) is not int or type(exp) is not int:
        raise Oid4vpError("expected integer iat and exp in the request object")
    if exp <= now - leeway or iat > now + leeway:
        raise Oid4vpError(f"the request is not current: iat {iat}, exp {exp}, now {now}")
    query = claims.get("dcql_query")
    creds = query.get("credentials") if isinstance(query, dict) else None
    if not isinstance(creds, list) or len(creds) != 1 or not isinstance(creds[0], dict):
        raise Oid4vpError("expected a dcql_query for exactly one credential")
    cred = creds[0]
    meta = cred.get("meta")
    vcts = meta.get("vct_values") if isinstance(meta, dict) else None
    if cred.get("id") != QUERY_ID or cred.get("format") != SD_JWT_VC_FORMAT:
        raise Oid4vpError(f"expected a {SD_JWT_VC_FORMAT} query with id {QUERY_ID!r}")
    if not isinstance(vcts, list) or len(vcts) != 1 or not isinstance(vcts[0], str):
        raise Oid4vpError("expected one vct in the query's vct_values")
    paths = cred.get("claims")
    if not isinstance(paths, list) or not 1 <= len(paths) <= MAX_CLAIMS:
        raise Oid4vpError(f"expected 1 to {MAX_CLAIMS} claims in the query")
    names = []
    for entry in paths:
        path = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(path, list) or len(path) != 1 or not isinstance(path[0], str):
            raise Oid4vpError(f"expected top-level claim paths, found {str(entry)[:80]}")
        names.append(path[0][:64])
    return RequestObject(
        client_id=text("client_id"),
        response_uri=text("response_uri"),
        nonce=text("nonce", 128),
        state=text("state", 128),
        vct=vcts[0][:512],
        claims=tuple(names),
        purpose=text("purpose", MAX_PURPOSE),
        iat=iat,
        exp=exp,
    )
