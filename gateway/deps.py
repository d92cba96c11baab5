"""FastAPI dependencies: the gateway and its services, the session, the authenticated agency
and its scopes, the authenticated counter. Routes take what they use from here, typed; nothing
reads ``app.state``.

Authentication spends budgets (``gateway.ratelimit``): a key id or address locked out by failed
attempts is refused first (429, ``gateway.auth_guard``), a failure is counted, and an
authenticated call spends its key's (``api_key``, ``issue``) or its counter's (``verifier``)
budget. Peer gateways' federation posts spend the budget of the peer they name (``peer``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from gateway import api_keys, auth_guard
from gateway.address_limits import client_address
from gateway.api_keys import LastUse, Principal
from gateway.confirmations import Confirmer
from gateway.core import Gateway
from gateway.errors import Forbidden, Unauthorised
from gateway.models import VerifierRow
from gateway.peers import HttpFetcher
from gateway.publish import StatusListPublisher
from gateway.ratelimit import Limiter
from gateway.statements import StatementCache
from gateway.trustsync import SyncHealth
from gateway.verifiers import KEY_PREFIX as COUNTER_PREFIX
from gateway.verifiers import Counter
from gateway.verifiers import authenticate as authenticate_counter
from trust.errors import DataError
from trust.federation.common import unverified_payload


@dataclass(frozen=True)
class Services:
    """What one app's routes use, made once by :func:`gateway.app.create_app`."""

    gateway: Gateway
    publisher: StatusListPublisher  # this city's signed status lists, cached
    confirmer: Confirmer  # confirmations asked of other cities, cached
    fetcher: HttpFetcher  # the one way to reach peers: bounded, stopped with the app
    sync_health: SyncHealth  # what the background federation sync last did
    statements: StatementCache  # signed entity statements, cached
    limiter: Limiter  # the rate limits (gateway.ratelimit)
    last_use: LastUse  # API keys' last use, written at most once a minute per key


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


async def get_limiter(services: ServicesDep) -> Limiter:
    return services.limiter


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
PublisherDep = Annotated[StatusListPublisher, Depends(get_publisher)]
ConfirmerDep = Annotated[Confirmer, Depends(get_confirmer)]
FetcherDep = Annotated[HttpFetcher, Depends(get_fetcher)]
SyncHealthDep = Annotated[SyncHealth, Depends(get_sync_health)]
StatementsDep = Annotated[StatementCache, Depends(get_statements)]
LimiterDep = Annotated[Limiter, Depends(get_limiter)]


def get_session(gw: GatewayDep) -> Iterator[Session]:
    with gw.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _bearer(authorization: str | None, what: str) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise Unauthorised(f"expected an 'Authorization: Bearer <{what}>' header")
    return authorization.removeprefix("Bearer ").strip()


def get_principal(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(max_length=512)] = None,
) -> Principal:
    presented = _bearer(authorization, "API key")
    gw, limiter, address = services.gateway, services.limiter, client_address(request.scope)
    auth_guard.refuse_if_locked(
        limiter, kind="apikey", key_id=api_keys.key_id_of(presented), address=address
    )
    try:
        # Its own short connection: a request never holds one connection while taking another.
        with gw.engine.connect() as connection:
            principal = api_keys.authenticate(connection, presented, now=gw.clock())
    except api_keys.KeyRefused as exc:
        auth_guard.failed(gw, limiter, kind="apikey", known=exc.known, address=address)
        raise
    limiter.hit("api_key", principal.key_id)
    services.last_use.note(gw, principal)
    return principal


def require(scope: str) -> Callable[[Principal, Limiter], Awaitable[Principal]]:
    # async: no I/O but the limiter's (which the verify fast path spends on the event loop
    # too), so FastAPI runs it on the loop, not in a worker thread of its own (issue 13:
    # three thread hops a request to issue, ~14% of the GIL in waking threads).
    async def check(
        principal: Annotated[Principal, Depends(get_principal)], limiter: LimiterDep
    ) -> Principal:
        if scope not in principal.scopes:
            raise Forbidden(
                f"this API key lacks the {scope!r} scope (it has {sorted(principal.scopes)})"
            )
        if scope == "issue":
            limiter.hit("issue", principal.key_id)
        return principal

    return check


Issuer = Annotated[Principal, Depends(require("issue"))]
StatusAdmin = Annotated[Principal, Depends(require("status"))]
Reader = Annotated[Principal, Depends(require("read"))]


def get_counter(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(max_length=512)] = None,
) -> Counter:
    """A counter, by its ``vk_`` key (``ecert verifier add`` printed it once)."""
    presented = _bearer(authorization, "counter key")
    gw, limiter, address = services.gateway, services.limiter, client_address(request.scope)
    parts = presented.split("_", 2)
    hint = parts[1][:40] if len(parts) == 3 and parts[0] == COUNTER_PREFIX else None
    auth_guard.refuse_if_locked(limiter, kind="counter", key_id=hint, address=address)
    refused: Unauthorised | None = None
    with gw.sessions() as session:
        try:
            counter = authenticate_counter(session, presented)
        except Unauthorised as exc:
            refused = exc
            known = hint if hint and session.get(VerifierRow, hint) is not None else None
    if refused is not None:  # counted (and audited) once the read's connection is back
        auth_guard.failed(gw, limiter, kind="counter", known=known, address=address)
        raise refused
    limiter.hit("verifier", counter.id)
    return counter


CounterDep = Annotated[Counter, Depends(get_counter)]


MAX_PEER_ISS = 512


async def peer_limited(request: Request, services: ServicesDep) -> None:
    """Spend the budget of the peer gateway a federation post names (its ``iss``, read before
    any signature is checked, so the budget bounds that work too) and of the address it came
    from: a forger naming a genuine peer spends only a budget of its own address, never the
    genuine peer's."""
    body = (await request.body()).strip().decode("ascii", "replace")
    try:
        named = unverified_payload(body, max_length=len(body)).get("iss")
    except DataError:  # not a JWS: the endpoint refuses it; its address still spends the budget
        named = None
    iss = named if isinstance(named, str) and 0 < len(named) <= MAX_PEER_ISS else "unnamed"
    services.limiter.hit("peer", iss, client_address(request.scope))


PeerLimited = Depends(peer_limited)
