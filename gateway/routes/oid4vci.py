"""OpenID4VCI 1.0 (pre-authorised code flow) and SD-JWT VC discovery: Credential Issuer and
authorization server metadata, JWT VC Issuer Metadata, Type Metadata, the offer, token, nonce
and credential endpoints. Errors in the OAuth shape (``error``, ``error_description``) with our
``message`` (zh-CN) and ``message_en`` beside (gateway.app).

Every endpoint here is public and a browser wallet calls it from another origin (an offer from
another city's gateway): answers and errors carry CORS (``Access-Control-Allow-Origin: *``, no
credentials), and ``OPTIONS`` answers the preflight of the token and credential POSTs
(``Authorization``, ``Content-Type: application/json``)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from gateway import public_docs, wallet, wallet_credential, wallet_metadata
from gateway.deps import GatewayDep
from gateway.public_docs import CORS_HEADERS
from gateway.schemas import CodeInPath, RecordId, TypeCode
from issuers.qr import render_png
from trust.oid4vci import InvalidCredentialRequest, InvalidRequest

router = APIRouter(tags=["wallet issuance 钱包领证 (OpenID4VCI)"])
NO_STORE = {"Cache-Control": "no-store", **CORS_HEADERS}
MAX_FORM_BYTES = 4096
MAX_CREDENTIAL_REQUEST_BYTES = 16_384


@router.get("/.well-known/openid-credential-issuer", summary="Credential Issuer Metadata")
def issuer_metadata(gw: GatewayDep, response: Response) -> dict[str, Any]:
    response.headers.update(CORS_HEADERS)
    return wallet_metadata.credential_issuer_metadata(gw)


@router.get("/.well-known/oauth-authorization-server", summary="RFC 8414 metadata")
def authorization_server(gw: GatewayDep, response: Response) -> dict[str, Any]:
    response.headers.update(CORS_HEADERS)
    return wallet_metadata.authorization_server_metadata(gw)


@router.get(
    "/.well-known/jwt-vc-issuer/agencies/{agency_id}", summary="JWT VC Issuer Metadata 签发方密钥"
)
def jwt_vc_issuer(agency_id: RecordId, gw: GatewayDep, response: Response) -> dict[str, Any]:
    response.headers.update(CORS_HEADERS)
    return wallet_metadata.jwt_vc_issuer(gw, agency_id)


@router.get("/vct/{code}", summary="SD-JWT VC Type Metadata 证照类型元数据")
def vct(code: TypeCode, gw: GatewayDep, response: Response) -> dict[str, Any]:
    response.headers.update(CORS_HEADERS)
    return wallet_metadata.type_metadata_for(gw, code)


@router.get(wallet.OFFER_PATH + "{code}", summary="Credential Offer 钱包领取链接")
def offer(code: CodeInPath, gw: GatewayDep, response: Response) -> dict[str, Any]:
    response.headers.update(NO_STORE)
    return wallet.offer_document(gw, code)


@router.get(
    wallet.OFFER_PATH + "{code}/qr.png",
    summary="Credential Offer QR 领取二维码",
    response_class=Response,
)
def offer_qr(code: CodeInPath, gw: GatewayDep) -> Response:
    return Response(
        render_png(wallet.offer_uri(gw, code)), media_type="image/png", headers=NO_STORE
    )


async def _body(request: Request, limit: int) -> bytes:
    body = await request.body()
    if len(body) > limit:
        raise InvalidRequest(
            f"请求过大（上限 {limit} 字节） · request too large",
            f"expected at most {limit} bytes, found {len(body)}",
        )
    return body


TOKEN_FORM = {  # documented here; read from the raw body below (bounded first)
    "required": True,
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "required": ["grant_type", "pre-authorized_code"],
                "properties": {
                    "grant_type": {
                        "type": "string",
                        "enum": ["urn:ietf:params:oauth:grant-type:pre-authorized_code"],
                    },
                    "pre-authorized_code": {"type": "string"},
                    "tx_code": {"type": "string", "description": "the PIN 取证码"},
                },
            }
        }
    },
}


@router.post(
    "/oid4vci/token",
    summary="Token Endpoint 取令牌",
    openapi_extra={"requestBody": TOKEN_FORM},
)
async def token(request: Request, gw: GatewayDep, response: Response) -> dict[str, Any]:
    body = await _body(request, MAX_FORM_BYTES)
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise InvalidRequest(
            "请求应为表单编码 · expected application/x-www-form-urlencoded",
            "expected Content-Type application/x-www-form-urlencoded (RFC 6749 §4.1.3)",
        )
    try:
        pairs = parse_qsl(body.decode(), strict_parsing=bool(body), max_num_fields=16)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequest("表单无法解析 · unreadable form", f"unreadable form: {exc}") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:  # RFC 6749 §3.2: parameters must not be repeated
            raise InvalidRequest(f"参数重复：{name} · repeated parameter", f"repeated {name!r}")
        form[name] = value
    response.headers.update(NO_STORE)
    return await run_in_threadpool(wallet.token, gw, form)


@router.post("/oid4vci/nonce", summary="Nonce Endpoint 取 c_nonce")
def nonce(gw: GatewayDep, response: Response) -> dict[str, Any]:
    response.headers.update(NO_STORE)
    return wallet_credential.new_nonce(gw)


@router.post("/oid4vci/credential", summary="Credential Endpoint 领取证照")
async def credential(
    request: Request,
    gw: GatewayDep,
    response: Response,
    authorization: Annotated[str | None, Header(max_length=512)] = None,
) -> dict[str, Any]:
    body = await _body(request, MAX_CREDENTIAL_REQUEST_BYTES)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidCredentialRequest(
            "请求不是 JSON · expected JSON", f"expected a JSON body: {exc}"
        ) from exc
    response.headers.update(NO_STORE)
    return await run_in_threadpool(wallet_credential.credential, gw, authorization, parsed)


public_docs.allow_preflight(
    router,
    [
        "/.well-known/openid-credential-issuer",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwt-vc-issuer/agencies/{agency_id}",
        "/vct/{code}",
        wallet.OFFER_PATH + "{code}",
    ],
)
public_docs.allow_preflight(
    router,
    ["/oid4vci/token", "/oid4vci/nonce", "/oid4vci/credential"],
    methods=("POST",),
    request_headers=("Accept", "Authorization", "Content-Type"),
)
