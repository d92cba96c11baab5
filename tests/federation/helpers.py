"""Driving the multi-process demo federation over HTTP, with bounded, timed waits.

Every wait is a poll with a deadline that returns how long it took, so the test can report
propagation times measured on real processes rather than assumed from configuration.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from cli.federation_demo import SPECS, start_federation
from cli.federation_demo_procs import DemoFederation, DemoGateway
from tests.cli.helpers import free_port
from tests.conftest import PG_ENV
from trust.encoding import b64url_decode
from trust.jws import _unverified_header, sign_compact
from trust.keys import SigningKey

WAIT = 60.0  # seconds: the bound of every poll
POLL = 0.25


@contextmanager
def running_federation(
    base: Path, *, refresh: float, status_ttl: int, reference_ttl: int | None = None
) -> Iterator[DemoFederation]:
    """The six demo gateways on free loopback ports under ``base``, 苏州 on the suite's
    PostgreSQL when it has one; stopped on exit."""
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(SPECS):
        ports = {s.key: free_port() for s in SPECS}
    pg = os.environ.get(PG_ENV) or None
    running = start_federation(
        base, ports=ports, refresh=refresh, status_ttl=status_ttl, postgres=pg,
        postgres_required=pg is not None, reference_ttl=reference_ttl,
    )  # fmt: skip
    try:
        yield running
    finally:
        running.stop()


@contextmanager
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=15.0) as client:
        yield client


@dataclass
class Measured:
    what: str
    where: str
    seconds: float
    bound: float


@dataclass
class Timings:
    """Propagation times measured in this module, printed as a table at the end."""

    rows: list[Measured] = field(default_factory=list)

    def record(self, what: str, where: str, seconds: float, bound: float) -> None:
        self.rows.append(Measured(what, where, seconds, bound))

    def table(self, header: str) -> str:
        width = max([len(r.what) for r in self.rows] + [4])
        lines = [header, f"{'what':<{width}}  {'where':<8} {'seconds':>8} {'bound':>6}"]
        lines += [
            f"{r.what:<{width}}  {r.where:<8} {r.seconds:>8.1f} {r.bound:>6.1f}" for r in self.rows
        ]
        return "\n".join(lines)


def wait_for(
    what: str,
    probe: Callable[[], tuple[bool, Any]],
    *,
    since: float | None = None,
    timeout: float = WAIT,
) -> float:
    """Poll ``probe`` (→ done, what it saw) until done; the seconds since ``since`` (a
    ``time.monotonic()`` reading, default now), or fail with the last observation once
    ``timeout`` seconds have passed."""
    start = time.monotonic() if since is None else since
    seen: Any = None
    while True:
        done, seen = probe()
        elapsed = time.monotonic() - start
        if done:
            return elapsed
        if elapsed > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f}s; last seen: {seen}")
        time.sleep(POLL)


def verify(client: httpx.Client, g: DemoGateway, qr: str) -> dict[str, Any]:
    answer = client.post(f"{g.url}/api/v1/verify", json={"qr": qr})
    assert answer.status_code == 200, f"{g.spec.name}: {answer.status_code} {answer.text}"
    body: dict[str, Any] = answer.json()
    return body


def reason_is(
    client: httpx.Client, g: DemoGateway, qr: str, reason: str, *, since: float | None = None
) -> float:
    """Wait until ``g``'s counter answers ``reason`` for ``qr``; seconds since ``since``."""

    def probe() -> tuple[bool, Any]:
        body = verify(client, g, qr)
        return body["reason"] == reason, (body["reason"], body["detail"])

    return wait_for(f"{g.spec.name} answering {reason}", probe, since=since)


def issue(
    client: httpx.Client,
    g: DemoGateway,
    ctype: str,
    subject: dict[str, Any],
    *,
    wallet_offer: bool = False,
) -> Any:
    agency = g.agency_for(ctype)
    answer = client.post(
        f"{g.url}/api/v1/credentials",
        headers={"Authorization": f"Bearer {agency['api_key']}"},
        json={"type": ctype, "subject": subject, "wallet_offer": wallet_offer},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def revoke(client: httpx.Client, g: DemoGateway, ctype: str, credential_id: str) -> None:
    agency = g.agency_for(ctype)
    answer = client.post(
        f"{g.url}/api/v1/credentials/{credential_id}/revoke",
        headers={"Authorization": f"Bearer {agency['api_key']}"},
        json={"reason": "企业申请注销"},
    )
    assert answer.status_code == 200, answer.text


def health(client: httpx.Client, g: DemoGateway) -> dict[str, Any]:
    answer = client.get(f"{g.url}/healthz")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def payload(token: str) -> dict[str, Any]:
    """A compact JWS's claims, not verified (for copying into a forgery)."""
    claims: dict[str, Any] = orjson.loads(b64url_decode(token.split(".")[1]))
    return claims


def stolen_key(g: DemoGateway, kid: str, passphrase: str) -> tuple[SigningKey, int]:
    """The private key ``kid`` as a thief with the database and passphrase has it, and its
    creation time (read-only, straight from the gateway's SQLite file)."""
    db = f"file:{g.data_dir / 'gateway.db'}?mode=ro"
    with closing(sqlite3.connect(db, uri=True)) as conn:
        row = conn.execute(
            "SELECT private_pem, created_at FROM signing_keys WHERE kid = ?", (kid,)
        ).fetchone()
    assert row is not None, f"no key {kid} in {db}"
    pem = row[0] if isinstance(row[0], bytes) else str(row[0]).encode()
    return SigningKey.from_encrypted_pem(pem, passphrase), int(row[1])


def forge(genuine: str, key: SigningKey, *, not_before: int) -> str:
    """A token signed with ``key`` (stolen), copying ``genuine``'s claims under a 流水号 of the
    year before (serials are ``{year}{counter}``) and an issuance time backdated as far as the
    key's creation allows (before that, any verifier would refuse it outright)."""
    header = _unverified_header(genuine.split(".")[0])
    claims = payload(genuine)
    serial, version = str(claims["jti"]).split(".")
    claims["jti"] = f"{int(serial[:4]) - 1}{serial[4:]}.{version}"
    claims["iat"] = max(not_before, int(claims["iat"]) - 3600)
    return sign_compact(claims, key, typ=str(header["typ"]), kid=str(header["kid"]))
