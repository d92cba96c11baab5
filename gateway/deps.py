"""FastAPI dependencies: the gateway, the session, the authenticated agency and its scopes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from gateway.agencies import Principal, authenticate
from gateway.core import Gateway
from gateway.errors import Forbidden, Unauthorised


async def get_gateway(request: Request) -> Gateway:
    # async: resolving it never waits for a worker thread (the verify path stays on the loop)
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def get_session(gw: GatewayDep) -> Iterator[Session]:
    with gw.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_principal(
    gw: GatewayDep, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorised("expected an 'Authorization: Bearer <API key>' header")
    # Its own short session: a request never holds one connection while taking another.
    with gw.sessions() as session:
        return authenticate(session, authorization.removeprefix("Bearer ").strip())


def require(scope: str) -> Callable[[Principal], Principal]:
    def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if scope not in principal.scopes:
            raise Forbidden(
                f"this API key lacks the {scope!r} scope (it has {sorted(principal.scopes)})"
            )
        return principal

    return check


Issuer = Annotated[Principal, Depends(require("issue"))]
StatusAdmin = Annotated[Principal, Depends(require("status"))]
Reader = Annotated[Principal, Depends(require("read"))]
