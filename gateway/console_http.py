"""The console's HTTP guard: its session cookie, and the CSRF and Origin checks every console
call passes.

- The cookie (``ecert_console``, path ``/console``) holds the session's opaque id: ``HttpOnly``,
  ``SameSite=Strict``, and ``Secure`` when the gateway's public URL is https.
- Every console API call but the sign-in and ``GET /console/api/session`` (which hands the page
  its token) carries ``X-CSRF-Token``: the session's token (:func:`gateway.console_auth.
  csrf_token`), compared in constant time. A page of another origin can neither read the token
  (no CORS here) nor send the cookie (SameSite=Strict).
- Every unsafe request (the sign-in included) must come from the gateway's own origin: an
  ``Origin`` header equal to the request's own origin or the public URL's, and a
  ``Sec-Fetch-Site`` that, when sent, says ``same-origin``. A request without ``Origin``
  is refused: every browser sends it on a ``fetch`` POST.
- An operator sees only its own agency: a credential of another agency is "not found" (404),
  never "forbidden", so its existence is not revealed.

Deliberately not here: operators, passwords, TOTP and session lifetimes (``gateway.console_auth``).
"""

from __future__ import annotations

import hmac
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Cookie, Depends, Header, Request, Response

from gateway import console_auth
from gateway.console_auth import Operator
from gateway.core import Gateway
from gateway.deps import GatewayDep
from gateway.errors import Forbidden

COOKIE = "ecert_console"
COOKIE_PATH = "/console"
MAX_COOKIE = 100
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(Forbidden):
    """A console call without the session's CSRF token or from another origin (403)."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origins(gw: Gateway, request: Request) -> set[str]:
    host = request.headers.get("host", "")
    mine = {f"{request.url.scheme}://{host}".lower()}
    if gw.public_url:
        mine.add(_origin(gw.public_url))
    return mine


def check_origin(gw: Gateway, request: Request) -> None:
    """Refuse an unsafe request that a page of another origin (or site) sent."""
    if request.method in SAFE:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        raise CsrfRefused(
            f"拒绝跨站请求（Sec-Fetch-Site 为 {site[:40]}，应为 same-origin）",
            f"expected a same-origin request (Sec-Fetch-Site: same-origin), found {site[:40]!r}",
        )
    origin = request.headers.get("origin")
    if origin is None or origin.lower() not in own_origins(gw, request):
        raise CsrfRefused(
            f"拒绝来源不明的请求（Origin 应为本网关，实际为 {(origin or '无')[:80]}）",
            f"expected an Origin header of this gateway "
            f"({', '.join(sorted(own_origins(gw, request)))}), "
            f"found {(origin or 'none')[:80]!r}",
        )


def secure_cookie(gw: Gateway) -> bool:
    return bool(gw.public_url) and gw.public_url.startswith("https://")


def set_session_cookie(gw: Gateway, response: Response, session_id: str) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=gw.settings.console_session_max,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure_cookie(gw),
    )


def clear_session_cookie(gw: Gateway, response: Response) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure_cookie(gw)
    )


def _session_id(cookie: str | None) -> str:
    if not cookie or len(cookie) > MAX_COOKIE:
        raise console_auth.SignInRefused(
            "未登录，请先登录", "not signed in; sign in first", reason="no_session"
        )
    return cookie


SessionCookie = Annotated[str | None, Cookie(alias=COOKIE, max_length=MAX_COOKIE)]


def signed_in_session(gw: GatewayDep, request: Request, session: SessionCookie = None) -> str:
    """The id of the live session of this request's cookie (401 otherwise)."""
    check_origin(gw, request)
    session_id = _session_id(session)
    console_auth.session_of(gw, session_id)  # refuses an ended session
    return session_id


def current_operator(
    gw: GatewayDep,
    request: Request,
    session: SessionCookie = None,
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token", max_length=128)] = None,
) -> Operator:
    """The signed-in operator of a console API call that carries its session's CSRF token."""
    check_origin(gw, request)
    session_id = _session_id(session)
    operator = console_auth.session_of(gw, session_id)
    if csrf is None or not hmac.compare_digest(csrf, console_auth.csrf_token(session_id)):
        raise CsrfRefused(
            "缺少或错误的 CSRF 令牌，请刷新页面后重试",
            f"expected the session's CSRF token in X-CSRF-Token, found "
            f"{'none' if csrf is None else 'a wrong one'}; reload the page",
        )
    return operator


OperatorDep = Annotated[Operator, Depends(current_operator)]
