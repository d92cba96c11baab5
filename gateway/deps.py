"""FastAPI dependencies: the gateway and its services, the session, the authenticated agency
and its scopes. Routes take what they use from here, typed; nothing reads ``app.state``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from gateway.agencies import Principal, authenticate
from gateway.confirmations import Confirmer
from gateway.core import Gateway
from gateway.errors import Forbidden, Unauthorised
from gateway.peers import HttpFetcher
from gateway.publish import StatusListPublisher
from gateway.statements import StatementCache
from gateway.trustsync import SyncHealth
from gateway.verifiers import Counter
from gateway.verifiers import authenticate as authenticate_counter


@dataclass(frozen=True)
class Services:
    """What one app's routes use, made once by :func:`gateway.app.create_app`."""

    gateway: Gateway
    publisher: StatusListPublisher  # this city's signed status lists, cached
    confirmer: Confirmer  # confirmations asked of other cities, cached
    fetcher: HttpFetcher  # the one way to reach peers: bounded, stopped with the app
    sync_health: SyncHealth  # what the background federation sync last did
    statements: StatementCache  # signed entity statements, cached


SERVICES = "ecert_services"  # the one attribute of app.state this app sets


# The getters are async: resolving them never waits for a worker thread (the verify path
# stays on the loop).
async def get_services(request: Request) -> Services:
    services = getattr(request.app.state, SERVICES)
    if not isinstance(services, Services):
        raise TypeError(f"expected app.state.{SERVICES} to be Services, found {services!r}")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_gateway(services: ServicesDep) -> Gateway:
    return services.gateway


async def get_publisher(services: ServicesDep) -> StatusListPublisher:
    return services.publisher


async def get_confirmer(services: ServicesDep) -> Confirmer:
    return services.confirmer


async def get_fetcher(services: ServicesDep) -> HttpFetcher:
    return services.fetcher


async def get_sync_health(services: ServicesDep) -> SyncHealth:
    return services.sync_health


async def get_statements(services: ServicesDep) -> StatementCache:
    return services.statements


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
PublisherDep = Annotated[StatusListPublisher, Depends(get_publisher)]
ConfirmerDep = Annotated[Confirmer, Depends(get_confirmer)]
FetcherDep = Annotated[HttpFetcher, Depends(get_fetcher)]
SyncHealthDep = Annotated[SyncHealth, Depends(get_sync_health)]
StatementsDep = Annotated[StatementCache, Depends(get_statements)]


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


def get_counter(
    gw: GatewayDep, authorization: Annotated[str | None, Header(max_length=512)] = None
) -> Counter:
    """A counter, by its ``vk_`` key (``ecert verifier add`` printed it once)."""
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorised("expected an 'Authorization: Bearer <counter key>' header")
    with gw.sessions() as session:
        return authenticate_counter(session, authorization.removeprefix("Bearer ").strip())


CounterDep = Annotated[Counter, Depends(get_counter)]
