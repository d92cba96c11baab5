"""A read never writes (issue 8): every public GET answers while another connection holds the
database's write lock.

Before, eight public GETs (the entity configurations, fetch, resolve, historical keys, the
trust root, a trust list delta, confirm) opened a write transaction (SQLite ``BEGIN
IMMEDIATE``), because a federation key could be made on first use and the root was signed on
first use: under load, readers queued behind the one writer, and with a writer stuck they
waited out SQLite's busy timeout (30 s).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path

import httpx

from gateway import agencies, issuance, keystore, trustsync
from gateway.core import Gateway
from gateway.statements import STATEMENT_LIFETIME
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.federation.statements import unverified_payload

YRD, HZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101"
PROMPT = 3.0  # seconds: far under SQLite's busy timeout, far over a read's few milliseconds


@contextmanager
def write_lock_held(gw: Gateway) -> Iterator[None]:
    """Another connection holds ``gw``'s SQLite write lock (as a long write would)."""
    path = gw.engine.url.database
    assert path is not None
    with closing(sqlite3.connect(path, isolation_level=None, timeout=1)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


def test_every_public_get_answers_while_a_writer_holds_the_lock(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["business-licence"])
        agency, _ = agencies.add_agency(
            hz, name="杭州市市场监督管理局", uscc="11330100MB1958123M",
            types=["business-licence"], actor="t",
        )  # fmt: skip
        row, _ = issuance.issue(
            hz,
            agency_id=agency.id,
            request=issuance.IssueRequest("business-licence", SAMPLE_SUBJECTS["business-licence"]),
        )
        for gw in (yrd, hz):
            trustsync.sync_once(gw, fed.fetcher(), lifetime=86_400, refresh=60)
        agencies.add_agency(  # a second version of 杭州's trust list, for the delta
            hz, name="杭州市卫生健康委员会", uscc="11330100002490365L",
            types=["business-licence"], actor="t",
        )  # fmt: skip
        assert trustsync.sync_once(hz, fed.fetcher(), lifetime=86_400, refresh=60).version == 2
        leaf = f"{HZ}/agencies/{agency.id}"
        gets = [
            (HZ, "/.well-known/openid-federation", 200),
            (HZ, f"/agencies/{agency.id}/.well-known/openid-federation", 200),
            (HZ, f"/federation/fetch?sub={leaf}", 200),
            (HZ, "/federation/list", 200),
            (HZ, "/federation/historical_keys", 200),
            (YRD, f"/federation/fetch?sub={HZ}", 200),
            (YRD, f"/federation/resolve?sub={leaf}&trust_anchor={YRD}", 200),
            (HZ, "/trust/list", 200),
            (HZ, "/trust/list?since=1", 200),
            (HZ, "/trust/root", 200),
            (HZ, "/trust/root/history", 200),
            (HZ, f"/federation/confirm?token_hash={row.token_hash}", 404),
            (HZ, "/.well-known/jwks.json", 200),
            (HZ, "/statuslists", 200),
            (HZ, f"/statuslists/{row.status_list_id}", 200),
            (HZ, "/healthz", 200),
        ]

        def timed(origin: str, path: str) -> tuple[float, httpx.Response]:
            started = time.monotonic()
            answer = fed.client(origin).get(path)
            return time.monotonic() - started, answer

        slow: list[str] = []
        with ThreadPoolExecutor(max_workers=len(gets)) as pool:
            with write_lock_held(hz), write_lock_held(yrd):
                futures = [(path, pool.submit(timed, origin, path)) for origin, path, _ in gets]
                deadline = time.monotonic() + PROMPT
                for path, future in futures:
                    if not future.done():
                        try:
                            future.result(timeout=max(0.0, deadline - time.monotonic()))
                        except TimeoutError:
                            slow.append(path)
            answers = [(path, f.result(timeout=60)) for path, f in futures]
        assert slow == [], f"waited for the write lock: {slow}"
        for (_, path, status), (_, (_, answer)) in zip(gets, answers, strict=True):
            assert answer.status_code == status, (path, answer.status_code, answer.text)


def test_a_statement_is_signed_again_only_when_it_changes_or_ages(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=["business-licence"])
        agency, _ = agencies.add_agency(
            hz, name="杭州市市场监督管理局", uscc="11330100MB1958123M",
            types=["business-licence"], actor="t",
        )  # fmt: skip
        client = fed.client(HZ)
        paths = [
            "/.well-known/openid-federation",
            f"/agencies/{agency.id}/.well-known/openid-federation",
        ]

        def tokens() -> list[str]:
            return [client.get(p).text for p in paths]

        first = tokens()
        clock.advance(60)
        assert tokens() == first  # nothing changed: the cached statements
        keystore.rotate(hz, agency_id=agency.id, actor="t")  # the agency's metadata changes
        rotated = tokens()
        assert rotated[0] == first[0]
        assert rotated[1] != first[1]
        assert "iat" in unverified_payload(rotated[1])
        clock.advance(STATEMENT_LIFETIME // 2)  # half a lifetime: both signed again
        aged = tokens()
        assert aged[0] != first[0]
        assert aged[1] != rotated[1]
        assert unverified_payload(aged[0])["iat"] == clock.now
