"""Framework-level error answers in the house shape, and ``nosniff`` on every answer.

The gateway's own errors are answered by :func:`gateway.app._install_errors`. What the framework
raises before a route runs (an unknown path 404, a method the path does not take 405, a body
that cannot be parsed 400, an ``HTTPException`` from ``StaticFiles``) and anything no one
anticipated (500, logged) are answered here in the same shape:
``{"detail": {"code", "message" (zh-CN), "message_en"}}``, saying what was expected and what
was found. Validation errors (422) name the field, the rule and the value found.

Deliberately not here: the federation endpoints' errors (OpenID Federation 1.0 §8.9,
:mod:`gateway.routes.federation_errors`) and the OAuth-shaped errors of OpenID4VCI/VP
(:mod:`gateway.app`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("ecert.http")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

NOSNIFF = (b"x-content-type-options", b"nosniff")
_SHOWN = 80  # characters of a request's path or value quoted back in an error

# What each framework status is called in Chinese (the English is the status phrase).
_IN_CHINESE = {
    400: "请求无法解析",
    401: "身份验证失败",
    403: "无权执行此操作",
    404: "未找到",
    405: "不支持该请求方法",
    406: "无法提供所要求的格式",
    409: "与当前状态冲突",
    413: "请求内容过大",
    415: "不支持的内容类型",
    422: "请求格式有误",
    429: "请求过于频繁",
}


class BodyTooLarge(HTTPException):
    """A request body past its bound, found while it is read (413). An ``HTTPException``, so
    that the framework's body parsing passes it on (it answers any other error there as "could
    not parse", 400) and the federation endpoints answer it in their own form."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"expected a request body of at most {limit} bytes, found more")
        self.limit = limit


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every HTTP answer that does not already say it
    (Fetch standard §3.5: a browser must not guess a script or style out of a JSON or text
    answer)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if not any(k.lower() == NOSNIFF[0] for k, _ in headers):
                    headers.append(NOSNIFF)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_header)


def shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    # A lone surrogate (JSON's "\ud800") cannot be written as UTF-8: quoted as an escape.
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def found_in(error: Any) -> str:
    """What a request held where a validation error (pydantic's) points, bounded."""
    if error["type"] == "missing":
        return "nothing"
    value = error.get("input")
    if isinstance(value, str | bool | int | float) or value is None:
        return shown(value)
    return type(value).__name__


def problem(code: str, zh: str, en: str, **extra: Any) -> dict[str, Any]:
    return {"detail": {"code": code, "message": zh, "message_en": en, **extra}}


def _code(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return "error"


def http_error_answer(request: Request, exc: HTTPException) -> JSONResponse:
    """The house answer for an ``HTTPException`` the framework raised."""
    status = exc.status_code
    method, path = request.method, shown(request.url.path)
    headers = dict(exc.headers or {})
    if status == 404:
        zh = f"未找到：{method} {path}"
        en = f"expected a path this gateway serves, found {method} {path}"
    elif status == 405:
        allowed = headers.get("Allow") or headers.get("allow") or ""
        zh = f"不支持该请求方法：{path} 允许 {allowed}，实际为 {method}"
        en = f"expected one of {allowed} on {path}, found {method}"
    elif isinstance(exc, BodyTooLarge):
        return JSONResponse(
            status_code=413,
            content=problem("too_large", f"请求内容过大（上限 {exc.limit} 字节）", str(exc.detail)),
        )
    elif status == 400:
        zh = "请求内容无法解析（例如 JSON 嵌套过深或编码无效）"
        en = f"expected a body that parses within the bounds, found one that does not: {exc.detail}"
    else:
        zh = _IN_CHINESE.get(status, "请求无效" if status < 500 else "服务器内部错误")
        en = str(exc.detail)
    return JSONResponse(
        status_code=status, content=problem(_code(status), zh, en), headers=headers or None
    )


def install(app: FastAPI) -> None:
    """Answer the framework's errors and any unanticipated one in the house shape."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return http_error_answer(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's ServerErrorMiddleware sends this answer (outside every middleware, so the
        # header is set here) and then re-raises for the server to log.
        log.error("unhandled error on %s %s", request.method, shown(request.url.path))
        return JSONResponse(
            status_code=500,
            content=problem(
                "internal", "服务器内部错误，请稍后重试", "internal error; try again later"
            ),
            headers={"X-Content-Type-Options": "nosniff"},
        )
