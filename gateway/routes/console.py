"""The agency console (``/console``): the page, sign-in and sign-out, the types an operator's
agency may issue (the issue form is generated from them), issuing one credential, reading one
(metadata, status history, QR) and changing its status.

Every action goes through the service the API uses (``gateway.issuance``, ``gateway.status``,
``gateway.credential_views``), so a bad field answers the same field error as the API, which
the page shows beside the field. Each action is also an audit event naming the operator.
Batch issuance, search and printing are :mod:`gateway.routes.console_batch`.

Deliberately not here: authentication (``gateway.console_auth``) and the cookie, CSRF and
Origin checks (``gateway.console_http``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import Field

from gateway import agencies, console_actions, console_auth, credential_views, issuance
from gateway import status as status_service
from gateway.address_limits import client_address
from gateway.console_auth import Operator
from gateway.console_http import (
    COOKIE,
    MAX_COOKIE,
    OperatorDep,
    check_origin,
    clear_session_cookie,
    set_session_cookie,
)
from gateway.core import Gateway
from gateway.deps import GatewayDep, LimiterDep
from gateway.errors import Forbidden, NotFound
from gateway.routes import console_batch
from gateway.routes.pages import NO_STORE_PAGE, _env
from gateway.schemas import ReasonBody, RecordId, Strict
from issuers.credential_types import CredentialType
from issuers.qr import render_svg
from issuers.status_rules import FINAL_CODES, STATUS_NAMES

router = APIRouter(prefix="/console", include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


class SignInBody(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=console_auth.MAX_PASSWORD)
    code: str = Field(pattern=r"^[0-9]{6}$", description="the 6-digit one-time code (TOTP)")


class ConsoleIssueBody(Strict):
    type: str = Field(min_length=1, max_length=64)
    subject: dict[str, Any] = Field(max_length=64)
    valid_from: str | None = Field(default=None, max_length=40)
    valid_until: str | None = Field(default=None, max_length=40)


@router.get("", response_class=HTMLResponse)
def console_page(gw: GatewayDep, request: Request) -> HTMLResponse:
    name, _code, _url = agencies.city_identity(gw)
    html = _env.get_template("console.html").render(
        lang_default="zh", api_base=request.scope.get("root_path", ""), city_name=name
    )
    return HTMLResponse(html, headers=NO_STORE_PAGE)


def _signed_in(gw: Gateway, operator: Operator, session_id: str, expires: int) -> dict[str, Any]:
    return {
        "operator": operator.as_dict(),
        "csrf_token": console_auth.csrf_token(session_id),
        "expires_at": expires,
        "types": issuable_types(gw, operator.agency_id),
        "status_codes": [
            {"code": code, "zh": STATUS_NAMES[code][0], "en": STATUS_NAMES[code][1]}
            for code in sorted(FINAL_CODES)
        ],
    }


@router.post("/api/sign-in")
def sign_in(
    body: SignInBody, gw: GatewayDep, limiter: LimiterDep, request: Request, response: Response
) -> dict[str, Any]:
    check_origin(gw, request)
    operator, session_id, expires = console_auth.sign_in(
        gw,
        limiter,
        username=body.username,
        password=body.password,
        code=body.code,
        address=client_address(request.scope),
    )
    set_session_cookie(gw, response, session_id)
    response.headers.update(NO_STORE)
    return _signed_in(gw, operator, session_id, expires)


@router.get("/api/session")
def session_info(
    gw: GatewayDep,
    response: Response,
    session: Annotated[str | None, Cookie(alias=COOKIE, max_length=MAX_COOKIE)] = None,
) -> dict[str, Any]:
    """Who is signed in, and the session's CSRF token (readable by this origin only)."""
    if not session:
        raise console_auth.SignInRefused(
            "未登录，请先登录", "not signed in; sign in first", reason="no_session"
        )
    operator = console_auth.session_of(gw, session)
    response.headers.update(NO_STORE)
    return _signed_in(gw, operator, session, 0)


@router.post("/api/sign-out")
def sign_out(
    operator: OperatorDep,
    gw: GatewayDep,
    response: Response,
    session: Annotated[str | None, Cookie(alias=COOKIE, max_length=MAX_COOKIE)] = None,
) -> dict[str, bool]:
    if session:
        console_auth.sign_out(gw, session)
    clear_session_cookie(gw, response)
    return {"signed_out": True}


def _field(spec: Any) -> dict[str, Any]:
    schema = dict(spec.schema)
    return {
        "name": spec.name,
        "label": {"zh": spec.label_zh, "en": spec.label_en},
        "required": spec.required,
        "visibility": spec.visibility,
        "type": schema.get("type", "string"),
        "enum": schema.get("enum"),
        "max_length": schema.get("maxLength"),
        "check": schema.get("x-check"),
        "hint": schema.get("x-hint"),
    }


def type_form(ctype: CredentialType) -> dict[str, Any]:
    """What the issue form is generated from: the type's submitted fields with their labels."""
    return {
        "code": ctype.code,
        "name": {"zh": ctype.name_zh, "en": ctype.name_en},
        "default_validity_days": ctype.default_validity_days,
        "fields": [_field(f) for f in ctype.fields if f.derived is None],
    }


def issuable_types(gw: Gateway, agency_id: str) -> list[dict[str, Any]]:
    return [type_form(gw.types.get(code)) for code in console_actions.agency_types(gw, agency_id)]


@contextmanager
def own_credential(credential_id: str) -> Iterator[None]:
    """Another agency's credential is not found for an operator (404), never "forbidden"."""
    try:
        yield
    except Forbidden as exc:
        if "another agency" not in str(exc):
            raise
        raise NotFound(f"no credential {credential_id!r}") from exc


@router.post("/api/credentials", status_code=201)
def issue_one(body: ConsoleIssueBody, operator: OperatorDep, gw: GatewayDep) -> dict[str, Any]:
    row, _created = issuance.issue(
        gw,
        agency_id=operator.agency_id,
        request=issuance.IssueRequest(
            type=body.type,
            subject=body.subject,
            valid_from=body.valid_from or None,
            valid_until=body.valid_until or None,
        ),
    )
    console_actions.record_action(gw, operator, "console.issue", row.id, type=row.type)
    return credential_views.issued(gw, row)


def detail_for(gw: Gateway, operator: Operator, credential_id: str) -> dict[str, Any]:
    with own_credential(credential_id):
        detail = credential_views.detail(gw, credential_id, operator.agency_id)
    detail["qr_svg_text"] = render_svg(detail["qr_text"])
    ctype = gw.types.get(detail["type"])
    detail["type_name"] = {"zh": ctype.name_zh, "en": ctype.name_en}
    detail["labels"] = {f.name: {"zh": f.label_zh, "en": f.label_en} for f in ctype.fields}
    return detail


@router.get("/api/credentials/{credential_id}")
def read_one(credential_id: RecordId, operator: OperatorDep, gw: GatewayDep) -> dict[str, Any]:
    return detail_for(gw, operator, credential_id)


def _status_route(action: str) -> Callable[..., dict[str, Any]]:
    def change(
        credential_id: RecordId, body: ReasonBody, operator: OperatorDep, gw: GatewayDep
    ) -> dict[str, Any]:
        with own_credential(credential_id):
            status_service.change(
                gw,
                credential_id=credential_id,
                action=action,
                reason=body.reason,
                actor=operator.actor,
                agency_id=operator.agency_id,
                code=body.code,
            )
        return detail_for(gw, operator, credential_id)

    change.__name__ = f"console_{action}"
    return change


for _action in ("suspend", "reinstate", "revoke"):
    router.post(f"/api/credentials/{{credential_id}}/{_action}")(_status_route(_action))


# Batch issuance, search and printing: their own module, served under this router.
router.include_router(console_batch.router)
