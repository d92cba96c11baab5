"""One city on three processes behind HAProxy, one of them killed under a verify load (issue 13).

"A test kills one process with SIGKILL under load: 0 failed verifies seen by clients (health
checks, retries), and the revocation made just before is answered by all that remain."

A credential is issued and another revoked through the balancer and one process; then client
threads verify both through HAProxy while one gateway process is SIGKILLed. Every verify must
answer 200 with the expected reason, and each process still running, asked directly, answers
REVOKED. The processes' poll for other processes' writes is set to a minute here, so what
carries the revocation to them is PostgreSQL's ``NOTIFY`` on commit (the 1 s bound itself is
``tests/cli/test_serve_workers.py``'s). Needs PostgreSQL and HAProxy.

HAProxy sends a request again when the connection failed or no answer came (health checks take
the dead process out within two seconds); it cannot once the answer has begun. ``ecert serve``
writes an answer in one socket write, so that is rare; should the process die mid-answer, the
client has a cut answer and repeats the verify once, as a verify client may. At most one such
repeat a client is allowed, and the count is printed.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.cluster_demo import prepare_city
from cli.cluster_procs import Cluster, start_cluster
from loadtests.common import licence_subject
from tests.cli.helpers import free_port
from tests.conftest import PG_ENV, PG_HOW, pg_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(120)]

CLIENTS = 4
LOAD_SECONDS = 6.0
KILL_AFTER = 2.0
PROPAGATION_BOUND = 5.0  # seconds for a remaining process to answer the revocation
REFRESH = "60"  # ECERT_REFRESH_INTERVAL: the poll, slower than the test: NOTIFY must carry it
REASONS = {"VALID", "REVOKED"}
SETTINGS = {"ECERT_REFRESH_INTERVAL": REFRESH, "ECERT_RATE_LIMITS": "0", "ECERT_ACCESS_LOG": "off"}


@pytest.fixture
def database() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOW)
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        pytest.skip("the cluster tests need HAProxy: apt-get install haproxy (.ci/run does)")
    with pg_database(base) as url:
        yield url


def _verify(client: httpx.Client, url: str, qr: str) -> str:
    answer = client.post(f"{url}/api/v1/verify", json={"qr": qr})
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}"
    return str(answer.json()["reason"])


def _load(cluster: Cluster, valid: str, revoked: str, stop: threading.Event) -> list[Counter[str]]:
    """Client threads verifying through HAProxy until ``stop``; what each saw, by outcome."""
    seen: list[Counter[str]] = [Counter() for _ in range(CLIENTS)]

    def once(http: httpx.Client, qr: str) -> str:
        try:
            return _verify(http, cluster.url, qr)
        except httpx.HTTPError as exc:
            return type(exc).__name__

    def client(counts: Counter[str]) -> None:
        with httpx.Client(timeout=10.0) as http:
            while not stop.is_set():
                for name, qr in (("valid", valid), ("revoked", revoked)):
                    outcome = once(http, qr)
                    if outcome not in REASONS:
                        # A process killed after its headers left and before its body did:
                        # HAProxy cannot send that request again (the answer has begun), so
                        # the client does, as verify is safe to repeat.
                        counts["retried by the client"] += 1
                        outcome = once(http, qr)
                    counts[f"{name}: {outcome}"] += 1

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in seen]
    for t in threads:
        t.start()
    return_at = time.monotonic() + LOAD_SECONDS
    try:
        stop.wait(max(0.0, return_at - time.monotonic()))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=15.0)
    assert not any(t.is_alive() for t in threads), "a client thread did not end"
    return seen


def test_a_process_killed_under_verify_load_fails_no_client(database: str, tmp_path: Path) -> None:
    port = free_port(4)
    data_dir = tmp_path / "city"
    agency = prepare_city(data_dir, database, f"http://127.0.0.1:{port}")
    cluster = start_cluster(data_dir=data_dir, database_url=database, port=port,
                            gateway_ports=[port + 1, port + 2, port + 3], env=SETTINGS,
                            ready_timeout=45.0)  # fmt: skip
    stop = threading.Event()
    try:
        auth = {"Authorization": f"Bearer {agency['api_key']}"}
        with httpx.Client(timeout=10.0, headers=auth) as http:
            issued = []
            for n in range(2):
                body = {"type": "business-licence", "subject": licence_subject(n)}
                made = http.post(f"{cluster.url}/api/v1/credentials", json=body)
                assert made.status_code == 201, made.text
                issued.append(made.json())
            valid, doomed = issued
            first = cluster.gateways[0]
            revoked = http.post(f"{first.url}/api/v1/credentials/{doomed['id']}/revoke",
                                json={"reason": "集群测试：撤销"})  # fmt: skip
            assert revoked.status_code == 200, revoked.text
        # the process that revoked answers at once; the others once NOTIFY reached them
        with httpx.Client(timeout=10.0) as http:
            assert _verify(http, first.url, doomed["qr_text"]) == "REVOKED"
            _until_revoked(http, cluster, doomed["qr_text"], alive=[0, 1, 2])

        killer = threading.Timer(KILL_AFTER, cluster.kill, args=(1,))
        killer.start()
        try:
            seen = _load(cluster, valid["qr_text"], doomed["qr_text"], stop)
        finally:
            killer.cancel()
            killer.join(timeout=10.0)
        assert not cluster.gateways[1].alive(), "gateway 2 was not killed during the load"
        total: Counter[str] = Counter()
        for counts in seen:
            total.update(counts)
        expected = {"valid: VALID", "revoked: REVOKED", "retried by the client"}
        failed = {k: v for k, v in total.items() if k not in expected}
        assert not failed, f"clients saw failed verifies: {dict(total)}\n{_unusual(cluster)}"
        # only the requests a killed process held at that moment: at most one a client
        assert total["retried by the client"] <= CLIENTS, dict(total)
        print(f"\nclients saw, across the kill: {dict(total)}")
        assert all(sum(c.values()) > 0 for c in seen), f"a client verified nothing: {seen}"
        assert total["valid: VALID"] >= 20, dict(total)  # the load ran, across the kill

        with httpx.Client(timeout=10.0) as http:
            _until_revoked(http, cluster, doomed["qr_text"], alive=[0, 2])
            for index in (0, 2):
                assert _verify(http, cluster.gateways[index].url, valid["qr_text"]) == "VALID"
    finally:
        stop.set()
        cluster.stop()


def _unusual(cluster: Cluster) -> str:
    """HAProxy's log lines of requests that did not end normally (``option dontlog-normal``)."""
    assert cluster.haproxy is not None
    lines = cluster.haproxy.log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(line for line in lines if " ---- " not in line)[-4000:]


def _until_revoked(http: httpx.Client, cluster: Cluster, qr: str, *, alive: list[int]) -> None:
    """Each process of ``alive``, asked directly, answers REVOKED within the bound."""
    deadline = time.monotonic() + PROPAGATION_BOUND
    answers: dict[int, str] = {}
    for index in alive:
        url = cluster.gateways[index].url
        while True:
            answers[index] = _verify(http, url, qr)
            if answers[index] == "REVOKED" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert all(a == "REVOKED" for a in answers.values()), answers
