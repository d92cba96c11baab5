"""Error answers of the federation endpoints in the OpenID Federation 1.0 §8.9 form.

:class:`FederationRoute` is the route class of the federation router: whatever a route under it
raises (the gateway's own errors, a request that fails validation, an HTTP error such as 405)
is answered as ``{"error": code, "error_description": text}`` with ``Content-Type:
application/json`` and the status §8.9 gives the code. ``error_description`` is zh-CN first,
then the English detail, as the gateway's other messages. Successful answers pass untouched.

Which code, by what was raised (the first match wins):

- ``invalid_trust_anchor`` 404, ``invalid_subject`` 404, ``not_found`` 404;
- ``invalid_trust_chain`` 400 (no valid chain), ``invalid_metadata`` 400 (a policy conflict);
- ``unsupported_parameter`` 400: a parameter the spec lets us decline (the list endpoint's
  filters, §8.2.1) was sent;
- ``invalid_request`` 400: a missing or malformed parameter or body (never FastAPI's 422), and
  any other refusal of bad input; an HTTP error keeps its 4xx status (405, 413 …);
- ``invalid_client`` 401/403, ``temporarily_unavailable`` 503 (a peer could not be reached);
- ``server_error`` 500 only for what nobody anticipated (logged), never for bad input.

Deliberately not here: ``invalid_issuer`` (no endpoint of ours takes an issuer parameter; an
``iss`` sent to fetch by older drafts' clients is ignored, §8: "If they are not understood,
they MUST be ignored") and the successful answers' headers, which the routes set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from gateway.errors import (
    Forbidden,
    InvalidSubject,
    InvalidTrustAnchor,
    NotAcceptable,
    NotFound,
    TooManyRequests,
    Unauthorised,
    Unprocessable,
)
from gateway.public_docs import CORS_HEADERS
from trust.errors import DataError, EcertError, FetchError
from trust.federation import ChainError, PolicyError

log = logging.getLogger("ecert.http")

# §8.2.1: parameters of the list endpoint we do not support; "If the responder does not support
# this feature, it MUST use the HTTP status code 400 [...] with the error code
# unsupported_parameter."
UNSUPPORTED_PARAMETERS: Mapping[str, tuple[str, ...]] = {
    "/federation/list": ("entity_type", "trust_marked", "trust_mark_type", "intermediate"),
}

# (what was raised, status, §8.9 error code, zh-CN summary), most specific first.
_CODES: Sequence[tuple[type[EcertError], int, str, str]] = (
    (InvalidTrustAnchor, 404, "invalid_trust_anchor", "无法使用该信任锚"),
    (InvalidSubject, 404, "invalid_subject", "无法为该主体提供服务"),
    (NotFound, 404, "not_found", "未找到"),
    (ChainError, 400, "invalid_trust_chain", "信任链无法验证"),
    (PolicyError, 400, "invalid_metadata", "元数据或元数据策略无效或相互冲突"),
    (Unauthorised, 401, "invalid_client", "身份验证失败"),
    (Forbidden, 403, "invalid_client", "无权执行此操作"),
    (FetchError, 503, "temporarily_unavailable", "暂时无法获取数据"),
    (DataError, 400, "invalid_request", "请求无效"),
)


class UnsupportedParameter(DataError):
    """A request parameter the endpoint declines (§8.9 ``unsupported_parameter``)."""


def error_response(
    status: int, code: str, zh: str, en: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """§8.9: ``{"error", "error_description"}``, ``application/json``; readable from any
    origin, like the documents these endpoints serve."""
    return JSONResponse(
        status_code=status,
        content={"error": code, "error_description": f"{zh}：{en}"},
        headers={**CORS_HEADERS, **(headers or {})},
    )


def _invalid_parameters(exc: RequestValidationError) -> JSONResponse:
    zh, en = [], []
    for e in exc.errors():
        name = str(e["loc"][-1]) if e["loc"] else "body"
        if e["type"] == "missing":
            zh.append(f"缺少请求参数 {name}")
            en.append(f"Required request parameter [{name}] was missing")
        else:
            zh.append(f"请求参数 {name} 无效")
            en.append(f"Request parameter [{name}] is invalid: {e['msg']}")
    return error_response(400, "invalid_request", "；".join(zh), "; ".join(en))


def _http_error(exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return error_response(404, "not_found", "未找到", str(exc.detail), exc.headers)
    if exc.status_code >= 500:
        return error_response(exc.status_code, "server_error", "服务器内部错误", str(exc.detail))
    return error_response(
        exc.status_code, "invalid_request", "请求无效", str(exc.detail), exc.headers
    )


def federation_error(exc: Exception) -> JSONResponse:
    """The §8.9 answer for ``exc``."""
    if isinstance(exc, RequestValidationError):
        return _invalid_parameters(exc)
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    if isinstance(exc, UnsupportedParameter):
        return error_response(400, "unsupported_parameter", "不支持该请求参数", str(exc))
    if isinstance(exc, Unprocessable):
        return error_response(400, "invalid_request", exc.message_zh, exc.message_en)
    if isinstance(exc, TooManyRequests):  # §8.9 has no code of its own; RFC 6585 §4 status
        return error_response(
            429, "temporarily_unavailable", exc.message_zh, exc.message_en,
            {"Retry-After": str(exc.retry_after)},
        )  # fmt: skip
    if isinstance(exc, NotAcceptable):  # §8.9 has no code of its own for it: the status says
        return error_response(406, "invalid_request", exc.message_zh, exc.message_en)
    for kind, status, code, zh in _CODES:
        if isinstance(exc, kind):
            return error_response(status, code, zh, str(exc))
    log.exception("unclassified error at a federation endpoint", exc_info=exc)
    return error_response(500, "server_error", "服务器内部错误", "internal error")


def _refuse_unsupported(request: Request, path: str) -> None:
    sent = [p for p in UNSUPPORTED_PARAMETERS.get(path, ()) if p in request.query_params]
    if sent:
        raise UnsupportedParameter(
            f"this endpoint does not support the parameter(s) {sent}: ask without them for "
            "every immediate subordinate"
        )


class FederationRoute(APIRoute):
    """A route whose every error answer has the §8.9 form (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        path = self.path

        async def answer(request: Request) -> Response:
            try:
                _refuse_unsupported(request, path)
                return await handler(request)
            except Exception as exc:  # every error, answered in one form
                return federation_error(exc)

        return answer

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().handle(scope, receive, send)
        except HTTPException as exc:  # raised before the handler runs (405 method not allowed)
            await federation_error(exc)(scope, receive, send)
