"""``ecert serve --workers N``: one city on N processes and one port (issue 13), real processes
on loopback. Every answer names the process that gave it (``X-Ecert-Worker``); each request
below opens a connection of its own, which the kernel hashes to one worker's socket.

- two workers both answer, connections spread evenly, "started" is said once, a second city on
  the port is refused, a killed worker is restarted, SIGTERM stops them all within 5 s;
- the federation sync is led by one process at a time, and another takes over when the
  leader is killed (SQLite: a ``flock``; PostgreSQL: an advisory lock);
- on PostgreSQL, a revocation through one process is answered REVOKED by every worker of
  another, with the poll set to an hour (``LISTEN``/``NOTIFY``); on SQLite, by the poll.

The revocation tests wait within bounds far above any machine's load and check that a process
never answers VALID again once it answered REVOKED; they print how long each took. How fast
(issue 13: every process within 1 s) is measured by ``make bench`` (``loadtests/bench_notify.py``):
a 1 s bound here would wait on the machine's load.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import City
from tests.cli.helpers import READY_TIMEOUT, Served, ecert, free_port
from tests.conftest import PG_ENV, PG_HOW, pg_database
from tests.gateway.helpers import auth, licence_body
from tests.gateway.holders import fresh_licence

pytestmark = pytest.mark.slow

WORKER = "x-ecert-worker"
STARTED = "网关已启动"
BOUND = 5.0  # seconds from SIGTERM until every process is gone (issue 8)
WAIT = 30.0  # seconds: the bound of every wait for a process to start, restart or lead
TRIES = 64  # fresh connections to reach every one of two workers (each 1/2: miss < 2⁻⁶³)


def _get(url: str, path: str) -> httpx.Response:
    """``GET url+path`` on a connection of its own."""
    with httpx.Client(timeout=10.0) as client:
        return client.get(f"{url}{path}")


def _workers(url: str, count: int) -> set[int]:
    """The pids of ``count`` distinct workers answering on ``url`` (fails after :data:`TRIES`)."""
    seen: set[int] = set()
    for _ in range(TRIES):
        answer = _get(url, "/healthz")
        assert answer.status_code == 200, answer.text
        assert int(answer.headers[WORKER]) == answer.json()["process"]["pid"]
        seen.add(int(answer.headers[WORKER]))
        if len(seen) == count:
            return seen
    raise AssertionError(f"expected {count} workers answering, found {sorted(seen)}")


def _wait_for(what: str, check: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.1)


def _started(served: Served) -> None:
    _wait_for("started", lambda: STARTED in served.output(), READY_TIMEOUT)


def _leader(url: str, pids: set[int]) -> int | None:
    """The pid of the worker that says it leads, once one of ``pids`` does, asking each at
    least once (``None`` if none does yet)."""
    answered: dict[int, bool] = {}
    for _ in range(TRIES):
        shown = _get(url, "/healthz").json()["process"]
        answered[shown["pid"]] = shown["sync_leader"]
        if set(answered) >= pids:
            break
    leaders = [pid for pid, leads in answered.items() if leads]
    assert len(leaders) <= 1, f"more than one process leads: {answered}"
    return leaders[0] if leaders else None


def _parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def _gone_after_sigterm(served: Served, pids: set[int]) -> float:
    assert served.proc is not None
    sent = time.monotonic()
    served.proc.send_signal(signal.SIGTERM)
    try:
        code = served.proc.wait(timeout=BOUND)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"still running {BOUND}s after SIGTERM:\n{served.output()}") from None
    seconds = time.monotonic() - sent
    assert code == 0, served.output()
    for pid in pids:  # every worker reaped by the parent, none left behind
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} outlived its parent"
    return seconds


def test_two_workers_share_one_port_evenly_and_stop_within_5s(tmp_path: Path, city: City) -> None:
    with Served(["serve", *city.args(), "--workers", "2"], tmp_path) as served:
        _started(served)
        assert served.proc is not None
        pids = _workers(served.url, 2)
        assert {_parent_of(pid) for pid in pids} == {served.proc.pid}
        # Fresh connections spread evenly (the issue saw one of two workers take every one).
        spread = Counter(int(_get(served.url, "/healthz").headers[WORKER]) for _ in range(100))
        print(f"\n100 connections to 2 workers: {dict(spread)}")
        assert set(spread) == pids
        assert all(20 <= n <= 80 for n in spread.values()), spread  # binomial: off < 10⁻⁹
        # Another city (or the same one again) on the port: the one-line error, exit 1.
        again = ecert("serve", *city.args(), "--host", "127.0.0.1", "--port", str(served.port),
                      "--workers", "2")  # fmt: skip
        assert "port in use" in again.one_error_line(), again
        assert served.output().count(STARTED) == 1, served.output()  # said once, for both
        seconds = _gone_after_sigterm(served, pids)
        print(f"`ecert serve --workers 2`: gone {seconds:.2f}s after SIGTERM")
        assert served.output().count("Finished server process") == 2, served.output()


def test_a_killed_worker_is_restarted_and_the_lead_moves_on(tmp_path: Path, city: City) -> None:
    with Served(["serve", *city.args(), "--workers", "2"], tmp_path) as served:
        _started(served)
        pids = _workers(served.url, 2)
        leader = _wait_for("a leader", lambda: _leader(served.url, pids))
        os.kill(leader, signal.SIGKILL)
        _wait_for("restarted", lambda: "restarting it" in served.output())
        (kept,) = pids - {leader}
        after = _wait_for("a new worker", lambda: (found := _workers(served.url, 2)) != pids
                          and found)  # fmt: skip
        assert kept in after, (pids, after)
        assert leader not in after, (pids, after)
        successor = _wait_for("a new leader", lambda: _leader(served.url, after))
        print(f"\nleader {leader} killed; {successor} leads (the survivor was {kept})")
        _gone_after_sigterm(served, after)


def test_a_port_in_use_and_workers_out_of_bounds_are_refused(tmp_path: Path, city: City) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        taken = ecert("serve", *city.args(), "--host", "127.0.0.1", "--port", str(port),
                      "--workers", "3")  # fmt: skip
        assert "port in use" in taken.one_error_line()
    for workers in ("0", "65", "two"):
        refused = ecert("serve", *city.args(), "--port", str(port), "--workers", workers)
        assert refused.returncode == 2, refused  # a usage error, zh-CN and English
        assert "--workers" in refused.stderr, refused
        assert "无效" in refused.stderr, refused


@contextmanager
def _postgres_city(tmp_path: Path, port: int) -> Iterator[tuple[dict[str, str], list[str]]]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOW)
    with pg_database(base) as url:
        env = {"ECERT_DATABASE_URL": url, "ECERT_REFRESH_INTERVAL": "3600",
               "ECERT_RATE_LIMITS": "false", "ECERT_ACCESS_LOG": "off"}  # fmt: skip
        where = ["--data-dir", str(tmp_path / "data")]
        made = ecert("init", *where, "--city-code", "330100", "--city-name", "杭州市",
                     "--public-url", f"http://127.0.0.1:{port}", env=env)  # fmt: skip
        assert made.returncode == 0, made
        yield env, where


def _verify(url: str, qr: str) -> tuple[int, str, float]:
    """(the worker's pid, the reason, when the request was sent) on a connection of its own."""
    sent = time.monotonic()
    with httpx.Client(timeout=10.0) as client:
        answer = client.post(f"{url}/api/v1/verify", json={"qr": qr})
    assert answer.status_code == 200, answer.text
    return int(answer.headers[WORKER]), str(answer.json()["reason"]), sent


def _all_revoked(urls: list[str], qr: str, pids: set[int], since: float) -> dict[int, float]:
    """Ask ``urls`` in turn, each time on a new connection, until every one of ``pids`` has
    answered REVOKED and then REVOKED again (fails past :data:`WAIT`): seconds from ``since``
    to each one's first REVOKED. A process that answered REVOKED never answers VALID again."""
    first: dict[int, float] = {}
    again: set[int] = set()
    while again != pids:
        assert time.monotonic() < since + WAIT, f"REVOKED by {sorted(first)} of {sorted(pids)}"
        for url in urls:
            pid, reason, sent = _verify(url, qr)
            if pid in first:
                assert reason == "REVOKED", f"{pid} answered {reason} after REVOKED"
                again.add(pid)
            elif reason == "REVOKED":
                first[pid] = sent - since
            else:
                assert reason == "VALID", (pid, reason)
    return first


def test_a_revocation_through_one_process_is_answered_by_every_worker_of_another(
    tmp_path: Path,
) -> None:
    port_a, port_b = free_port(), free_port()
    with _postgres_city(tmp_path, port_a) as (env, where), ExitStack() as running:
        added = ecert("agency", "add", *where, "--name", "杭州市市场监督管理局",
                      "--uscc", "11330100MB1958123M", "--types", "business-licence",
                      "--json", env=env)  # fmt: skip
        assert added.returncode == 0, added
        key = added.json()["api_key"]
        a = running.enter_context(Served(["serve", *where, "--workers", "2"], tmp_path,
                                         port=port_a, env=env))  # fmt: skip
        b = running.enter_context(Served(["serve", *where], tmp_path, port=port_b, env=env))
        _started(a)
        issued = httpx.post(f"{b.url}/api/v1/credentials", json=licence_body(),
                            headers=auth(key), timeout=10.0)  # fmt: skip
        assert issued.status_code == 201, issued.text
        body = issued.json()
        workers = _workers(a.url, 2)
        (single,) = _workers(b.url, 1)
        assert {_verify(a.url, body["qr_text"])[1], _verify(b.url, body["qr_text"])[1]} == {"VALID"}

        revoked = httpx.post(f"{b.url}/api/v1/credentials/{body['id']}/revoke",
                             json={"reason": "企业申请注销"}, headers=auth(key),
                             timeout=10.0)  # fmt: skip
        assert revoked.status_code == 200, revoked.text
        since = time.monotonic()
        assert _verify(b.url, body["qr_text"])[1] == "REVOKED"  # its own write, known at once
        first = _all_revoked([a.url, b.url], body["qr_text"], workers | {single}, since)
        shown = ", ".join(f"{pid}: {first[pid] * 1000:.0f} ms" for pid in sorted(first))
        print(f"\nrevoked via {single}; first REVOKED after the answer: {shown}")


def test_the_lead_moves_to_another_process_when_the_leader_is_killed_on_postgresql(
    tmp_path: Path,
) -> None:
    port_a, port_b = free_port(), free_port()
    with _postgres_city(tmp_path, port_a) as (env, where), ExitStack() as running:
        a = running.enter_context(Served(["serve", *where], tmp_path, port=port_a, env=env))
        (pid_a,) = _workers(a.url, 1)
        _wait_for("A leads", lambda: _leader(a.url, {pid_a}) == pid_a)
        b = running.enter_context(Served(["serve", *where], tmp_path, port=port_b, env=env))
        (pid_b,) = _workers(b.url, 1)
        time.sleep(3.0)  # past B's first wake-up (2 s ± 20 %): it tried, and follows
        assert _leader(b.url, {pid_b}) is None
        assert a.proc is not None
        killed = time.monotonic()
        a.proc.kill()
        a.proc.wait(timeout=BOUND)
        _wait_for("B leads", lambda: _leader(b.url, {pid_b}) == pid_b, timeout=10.0)
        print(f"\nleader killed; the other leads {time.monotonic() - killed:.1f}s later")


def test_on_sqlite_every_worker_writes_and_a_revocation_reaches_all_by_the_poll(
    tmp_path: Path, city: City
) -> None:
    """SQLite is allowed with several workers: WAL, one writer at a time (``BEGIN IMMEDIATE``
    waits its turn). SQLite has no notifications: the poll (here every second) carries a
    revocation to the other workers."""
    env = {"ECERT_REFRESH_INTERVAL": "1", "ECERT_RATE_LIMITS": "false"}
    key = city.agency["api_key"]
    with Served(["serve", *city.args(), "--workers", "2"], tmp_path, env=env) as served:
        _started(served)
        workers = _workers(served.url, 2)
        writers: set[int] = set()
        issued = []
        for _ in range(TRIES):  # fresh connections until both workers have issued
            with httpx.Client(timeout=10.0) as client:
                answer = client.post(f"{served.url}/api/v1/credentials", headers=auth(key),
                                     json={"type": "business-licence",
                                           "subject": fresh_licence()})  # fmt: skip
            assert answer.status_code == 201, answer.text
            writers.add(int(answer.headers[WORKER]))
            issued.append(answer.json())
            if writers == workers:
                break
        assert writers == workers
        revoked = httpx.post(f"{served.url}/api/v1/credentials/{issued[0]['id']}/revoke",
                             json={"reason": "企业申请注销"}, headers=auth(key),
                             timeout=10.0)  # fmt: skip
        assert revoked.status_code == 200, revoked.text
        first = _all_revoked([served.url], issued[0]["qr_text"], workers, time.monotonic())
        print(f"\nrevoked; first REVOKED after the answer: {first}")
        for credential in issued[1:]:  # the others' writes are everyone's
            assert _verify(served.url, credential["qr_text"])[1] == "VALID"
