"""HTML pages: the home page, the verify page a phone opens after scanning a QR (/v), the
counter's page (/counter) and the web wallet (/wallet)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway import agencies
from gateway.deps import GatewayDep

WEB = Path(__file__).resolve().parent.parent / "web"
_env = Environment(
    loader=FileSystemLoader(WEB / "templates"), autoescape=select_autoescape(["html"])
)
router = APIRouter(include_in_schema=False)
KIOSK_IDLE_MIN, KIOSK_IDLE_MAX = 2, 3600  # seconds, as the setting ECERT_KIOSK_IDLE
# The pages load only their own script and style; the camera is for the verify page itself.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "Permissions-Policy": "camera=(self)",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/", response_class=HTMLResponse)
def index(gw: GatewayDep, request: Request) -> HTMLResponse:
    name, code, url = agencies.city_identity(gw)
    html = _env.get_template("index.html").render(city_name=name, city_code=code, public_url=url)
    return HTMLResponse(html, headers=PAGE_HEADERS)


def _page(
    gw: GatewayDep, request: Request, template: str, headers: dict[str, str], **extra: object
) -> HTMLResponse:
    """A script-driven page of this city, in Chinese first; its script calls the API here."""
    name, _code, _url = agencies.city_identity(gw)
    html = _env.get_template(template).render(
        lang_default="zh", api_base=request.scope.get("root_path", ""), city_name=name, **extra
    )
    return HTMLResponse(html, headers=headers)


NO_STORE_PAGE = {**PAGE_HEADERS, "Cache-Control": "no-store"}


@router.get("/counter", response_class=HTMLResponse)
def counter_page(gw: GatewayDep, request: Request) -> HTMLResponse:
    """A counter signs in with its key, asks a wallet for a presentation, sees the answer."""
    return _page(gw, request, "counter.html", NO_STORE_PAGE)


@router.get("/v", response_class=HTMLResponse)
def verify_page(
    gw: GatewayDep,
    request: Request,
    kiosk: Annotated[bool, Query(description="a shared kiosk: idle reset 自助模式")] = False,
    kiosk_idle: Annotated[
        int | None,
        Query(ge=KIOSK_IDLE_MIN, le=KIOSK_IDLE_MAX, description="idle seconds before a reset"),
    ] = None,
) -> HTMLResponse:
    """The verify page; ``?kiosk=1``: after ``kiosk_idle`` seconds (default the setting
    ``ECERT_KIOSK_IDLE``) without a touch, key or scan, the answer is cleared and the page is
    Chinese again, and the English choice is never remembered (a shared screen)."""
    idle = (kiosk_idle or gw.settings.kiosk_idle) if kiosk else None
    return _page(gw, request, "verify.html", NO_STORE_PAGE, kiosk_idle=idle)


# The web wallet talks to other cities' gateways (an offer from where the credential was issued,
# the counter's response_uri): it may connect to any https origin (and loopback, for demos),
# and nothing else changes.
WALLET_HEADERS = {
    **NO_STORE_PAGE,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"]
    + "; connect-src 'self' https: http://127.0.0.1:* http://localhost:*",
}


@router.get("/wallet", response_class=HTMLResponse)
def wallet_page(gw: GatewayDep, request: Request) -> HTMLResponse:
    return _page(gw, request, "wallet.html", WALLET_HEADERS)
