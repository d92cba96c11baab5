"""Locust load mix for a running ecert gateway: counters verifying, agencies issuing.

Per 100 requests, roughly: 85 verifies (60 valid, 10 revoked, 15 garbage QR texts), 10 issues
and 5 status changes (suspend, or reinstate what this user suspended). Every answer is checked:
a verify must say VALID / REVOKED / not valid as expected, an issue must answer 201 with a QR
text, a status change 200. Anything else counts as a failure.

With ``ECERT_LOAD_MIX=cluster`` (``make load``: a city on several processes behind HAProxy) a
third of the users are verifiers and CDNs refreshing a status list (``GET statuslist``, must
answer 200 with a ``statuslist+jwt``), the rest the counters and agencies above; the seeded
revocations are first waited for (bounded) until every process answers them.

With ``ECERT_LOAD_MIX=public`` two more kinds of user join (weights 2 : 1 : 1 of the users):
an agency issuing back to back (``issue``), and a reader of the public GETs a verifier, a CDN
or a peer gateway makes (``GET public …``, each must answer 200): the entity configuration, an
agency's leaf configuration, ``/federation/list``, ``/federation/historical_keys``,
``/trust/list``, ``/trust/root``, a status list and the JWKS. The gateway must be a region trust
anchor with a compiled trust list (``loadtests.run_load --mix public`` makes one). Not read:
``/federation/fetch`` and ``/federation/resolve``, which need a subordinate city, that is a
second gateway. At the end the public GETs' statistics are merged into one row
(``public (all)``), written as CSV to ``ECERT_LOAD_PUBLIC_CSV`` when it is set.

Configuration from the environment (``loadtests.run_load`` sets both):

- ``ECERT_LOAD_HOST``: the gateway's base URL (``--host`` overrides it);
- ``ECERT_LOAD_API_KEY``: an agency API key with the issue and status scopes, for a
  business-licence issuer;
- ``ECERT_LOAD_WAIT`` (optional): ``min,max`` seconds a user waits between requests
  (default ``0.05,0.25``: a busy counter; ``0,0`` finds the server's capacity);
- ``ECERT_LOAD_MIX`` (optional): ``default``, ``cluster`` or ``public`` (above);
- ``ECERT_LOAD_PUBLIC_CSV`` (optional): where the merged public GETs' row is written.

At test start the file seeds its own pools over plain HTTP (not counted in the statistics):
valid credentials, credentials it then revokes, and garbage derived from a valid QR text. Each
simulated user changes the status only of credentials it issued itself, so users never race
each other into a 409.

Run: ``locust -f loadtests/locustfile.py --headless -u 20 -r 10 --run-time 30s --host URL``
from the repository root with the two variables set, or ``python -m loadtests.run_load``.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:  # locust puts only this file's directory on the path
    sys.path.insert(0, _REPO)

import httpx  # noqa: E402
from locust import FastHttpUser, between, events, task  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.stats import StatsEntry  # noqa: E402

from loadtests.common import garbage_texts, licence_subject  # noqa: E402

log = logging.getLogger("ecert.load")

SEED_VALID = 20
SEED_REVOKED = 10
VERIFY = "/api/v1/verify"
ISSUE = "/api/v1/credentials"
STATUS_LISTS = "/statuslists"
PUBLIC = "public "  # the name prefix of every public GET
PUBLIC_ALL = "public (all)"
MIXES = ("default", "public", "cluster")
_names = itertools.count(random.randrange(1, 900_000) * 1_000)


def _wait_range() -> tuple[float, float]:
    text = os.environ.get("ECERT_LOAD_WAIT", "0.05,0.25")
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError as exc:
        raise RuntimeError(f"ECERT_LOAD_WAIT must be 'min,max' seconds, found {text!r}") from exc
    if not 0 <= low <= high:
        raise RuntimeError(f"ECERT_LOAD_WAIT must have 0 <= min <= max, found {text!r}")
    return low, high


def _mix() -> str:
    mix = os.environ.get("ECERT_LOAD_MIX", "default")
    if mix not in MIXES:
        raise RuntimeError(f"ECERT_LOAD_MIX must be one of {', '.join(MIXES)}, found {mix!r}")
    return mix


@dataclass
class Pools:
    valid: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    garbage: list[str] = field(default_factory=list)
    agency_id: str = ""  # the public mix: whose leaf configuration and status lists are read
    status_lists: list[int] = field(default_factory=list)


POOLS = Pools()


def _api_key() -> str:
    key = os.environ.get("ECERT_LOAD_API_KEY", "")
    if not key:
        raise RuntimeError("set ECERT_LOAD_API_KEY to an agency API key (issue + status scopes)")
    return key


def _auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {_api_key()}"}


def _issue_body() -> dict[str, Any]:
    return {"type": "business-licence", "subject": licence_subject(next(_names))}


def _seed(host: str) -> Pools:
    pools = Pools()
    with httpx.Client(base_url=host, headers=_auth(), timeout=30.0) as client:
        for n in range(SEED_VALID + SEED_REVOKED):
            issued = client.post(ISSUE, json=_issue_body())
            if issued.status_code != 201:
                raise RuntimeError(f"seeding: issue answered {issued.status_code}: {issued.text}")
            body = issued.json()
            if n < SEED_VALID:
                pools.valid.append(body["qr_text"])
                continue
            revoked = client.post(
                f"{ISSUE}/{body['id']}/revoke", json={"reason": "负载测试：撤销样本"}
            )
            if revoked.status_code != 200:
                raise RuntimeError(f"seeding: revoke answered {revoked.status_code}")
            pools.revoked.append(body["qr_text"])
        pools.garbage = garbage_texts(pools.valid[0])
        if _mix() == "cluster":
            _until_every_process_revoked(host, pools.revoked)
        if _mix() == "default":
            return pools
        index = client.get(STATUS_LISTS)
        if index.status_code != 200:
            raise RuntimeError(f"seeding: {STATUS_LISTS} answered {index.status_code}")
        lists = index.json()["status_lists"]
        if not lists:
            raise RuntimeError(f"seeding: {STATUS_LISTS} lists nothing after issuing")
        pools.agency_id = str(lists[0]["agency_id"])
        pools.status_lists = [int(entry["id"]) for entry in lists]
    return pools


SETTLE_SECONDS = 15.0
SETTLE_STREAK = 6  # answers in a row, each on a new connection: every process of a few asked


def _until_every_process_revoked(host: str, revoked: list[str]) -> None:
    """The cluster mix: wait (bounded) until the revocations made through one process are
    answered by all: processes look for each other's writes every ``ECERT_REFRESH_INTERVAL``."""
    deadline = time.monotonic() + SETTLE_SECONDS
    fresh = httpx.Limits(max_keepalive_connections=0)  # each answer from a process HAProxy picks
    with httpx.Client(base_url=host, timeout=10.0, limits=fresh) as client:
        for qr in revoked:
            streak = 0
            while streak < SETTLE_STREAK:
                reason = client.post(VERIFY, json={"qr": qr}).json().get("reason")
                streak = streak + 1 if reason == "REVOKED" else 0
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"seeding: a revocation not answered by every process in {SETTLE_SECONDS} s"
                    )


def _on_test_start(environment: Environment, **_: Any) -> None:
    host = environment.host or os.environ.get("ECERT_LOAD_HOST", "")
    if not host:
        raise RuntimeError("set ECERT_LOAD_HOST (or --host) to the gateway's base URL")
    seeded = _seed(host.rstrip("/"))
    POOLS.valid[:] = seeded.valid
    POOLS.revoked[:] = seeded.revoked
    POOLS.garbage[:] = seeded.garbage
    POOLS.agency_id = seeded.agency_id
    POOLS.status_lists[:] = seeded.status_lists
    log.info(
        "seeded %d valid, %d revoked, %d garbage QR texts",
        len(POOLS.valid),
        len(POOLS.revoked),
        len(POOLS.garbage),
    )


def merged_public(entries: dict[tuple[str, str], StatsEntry]) -> StatsEntry | None:
    """One entry holding every public GET's requests (for percentiles over all of them)."""
    public = [e for e in entries.values() if e.name.startswith(PUBLIC) and e.name != PUBLIC_ALL]
    if not public:
        return None
    merged = StatsEntry(public[0].stats, PUBLIC_ALL, "GET", use_response_times_cache=False)
    for entry in public:
        merged.extend(entry)
    return merged


def _on_quitting(environment: Environment, **_: Any) -> None:
    path = os.environ.get("ECERT_LOAD_PUBLIC_CSV")
    if not path or environment.stats is None:
        return
    merged = merged_public(environment.stats.entries)
    if merged is None:
        return
    # The columns of locust's own <prefix>_stats.csv that loadtests.run_load reads.
    row = {
        "Type": merged.method,
        "Name": merged.name,
        "Request Count": merged.num_requests,
        "Failure Count": merged.num_failures,
        "Requests/s": merged.total_rps,
        "50%": merged.get_response_time_percentile(0.50),
        "95%": merged.get_response_time_percentile(0.95),
        "99%": merged.get_response_time_percentile(0.99),
    }
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)


events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]  # locust is untyped
events.quitting.add_listener(_on_quitting)  # type: ignore[no-untyped-call]


class CounterAndAgency(FastHttpUser):
    """A counter scanning QR codes, with its agency issuing and suspending now and then."""

    weight = 2  # of 4 in the public mix, of 3 in the cluster mix; the only user class otherwise
    host = os.environ.get("ECERT_LOAD_HOST") or None
    wait_time = between(*_wait_range())

    def on_start(self) -> None:
        self.headers = _auth()
        self.mine: dict[str, bool] = {}  # credential id → suspended?

    def _verify(self, text: str, name: str, expect: str | None) -> None:
        with self.client.post(VERIFY, json={"qr": text}, name=name, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            body = resp.json()
            if expect is None and body.get("valid") is not False:
                resp.failure(f"garbage accepted: {body.get('reason')}")
            elif expect is not None and body.get("reason") != expect:
                resp.failure(f"expected {expect}, found {body.get('reason')}: {body.get('detail')}")
            else:
                resp.success()

    @task(60)
    def verify_valid(self) -> None:
        if POOLS.valid:
            self._verify(random.choice(POOLS.valid), "verify: valid", "VALID")

    @task(10)
    def verify_revoked(self) -> None:
        if POOLS.revoked:
            self._verify(random.choice(POOLS.revoked), "verify: revoked", "REVOKED")

    @task(15)
    def verify_garbage(self) -> None:
        if POOLS.garbage:
            self._verify(random.choice(POOLS.garbage), "verify: garbage", None)

    @task(10)
    def issue(self) -> None:
        with self.client.post(
            ISSUE, json=_issue_body(), headers=self.headers, name="issue", catch_response=True
        ) as resp:
            if resp.status_code != 201:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            body = resp.json()
            if not str(body.get("qr_text", "")).startswith("http"):
                resp.failure("no qr_text in the answer")
                return
            self.mine[body["id"]] = False
            resp.success()

    @task(5)
    def change_status(self) -> None:
        if not self.mine:
            self.issue()
            return
        cid = random.choice(list(self.mine))
        action = "reinstate" if self.mine[cid] else "suspend"
        with self.client.post(
            f"{ISSUE}/{cid}/{action}",
            json={"reason": "负载测试：经营异常核查"},
            headers=self.headers,
            name=action,
            catch_response=True,
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            self.mine[cid] = action == "suspend"
            resp.success()


class StatusListReader(FastHttpUser):
    """The cluster mix: a verifier or CDN refreshing one of the city's status lists."""

    abstract = _mix() != "cluster"  # a user class only in the cluster mix
    weight = 1
    host = os.environ.get("ECERT_LOAD_HOST") or None
    wait_time = between(*_wait_range())

    @task
    def status_list(self) -> None:
        if not POOLS.status_lists:
            return
        path = f"{STATUS_LISTS}/{random.choice(POOLS.status_lists)}"
        with self.client.get(path, name="statuslist", catch_response=True) as resp:
            kind = resp.headers.get("content-type", "") if resp.headers else ""
            if resp.status_code != 200 or kind != "application/statuslist+jwt":
                resp.failure(f"HTTP {resp.status_code} {kind}: {(resp.text or '')[:200]}")
            else:
                resp.success()


class AgencyIssuer(FastHttpUser):
    """The public mix: an agency issuing business licences back to back (its own wait)."""

    abstract = _mix() != "public"  # a user class only in the public mix
    weight = 1
    host = os.environ.get("ECERT_LOAD_HOST") or None
    wait_time = between(*_wait_range())

    def on_start(self) -> None:
        self.headers = _auth()

    @task
    def issue(self) -> None:
        with self.client.post(
            ISSUE, json=_issue_body(), headers=self.headers, name="issue", catch_response=True
        ) as resp:
            if resp.status_code != 201:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
            else:
                resp.success()


class PublicReader(FastHttpUser):
    """The public mix: a verifier, CDN or peer reading the public documents, one GET a task."""

    abstract = _mix() != "public"
    weight = 1
    host = os.environ.get("ECERT_LOAD_HOST") or None
    wait_time = between(*_wait_range())

    def _get(self, path: str, name: str) -> None:
        with self.client.get(path, name=PUBLIC + name, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
            else:
                resp.success()

    @task
    def entity_configuration(self) -> None:
        self._get("/.well-known/openid-federation", "/.well-known/openid-federation")

    @task
    def agency_configuration(self) -> None:
        if POOLS.agency_id:
            path = f"/agencies/{POOLS.agency_id}/.well-known/openid-federation"
            self._get(path, "/agencies/{id}/.well-known/openid-federation")

    @task
    def federation_list(self) -> None:
        self._get("/federation/list", "/federation/list")

    @task
    def historical_keys(self) -> None:
        self._get("/federation/historical_keys", "/federation/historical_keys")

    @task
    def trust_list(self) -> None:
        self._get("/trust/list", "/trust/list")

    @task
    def trust_root(self) -> None:
        self._get("/trust/root", "/trust/root")

    @task
    def status_list(self) -> None:
        if POOLS.status_lists:
            self._get(f"{STATUS_LISTS}/{random.choice(POOLS.status_lists)}", "/statuslists/{id}")

    @task
    def jwks(self) -> None:
        self._get("/.well-known/jwks.json", "/.well-known/jwks.json")
