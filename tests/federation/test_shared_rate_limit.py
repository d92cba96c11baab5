"""Two ``ecert serve`` processes of one city on one Redis spend one rate-limit budget (issue 11):
what both admit together is the limit, not twice it.

Runs when ``ECERT_TEST_REDIS_URL`` is set (``.ci/run`` sets it); it uses keys under a prefix of
its own and deletes only those.
"""

from __future__ import annotations

import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import Served, ecert

REDIS_ENV = "ECERT_TEST_REDIS_URL"
LIMIT = 25
REQUESTS = 40  # a process, both at once


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(
            f"the shared rate-limit test needs Redis: set {REDIS_ENV}, e.g. "
            f"{REDIS_ENV}=redis://127.0.0.1:6379/3 (.ci/run sets it)"
        )
    return url


def test_two_serve_processes_on_one_redis_admit_one_budget_between_them(
    tmp_path: Path, redis_url: str
) -> None:
    import redis

    data = str(tmp_path / "hz")
    assert ecert("init", "--data-dir", data, "--city-code", "330100").returncode == 0
    prefix = f"ecert-test-{secrets.token_hex(4)}"
    # a day's window: the sliding window counter is exact while its window does not turn over
    env = {
        "ECERT_REDIS_URL": redis_url,
        "ECERT_REDIS_PREFIX": prefix,
        "ECERT_RATE_LIMIT_VERIFY": f"{LIMIT}/day",
    }
    serve = ["serve", "--data-dir", data]
    try:
        with (
            Served(serve, tmp_path, env=env) as a,
            Served(serve, tmp_path, env=env) as b,
            httpx.Client(timeout=15.0) as client,
        ):
            for served in (a, b):
                shown = client.get(f"{served.url}/healthz").json()["rate_limits"]
                assert shown["storage"] == "redis", shown

            def verify(n: int) -> tuple[str, int]:
                served = (a, b)[n % 2]
                answer = client.post(f"{served.url}/api/v1/verify", json={"qr": "x"})
                return served.url, answer.status_code

            with ThreadPoolExecutor(max_workers=8) as pool:
                results = list(pool.map(verify, range(2 * REQUESTS)))
        admitted = dict.fromkeys((a.url, b.url), 0)
        for url, status in results:
            assert status in (200, 429)
            admitted[url] += status == 200
        assert sum(admitted.values()) == LIMIT, admitted
        assert all(admitted.values()), admitted  # both processes admitted some of it
        print(f"\nadmitted per process: {sorted(admitted.values())}, together {LIMIT}")
    finally:
        store = redis.Redis.from_url(redis_url, socket_timeout=2)
        try:
            for key in store.scan_iter(match=f"{prefix}*"):
                store.delete(key)
        finally:
            store.close()
