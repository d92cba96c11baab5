"""OpenID Federation endpoints (§8): configurations, fetch, list, resolve, historical keys,
the trust mark status, listing and trust mark endpoints (§8.4-§8.6, answered by an anchor),
and the join request a city sends its region's anchor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Body, Header, Query, Request, Response

from gateway import (
    confirmations,
    federation,
    join_requests,
    public_docs,
    reference_requests,
    statements,
    trustexport,
    trustmarks,
    trustsync,
    use_reports,
)
from gateway.core import Gateway
from gateway.deps import FetcherDep, GatewayDep, PeerLimited, StatementsDep
from gateway.errors import BadRequest, NotFound
from gateway.references_remote import REQUEST_MEDIA_TYPE
from gateway.routes.federation_errors import FederationRoute
from gateway.schemas import NO_CONTROL, RecordId
from gateway.state import stored_trust_list
from trust.federation import (
    ENTITY_STATEMENT_MEDIA_TYPE,
    HISTORICAL_KEYS_MEDIA_TYPE,
    RESOLVE_RESPONSE_MEDIA_TYPE,
    TRUST_MARK_MEDIA_TYPE,
    TRUST_MARK_STATUS_MEDIA_TYPE,
    subordinate_listing,
)
from trust.reference_request import ANSWER_TYP, MAX_MESSAGE, USE_REPORT_TYP
from trust.trustlist.delta import delta, sign_delta

router = APIRouter(tags=["federation 联邦"], route_class=FederationRoute)  # errors: §8.9
MAX_JOIN_BODY = 64 * 1024
MAX_BIGINT = 2**63 - 1  # a trust list's version column
MAX_STATUS_BODY = 16 * 1024  # a form with one trust mark (at most 8 KiB, escaped)
FORM = "application/x-www-form-urlencoded"
NO_CACHE = {"Cache-Control": "no-cache"}
TRUST_LIST_MEDIA_TYPE = "application/trustlist+jwt"
DELTA_MEDIA_TYPE = "application/trustlist-delta+jwt"
PUBLIC_PATHS = [
    "/.well-known/openid-federation",
    "/agencies/{agency_id}/.well-known/openid-federation",
    "/verifiers/{verifier_id}/.well-known/openid-federation",
    "/federation/fetch",
    "/federation/list",
    "/federation/historical_keys",
    "/trust/list",
    "/trust/root",
    "/trust/root/history",
]


def _jwt(request: Request, gw: Gateway, make: Callable[[], str], media_type: str) -> Response:
    """A public signed document (gateway.public_docs): ``Accept`` checked before ``make`` signs."""
    public_docs.require_acceptable(request, media_type)
    return public_docs.jwt_response(request, make(), media_type=media_type, now=gw.clock())


def _uncached_jwt(token: str, media_type: str) -> Response:
    """An answer made for one request (resolve, confirm): not a public document."""
    return Response(token, media_type=media_type, headers={"Cache-Control": "no-cache"})


@router.get("/.well-known/openid-federation", summary="Entity Configuration 实体配置")
def configuration(request: Request, gw: GatewayDep, cache: StatementsDep) -> Response:
    return _jwt(
        request,
        gw,
        lambda: statements.entity_configuration(gw, cache),
        ENTITY_STATEMENT_MEDIA_TYPE,
    )


@router.get(
    "/agencies/{agency_id}/.well-known/openid-federation",
    summary="An agency's leaf Entity Configuration 签发机构实体配置",
)
def agency_configuration(
    agency_id: RecordId, request: Request, gw: GatewayDep, cache: StatementsDep
) -> Response:
    return _jwt(
        request,
        gw,
        lambda: statements.agency_configuration(gw, agency_id, cache),
        ENTITY_STATEMENT_MEDIA_TYPE,
    )


@router.get(
    "/verifiers/{verifier_id}/.well-known/openid-federation",
    summary="A counter's leaf Entity Configuration 核验点实体配置",
)
def verifier_configuration(
    verifier_id: RecordId, request: Request, gw: GatewayDep, cache: StatementsDep
) -> Response:
    return _jwt(
        request,
        gw,
        lambda: statements.verifier_configuration(gw, verifier_id, cache),
        ENTITY_STATEMENT_MEDIA_TYPE,
    )


@router.get("/federation/fetch", summary="Subordinate Statement 下级声明")
def fetch(
    request: Request,
    gw: GatewayDep,
    cache: StatementsDep,
    sub: Annotated[str, Query(max_length=256, pattern=NO_CONTROL)],
) -> Response:
    return _jwt(
        request,
        gw,
        lambda: statements.subordinate_statement(gw, sub, cache),
        ENTITY_STATEMENT_MEDIA_TYPE,
    )


@router.get("/federation/list", summary="Subordinates 下级实体列表")
def listing(request: Request, gw: GatewayDep) -> Response:
    public_docs.require_acceptable(request, public_docs.JSON)
    listed = subordinate_listing(federation.subordinates(gw))
    age = public_docs.max_age(now=gw.clock())
    return public_docs.respond(request, listed, media_type=public_docs.JSON, max_age=age)


@router.get("/federation/resolve", summary="Resolve a trust chain 解析信任链")
def resolve(
    gw: GatewayDep,
    fetcher: FetcherDep,
    sub: Annotated[str, Query(max_length=256, pattern=NO_CONTROL)],
    trust_anchor: Annotated[str, Query(max_length=256, pattern=NO_CONTROL)],
) -> Response:
    token = statements.resolve_response(gw, fetcher, sub=sub, trust_anchor=trust_anchor)
    return _uncached_jwt(token, RESOLVE_RESPONSE_MEDIA_TYPE)


@router.get("/federation/historical_keys", summary="Historical federation keys 历史密钥")
def historical_keys(request: Request, gw: GatewayDep) -> Response:
    return _jwt(request, gw, lambda: statements.historical_keys(gw), HISTORICAL_KEYS_MEDIA_TYPE)


@router.get(
    "/federation/confirm",
    summary="Confirm a token as issued before its key's compromise 签发确认",
    response_class=Response,
)
def confirm(
    gw: GatewayDep,
    token_hash: Annotated[str, Query(pattern="^[0-9a-f]{64}$", description="SHA-256, hex")],
) -> Response:
    answer = confirmations.confirm(gw, token_hash)
    if answer is None:
        raise NotFound("no record of that token being issued before its key's compromise")
    return _uncached_jwt(answer, "application/issuance-confirmation+jwt")


@router.post(
    "/federation/trust_mark_status",
    summary="Trust Mark Status 信任标志状态",
    response_class=Response,
    responses={200: {"content": {TRUST_MARK_STATUS_MEDIA_TYPE: {}}}},
)
def trust_mark_status(
    gw: GatewayDep,
    form: Annotated[str, Body(media_type=FORM, max_length=MAX_STATUS_BODY)],
) -> Response:
    """§8.4.1: POST ``trust_mark`` (form-encoded); a signed status, or 404 for a mark this
    issuer never issued."""
    try:
        pairs = parse_qsl(form, strict_parsing=True, max_num_fields=4)
    except ValueError as exc:
        raise BadRequest(f"表单无法解析 · unreadable form: {exc}") from exc
    marks = [v for k, v in pairs if k == "trust_mark"]
    if len(marks) != 1:
        raise BadRequest(f"应有一个 trust_mark 参数 · expected one trust_mark, found {len(marks)}")
    token = trustmarks.status_response(gw, marks[0].strip())
    return _uncached_jwt(token, TRUST_MARK_STATUS_MEDIA_TYPE)


@router.get("/federation/trust_mark_list", summary="Trust Marked Entities 持有信任标志的实体")
def trust_mark_list(
    gw: GatewayDep,
    trust_mark_type: Annotated[str, Query(max_length=512, pattern=NO_CONTROL)],
    sub: Annotated[str | None, Query(max_length=256, pattern=NO_CONTROL)] = None,
) -> Response:
    """§8.5: the entities holding an active mark of ``trust_mark_type``."""
    listed = trustmarks.marked_entities(gw, trust_mark_type=trust_mark_type, sub=sub)
    return Response(orjson.dumps(listed), media_type=public_docs.JSON, headers=NO_CACHE)


@router.get(
    "/federation/trust_mark",
    summary="Trust Mark 信任标志",
    response_class=Response,
    responses={200: {"content": {TRUST_MARK_MEDIA_TYPE: {}}}},
)
def trust_mark(
    gw: GatewayDep,
    trust_mark_type: Annotated[str, Query(max_length=512, pattern=NO_CONTROL)],
    sub: Annotated[str, Query(max_length=256, pattern=NO_CONTROL)],
) -> Response:
    """§8.6: the newest active mark of ``trust_mark_type`` about ``sub``."""
    token = trustmarks.current_mark(gw, trust_mark_type=trust_mark_type, sub=sub)
    return _uncached_jwt(token, TRUST_MARK_MEDIA_TYPE)


@router.post(
    "/federation/reference_resolve",
    summary="Another city's gateway resolves a reference code of ours 跨城市核验亮证码",
    response_class=Response,
    responses={200: {"content": {f"application/{ANSWER_TYP}": {}}}},
    dependencies=[PeerLimited],
)
def reference_resolve(
    gw: GatewayDep,
    fetcher: FetcherDep,
    request: Annotated[str, Body(media_type=REQUEST_MEDIA_TYPE, max_length=MAX_MESSAGE)],
) -> Response:
    """A request signed by the asking city's federation key, for one of its counters; the
    answer is signed by ours (gateway.reference_requests)."""
    token = reference_requests.answer(gw, fetcher, request.strip())
    return _uncached_jwt(token, f"application/{ANSWER_TYP}")


@router.post(
    "/federation/use_report",
    summary="Another city's gateway reports a use of our credential 用证记录回报",
    dependencies=[PeerLimited],
)
def use_report(
    gw: GatewayDep,
    fetcher: FetcherDep,
    report: Annotated[
        str, Body(media_type=f"application/{USE_REPORT_TYP}", max_length=MAX_MESSAGE)
    ],
) -> dict[str, str]:
    """A presentation of one of our credentials at another city's counter, signed by that
    city's federation key; recorded once however often it is delivered (gateway.use_reports)."""
    return {"status": use_reports.receive(gw, fetcher, report.strip())}


@router.post("/federation/join", summary="A city asks to join this region 申请加入")
def join(
    request: Request,
    gw: GatewayDep,
    fetcher: FetcherDep,
    configuration: Annotated[
        str, Body(media_type=ENTITY_STATEMENT_MEDIA_TYPE, max_length=MAX_JOIN_BODY)
    ],
) -> dict[str, str]:
    """Takes a slot only within the bounds of ``gateway.join_requests``, and only when the
    entity id itself serves a configuration with the same keys (fetched, bounded)."""
    row = join_requests.request_join(
        gw,
        configuration.strip(),
        client_address=request.client.host if request.client else None,
        confirm_with=fetcher,
    )
    return {"entity_id": row.entity_id, "status": row.status}


@router.get(
    "/trust/list",
    summary="Signed trust list for verifiers 信任列表",
    response_class=Response,
    responses={
        200: {"content": {TRUST_LIST_MEDIA_TYPE: {}, DELTA_MEDIA_TYPE: {}}},
        304: {},
        406: {},
    },
)
def trust_list(
    request: Request,
    gw: GatewayDep,
    # declared for its bound (and the OpenAPI page); public_docs compares it
    if_none_match: Annotated[str | None, Header(max_length=200)] = None,
    since: Annotated[
        int | None,
        Query(ge=1, le=MAX_BIGINT, description="answer a delta from this version (BIGINT)"),
    ] = None,
) -> Response:
    media_type = TRUST_LIST_MEDIA_TYPE if since is None else DELTA_MEDIA_TYPE
    public_docs.require_acceptable(request, media_type)
    row, base = trustsync.served_trust_list(gw, since)
    etag = f'"sha256-{row.content_hash}-v{row.version}"'
    # a delta carries its target list's exp and next_update: both answers cache alike
    age = public_docs.jwt_max_age(row.token, now=gw.clock())
    unchanged = public_docs.not_modified(request, etag=etag, max_age=age)
    if unchanged is not None:
        return unchanged
    token = row.token
    if base is not None:
        key = federation.own_signing_key(gw)
        token = sign_delta(delta(stored_trust_list(base.token), stored_trust_list(row.token)), key)
    return public_docs.respond(request, token, media_type=media_type, max_age=age, etag=etag)


@router.get(
    "/trust/root/history",
    summary="All root versions, oldest first 根元数据历史",
    response_class=Response,
    responses={200: {"content": {public_docs.JSON: {}}}, 406: {}},
)
def trust_root_history(request: Request, gw: GatewayDep) -> Response:
    public_docs.require_acceptable(request, public_docs.JSON)
    held = trustexport.signed_root(gw)
    older = [r.encode() for r in trustexport.root_history(gw)]
    body = b"[" + b",".join([*older, held.to_bytes()]) + b"]"
    age = public_docs.max_age(now=gw.clock(), exp=held.root.expires)
    return public_docs.respond(request, body, media_type=public_docs.JSON, max_age=age)


@router.get(
    "/trust/root",
    summary="Root metadata for offline verifiers 根元数据",
    response_class=Response,
    responses={200: {"content": {public_docs.JSON: {}}}, 406: {}},
)
def trust_root(request: Request, gw: GatewayDep) -> Response:
    public_docs.require_acceptable(request, public_docs.JSON)
    held = trustexport.signed_root(gw)
    age = public_docs.max_age(now=gw.clock(), exp=held.root.expires)  # TUF root "expires"
    return public_docs.respond(request, held.to_bytes(), media_type=public_docs.JSON, max_age=age)


public_docs.allow_preflight(router, PUBLIC_PATHS)
