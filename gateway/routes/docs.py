"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) that work without internet (issue 12).

FastAPI's own pages load Swagger UI, ReDoc, a favicon and Google fonts from CDNs, so on a
closed network (a kiosk, a government intranet) ``/docs`` was a blank page. Here the same pages
are made by FastAPI's :func:`get_swagger_ui_html` and :func:`get_redoc_html`, pointed at assets
this gateway serves itself under ``/docs/assets/``: the Swagger UI 5 bundle and ReDoc's
standalone script as the maintained ``fastapi-offline`` wheel ships them (current releases of
both, MIT), and the gateway's own favicon. ReDoc gets no Google fonts.

Only the files named in :data:`ASSETS` are served (no path from the request reaches the file
system), with a day's caching: they change only with the installed package.

Deliberately not here: the OpenAPI document itself (FastAPI's ``/openapi.json``, rewritten by
:mod:`gateway.openapi_doc`), and ``fastapi-offline``'s ``FastAPIOffline`` app factory (the
gateway builds its own app; only the assets are used).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from gateway.errors import NotFound

router = APIRouter(include_in_schema=False)

_OFFLINE = Path(str(files(fastapi_offline) / "static"))
_WEB_STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
ASSETS: dict[str, tuple[Path, str]] = {
    "swagger-ui-bundle.js": (_OFFLINE / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": (_OFFLINE / "swagger-ui.css", "text/css"),
    "redoc.standalone.js": (_OFFLINE / "redoc.standalone.js", "text/javascript"),
    "favicon.svg": (_WEB_STATIC / "favicon.svg", "image/svg+xml"),
}
ASSET_HEADERS = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
# The pages themselves: never cached (a new version of the gateway documents new routes), and
# Swagger UI's script and style inline in FastAPI's page, but nothing from another origin.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; worker-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
TITLE = "ecert-gateway 电子证照网关"


def _base(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    base = _base(request)
    page = get_swagger_ui_html(
        openapi_url=f"{base}/openapi.json",
        title=f"{TITLE} · 接口文档 API docs",
        swagger_js_url=f"{base}/docs/assets/swagger-ui-bundle.js",
        swagger_css_url=f"{base}/docs/assets/swagger-ui.css",
        swagger_favicon_url=f"{base}/docs/assets/favicon.svg",
        oauth2_redirect_url=None,
        # No validator badge (it would ask validator.swagger.io about the document).
        swagger_ui_parameters={"validatorUrl": None},
    )
    return HTMLResponse(page.body, headers=PAGE_HEADERS)


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    base = _base(request)
    page = get_redoc_html(
        openapi_url=f"{base}/openapi.json",
        title=f"{TITLE} · 接口文档 API reference",
        redoc_js_url=f"{base}/docs/assets/redoc.standalone.js",
        redoc_favicon_url=f"{base}/docs/assets/favicon.svg",
        with_google_fonts=False,
    )
    return HTMLResponse(page.body, headers=PAGE_HEADERS)


@router.get("/docs/assets/{name}")
def asset(name: str) -> FileResponse:
    """One of :data:`ASSETS`; anything else is a 404 naming what is served."""
    found = ASSETS.get(name)
    if found is None:
        raise NotFound(f"expected a docs asset, one of {sorted(ASSETS)}, found {name[:80]!r}")
    path, media_type = found
    return FileResponse(path, media_type=media_type, headers=ASSET_HEADERS)
