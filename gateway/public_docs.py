"""How public documents are served: status lists, trust lists, entity statements, key sets.

Every route that serves a document any verifier, CDN or browser may fetch answers through
:func:`respond` (or :func:`jwt_response`, which reads the freshness from the token itself):

- CORS: ``Access-Control-Allow-Origin: *`` on the answer and a preflight answer for ``OPTIONS``
  (Fetch standard §3.2; Token Status List §8.1 asks for CORS). The documents are public and sent
  without credentials, so ``*`` exposes nothing a plain GET does not.
- ``Cache-Control: public, max-age=N`` with N from the document's own ``ttl`` and ``exp``
  (see :func:`max_age`). Token Status List §8.2: relying parties go by ``exp`` and ``ttl``
  themselves; the header is for the HTTP caches and CDNs in between.
- gzip, as Token Status List §8.2 asks (``Content-Encoding`` per RFC 9110 §8.4), when the
  request's ``Accept-Encoding`` allows it (q-values honoured, §12.5.3) and the body is at least
  :data:`MIN_GZIP_SIZE` bytes; ``Vary: Accept-Encoding`` always (§12.5.5).
- 406 Not Acceptable (RFC 9110 §15.5.7) when ``Accept`` excludes the one media type served
  (§12.5.1: ``*/*``, ``type/*``, q-values, ``q=0`` excludes; no ``Accept`` accepts anything).
- ``ETag`` with ``If-None-Match`` (weak comparison, RFC 9110 §13.1.2) answering 304.

Deliberately not here: what the documents say and how they are signed (trust/, the services),
``Vary: Accept`` (see :func:`respond`), and CORS on error answers other than 406.
Starlette's ``GZipMiddleware`` is not used: it compresses for ``Accept-Encoding: gzip;q=0``
(it looks for the substring), keeps the strong ``ETag`` of the identity form on the gzip form
(RFC 9110 §8.8.3 wants them told apart), sends a 304 without the ``Vary`` of its 200, and
would compress every answer of the app, the verify path included.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from gateway.errors import NotAcceptable
from trust.encoding import b64url_decode
from trust.errors import DataError

# Documents that say nothing about their own freshness (a key set, an index, a root that
# stays valid for a year) can change at any moment: a key rotated or compromised, a city
# joining. One minute lets a CDN absorb a crowd of kiosks and adds at most a minute to the
# propagation the federation promises within one refresh (ECERT_FEDERATION_REFRESH, 300 s
# by default). The same bound caps entity statements, whose ``exp`` is a day away but whose
# keys must move within a refresh.
UNDATED_MAX_AGE = 60

# Below this, gzip saves next to nothing and costs a header and the client's decoding.
# Measured on our documents: a one-key JWKS, 254 bytes, became 236; an empty 4,096-entry
# status list 403 → 341; but a 1,391-byte entity configuration 822, the same list with one
# entry in ten set 1,171 → 897, and a trust list of three agencies 3,987 → 1,549.
MIN_GZIP_SIZE = 512
GZIP_LEVEL = 6  # zlib's default: on our documents level 9 was no smaller
MAX_MEDIA_RANGES = 64  # in one Accept or Accept-Encoding; a browser sends under ten
_SHOWN = 200  # characters of a request header quoted back in an error

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "ETag",  # not a CORS-safelisted response header
}
# If-None-Match is not CORS-safelisted: a browser revalidating asks first.
DOCUMENT_REQUEST_HEADERS = ("Accept", "If-None-Match", "If-Modified-Since")

JSON = "application/json"


# --- freshness ----------------------------------------------------------------------------------


def max_age(
    *, now: int, exp: int | None = None, ttl: int | None = None, next_update: int | None = None
) -> int:
    """Seconds an HTTP cache may keep a document (RFC 9111 §5.2.2.1 ``max-age``).

    - ``ttl`` (Token Status List §5.1, §13.7): how long a copy may be kept after it is fetched.
    - ``next_update`` (our trust lists): when the compiler means to publish the next version.
    - neither: :data:`UNDATED_MAX_AGE`.
    - never past ``exp`` (RFC 7519 §4.1.4): a cache must not outlive the document.
    """
    bounds = [b for b in (ttl, None if next_update is None else next_update - now) if b is not None]
    if not bounds:
        bounds.append(UNDATED_MAX_AGE)
    if exp is not None:
        bounds.append(exp - now)
    return max(0, min(bounds))


def _unverified_claims(token: str) -> Mapping[str, Any]:
    """The payload of one of our own compact JWS, NOT verified: only for cache headers of a
    token this gateway has just signed or stored."""
    parts = token.split(".")
    if len(parts) != 3:
        raise DataError(f"expected a compact JWS of three parts, found {len(parts)}")
    claims = orjson.loads(b64url_decode(parts[1]))
    if not isinstance(claims, dict):
        kind = type(claims).__name__
        raise DataError(f"expected a JWS payload that is a JSON object, found {kind}")
    return claims


def jwt_max_age(token: str, *, now: int) -> int:
    """:func:`max_age` from the token's own ``exp``, ``ttl`` and ``next_update`` claims."""
    claims = _unverified_claims(token)

    def integer(name: str) -> int | None:
        value = claims.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return max_age(
        now=now, exp=integer("exp"), ttl=integer("ttl"), next_update=integer("next_update")
    )


# --- negotiation (pure) -------------------------------------------------------------------------


def _weighted(field: str) -> list[tuple[str, float]] | None:
    """RFC 9110 §5.6.1 list members with an optional weight (§12.4.2): ``[(member, q)]``,
    lower-cased, parameters other than ``q`` dropped, a member with a bad ``q`` left out;
    ``None`` for more than :data:`MAX_MEDIA_RANGES` members."""
    members = [m for m in field.split(",") if m.strip()]
    if len(members) > MAX_MEDIA_RANGES:
        return None
    out: list[tuple[str, float]] = []
    for member in members:
        name, *params = (p.strip() for p in member.split(";"))
        q: float | None = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                q = _qvalue(value.strip())
                break  # RFC 9110 §12.4.2: the weight ends the member
        if q is not None and name:
            out.append((name.lower(), q))
    return out


_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")


def _qvalue(text: str) -> float | None:
    """RFC 9110 §12.4.2: ``0[.ddd]`` or ``1[.000]``; anything else is not a weight."""
    return float(text) if _QVALUE.fullmatch(text) else None


def accepts(accept: str | None, media_type: str) -> bool:
    """Whether ``Accept`` allows ``media_type`` (RFC 9110 §12.5.1): the most specific range
    that matches decides (``type/subtype`` over ``type/*`` over ``*/*``), ``q=0`` excludes; no
    (or an empty) ``Accept`` accepts anything. Parameters of a range are not compared: we serve
    each document in one form without parameters, and ``application/json; charset=utf-8`` asks
    for what we send. Raises :class:`NotAcceptable` for an ``Accept`` too long to consider."""
    if accept is None or not accept.strip():
        return True
    ranges = _weighted(accept)
    if ranges is None:
        raise NotAcceptable(
            f"Accept 请求头列出的媒体范围超过可处理的上限 {MAX_MEDIA_RANGES} 项",
            f"expected at most {MAX_MEDIA_RANGES} media ranges in Accept, found more",
            served=[media_type],
            accept=accept[:_SHOWN],
        )
    kind, _, sub = media_type.lower().partition("/")
    best: tuple[int, float] | None = None  # (specificity, q)
    for name, q in ranges:
        rtype, slash, rsub = name.partition("/")
        if not slash or not rtype or not rsub or (rtype == "*" and rsub != "*"):
            continue  # not a media range
        if (rtype, rsub) == (kind, sub):
            specificity = 3
        elif rtype == kind and rsub == "*":
            specificity = 2
        elif (rtype, rsub) == ("*", "*"):
            specificity = 1
        else:
            continue
        if best is None or specificity > best[0] or (specificity == best[0] and q > best[1]):
            best = (specificity, q)
    return best is not None and best[1] > 0


def wants_gzip(accept_encoding: str | None) -> bool:
    """Whether to answer in gzip (RFC 9110 §12.5.3): gzip (or its alias x-gzip, §8.4.1.3) or
    ``*`` with a non-zero weight, not below an explicit weight for ``identity``. No
    ``Accept-Encoding``, an empty one or one too long to consider: no coding."""
    listed = _weighted(accept_encoding) if accept_encoding else None
    if not listed:
        return False
    weights = dict(listed)
    star = weights.get("*")
    gzip = weights.get("gzip", weights.get("x-gzip", star))
    identity = weights.get("identity", star)
    return gzip is not None and gzip > 0 and (identity is None or gzip >= identity)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """``If-None-Match`` by weak comparison (RFC 9110 §13.1.2, §8.8.3.2): ``W/"x"`` matches
    ``"x"``; ``*`` matches any current representation."""
    if if_none_match is None:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in {t.removeprefix("W/") for t in tags}


# --- answers ------------------------------------------------------------------------------------


def require_acceptable(request: Request, media_type: str, also: Sequence[str] = ()) -> str:
    """The media type to answer with: ``media_type`` when the request's ``Accept`` allows it,
    else the first of ``also`` it allows; raise :class:`NotAcceptable` (406) when it allows
    none. Call it first: a refused request costs no signing."""
    accept = ", ".join(request.headers.getlist("accept")) or None
    for candidate in (media_type, *also):
        if accepts(accept, candidate):
            return candidate
    shown = (accept or "")[:_SHOWN]
    served = " or ".join((media_type, *also))
    raise NotAcceptable(
        f"无法按所要求的媒体类型提供：本资源仅以 {served} 提供，请求的 Accept 为“{shown}”",
        f"not acceptable: this document is served only as {served}, and the request's "
        f"Accept was {shown!r}; send Accept: {media_type}, */* or no Accept",
        served=[media_type, *also],
        accept=shown,
    )


def _headers(request: Request, *, max_age: int, etag: str | None) -> tuple[dict[str, str], bool]:
    zipped = wants_gzip(", ".join(request.headers.getlist("accept-encoding")) or None)
    headers = {
        **CORS_HEADERS,
        "Cache-Control": f"public, max-age={max_age}",
        "Vary": "Accept-Encoding",
    }
    if etag is not None:
        # RFC 9110 §8.8.3: a strong tag names one exact byte sequence, and the gzip form is
        # another one; a weak tag may be shared by the two (nginx does the same).
        headers["ETag"] = f"W/{etag}" if zipped else etag
    return headers, zipped


def not_modified(request: Request, *, etag: str, max_age: int) -> Response | None:
    """A 304 carrying the headers its 200 would (RFC 9110 §15.4.5) if ``If-None-Match`` names
    ``etag``; else ``None``. For a route that wants to skip building the body."""
    if not etag_matches(request.headers.get("if-none-match"), etag):
        return None
    headers, _ = _headers(request, max_age=max_age, etag=etag)
    return Response(status_code=304, headers=headers)


def respond(
    request: Request,
    body: str | bytes,
    *,
    media_type: str,
    max_age: int,
    etag: str | None = None,
) -> Response:
    """A public document's answer: CORS, ``Cache-Control``, gzip when wanted, ``ETag``/304.

    The request's ``Accept`` must have been checked (:func:`require_acceptable`). There is no
    ``Vary: Accept``: each URL has one representation, and a cache handing it to a client
    whose ``Accept`` excludes it acts as a server that disregards ``Accept``, which RFC 9110
    §12.5.1 allows; varying on ``Accept`` would split or (on some CDNs) disable the caching
    these static signed documents are made for."""
    if etag is not None:
        early = not_modified(request, etag=etag, max_age=max_age)
        if early is not None:
            return early
    headers, zipped = _headers(request, max_age=max_age, etag=etag)
    content = body.encode() if isinstance(body, str) else body
    if zipped and len(content) >= MIN_GZIP_SIZE:
        packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
        content = packer.compress(content) + packer.flush()
        headers["Content-Encoding"] = "gzip"
    return Response(content, media_type=media_type, headers=headers)


def jwt_response(request: Request, token: str, *, media_type: str, now: int) -> Response:
    """A signed document whose ``Accept`` was checked, cached by its own claims."""
    return respond(request, token, media_type=media_type, max_age=jwt_max_age(token, now=now))


def json_response(
    request: Request,
    data: Any,
    *,
    now: int,
    exp: int | None = None,
    media_type: str = JSON,
    also: Sequence[str] = (),
) -> Response:
    """A JSON document (checks ``Accept`` itself: building JSON is cheap); ``also``: other
    media types the same bytes may be labelled with when the client asks for one of them."""
    chosen = require_acceptable(request, media_type, also)
    age = max_age(now=now, exp=exp)
    return respond(request, orjson.dumps(data), media_type=chosen, max_age=age)


def preflight_headers(methods: Sequence[str], request_headers: Sequence[str]) -> dict[str, str]:
    """A CORS preflight answer's headers (Fetch standard §3.2.2): any origin, no credentials,
    ``methods`` with the ``request_headers`` a page may send, cached for a day."""
    allowed = ", ".join((*methods, "OPTIONS"))
    return {
        **CORS_HEADERS,
        "Access-Control-Allow-Methods": allowed,
        "Access-Control-Allow-Headers": ", ".join(request_headers),
        "Access-Control-Max-Age": "86400",
        "Allow": allowed,
    }


# The path templates of every public route (as their routes name them): their error answers
# carry CORS too, so a page in another origin reads why, not an opaque network error.
PUBLIC_PATHS: set[str] = set()


def allow_preflight(
    router: APIRouter,
    paths: Iterable[str],
    *,
    methods: Sequence[str] = ("GET",),
    request_headers: Sequence[str] = DOCUMENT_REQUEST_HEADERS,
) -> None:
    """Answer ``OPTIONS`` on each of ``paths`` with a preflight allowing ``methods`` and
    ``request_headers`` from any origin, and mark them public (:func:`cors_for`). Public
    documents take the defaults; a public endpoint a browser wallet posts to names its own."""
    headers = preflight_headers(methods, request_headers)

    async def preflight() -> Response:
        return Response(status_code=204, headers=headers)

    for path in paths:
        PUBLIC_PATHS.add(router.prefix + path)
        router.add_api_route(
            path, preflight, methods=["OPTIONS"], include_in_schema=False, response_class=Response
        )


def cors_for(request: Request) -> dict[str, str]:
    """The CORS headers an error answer to ``request`` carries: those of a public document
    when the route that matched is one, else none."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return dict(CORS_HEADERS) if path in PUBLIC_PATHS else {}
