"""In-process federations: several gateways as ASGI apps, reached by origin through httpx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from gateway import agencies, federation, statements, trustexport
from gateway.app import create_app
from gateway.core import Gateway
from gateway.models import FederationRow
from gateway.peers import HttpFetcher
from gateway.settings import Settings
from tests.conftest import PASSPHRASE, FakeClock, truncate_all
from trust.keys import SigningKey
from trust.trustlist.root import Role, RootMetadata, SignedRoot

SETTLE_SECONDS = 20.0  # the longest a federation's teardown waits for calls in flight


class RoutingTransport(httpx.BaseTransport):
    """Sends each request to the in-process app serving its origin (no sockets).

    It counts the calls in flight, so that a federation can stop only once none is: a call
    that enters a ``TestClient`` whose portal is closing (its thread between the "running"
    check and the task's start) is never answered, and the thread that made it blocks for
    good. When that thread is a request handler of another gateway, that gateway's portal
    waits on it, and so does the test's exit (the suite hung 300 s in
    ``test_a_rotated_region_anchor_is_followed_and_its_licences_still_verify`` so)."""

    def __init__(self) -> None:
        self.apps: dict[str, TestClient] = {}
        self.down: set[str] = set()
        self._in_flight: dict[int, str] = {}
        self._settled = threading.Condition()
        self._next = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        with self._settled:
            client = self.apps.get(origin)
            if client is None or origin in self.down:
                raise httpx.ConnectError(f"no gateway at {origin}", request=request)
            self._next += 1
            call = self._next
            self._in_flight[call] = f"{request.method} {request.url}"
        try:
            return self._forward(client, request)
        finally:
            with self._settled:
                del self._in_flight[call]
                self._settled.notify_all()

    def shut(self, timeout: float = SETTLE_SECONDS) -> None:
        """Refuse every new call, then wait until the calls in flight have ended (each ends
        soon: every gateway it may reach refuses further calls, and every fetcher is stopped).
        Raises AssertionError naming the calls still in flight after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._settled:
            self.down.update(self.apps)
            while self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"calls still in flight {timeout:.0f} s after the federation stopped: "
                        f"{sorted(self._in_flight.values())}"
                    )
                self._settled.wait(left)

    @staticmethod
    def _forward(client: TestClient, request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode()
        answer = client.request(
            request.method, target, content=request.read(), headers=dict(request.headers)
        )
        # answer.content is already decoded: pass it on without the encoding it came in
        headers = [
            (name, value)
            for name, value in answer.headers.raw
            if name.lower() not in (b"content-encoding", b"content-length")
        ]
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)


@dataclass
class Federation:
    tmp: Path
    clock: FakeClock
    transport: RoutingTransport = field(default_factory=RoutingTransport)
    gateways: dict[str, Gateway] = field(default_factory=dict)
    stack: ExitStack = field(default_factory=ExitStack)
    app_fetchers: list[HttpFetcher] = field(default_factory=list)

    def fetcher(self) -> HttpFetcher:
        return HttpFetcher(httpx.Client(transport=self.transport))

    def quiesce(self) -> None:
        """Before any gateway stops: every gateway's background work told to stop, every
        origin unreachable, and no call between gateways still in flight (see
        :class:`RoutingTransport`)."""
        for fetcher in self.app_fetchers:
            fetcher.stop.set()
        self.transport.shut()

    def gateway(self, url: str, *, code: str, name: str, **settings_: Any) -> Gateway:
        """A city gateway serving ``url``; ``settings_`` override its settings. Its database
        is a SQLite file of its own unless ``database_url`` names the suite's PostgreSQL one
        (emptied before and after; one gateway of a federation at a time)."""
        port = url.rsplit(":", 1)[1]
        settings_.setdefault("database_url", f"sqlite:///{self.tmp / (port + '.db')}")
        settings = Settings(
            data_dir=self.tmp / port,
            key_passphrase=PASSPHRASE,
            status_list_size=4096,
            **settings_,
        )
        gw = Gateway.open(settings, clock=self.clock)
        self.stack.callback(gw.close)
        truncate_all(gw)
        self.stack.callback(truncate_all, gw)
        agencies.init_city(gw, code=code, name=name, public_url=url, actor="test")
        fetcher = self.fetcher()
        self.app_fetchers.append(fetcher)
        client = self.stack.enter_context(TestClient(create_app(gw, fetcher=fetcher), base_url=url))
        self.transport.apps[url] = client
        self.gateways[url] = gw
        return gw

    def client(self, url: str) -> TestClient:
        return self.transport.apps[url]

    def anchor(
        self, url: str, *, region_id: str, region_name: str, code: str, name: str, **settings: Any
    ) -> Gateway:
        gw = self.gateway(url, code=code, name=name, **settings)
        federation.init(gw, role=federation.ANCHOR, region_id=region_id, region_name=region_name,
                        actor="test")  # fmt: skip
        return gw

    def city(
        self, url: str, *, anchor: str, code: str, name: str, types: list[str], **settings: Any
    ) -> Gateway:
        """A city that joined ``anchor`` and was approved for ``types``."""
        gw = self.gateway(url, code=code, name=name, **settings)
        anchor_gw = self.gateways[anchor]
        with anchor_gw.sessions() as session:
            fed = federation.config(session)
            _, keys = federation.signing_key(anchor_gw, session, federation.SELF)
        federation.init(
            gw, role=federation.CITY, region_id=fed.region_id, region_name=fed.region_name,
            superior_id=anchor, superior_jwks=[dict(k.jwk) for k in keys], actor="test",
        )  # fmt: skip
        joined = self.client(anchor).post(
            "/federation/join",
            content=statements.entity_configuration(gw),
            headers={"Content-Type": "application/entity-statement+jwt"},
        )
        assert joined.status_code == 200, joined.text
        federation.approve(anchor_gw, entity_id=url, credential_types=types, actor="test")
        return gw

    def serve_a_thiefs_rotation(self, anchor: str, *, same_version: bool = False) -> SigningKey:
        """Make ``anchor`` serve root n+1 signed by a stranger's key only (not by its own old
        keys), as an attacker controlling its server would; the stranger's key is returned.
        ``same_version``: serve, as the only root, one that claims the current version n."""
        gw = self.gateways[anchor]
        current = trustexport.signed_root(gw)
        thief = SigningKey.generate()
        kids = frozenset({thief.kid})
        root = RootMetadata(
            version=current.root.version + (0 if same_version else 1),
            expires=self.clock.now + 86_400,
            region_id=current.root.region_id,
            region_name=current.root.region_name,
            keys={thief.kid: thief.public},
            root_role=Role(keyids=kids, threshold=1),
            trust_list_role=Role(keyids=kids, threshold=1),
        )
        with gw.transaction() as session:
            row = session.get(FederationRow, 1)
            assert row is not None
            row.root_history = [] if same_version else [current.to_bytes().decode()]
            row.root = SignedRoot.sign(root, [thief]).to_bytes().decode()
        return thief


@contextmanager
def federation_of(tmp: Path, clock: FakeClock) -> Iterator[Federation]:
    fed = Federation(tmp=tmp, clock=clock)
    with fed.stack:
        try:
            yield fed
        finally:
            fed.quiesce()  # before the stack stops any gateway
