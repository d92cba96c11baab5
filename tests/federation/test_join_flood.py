"""A region anchor's join queue under a flood: real processes, real sockets (issue 11).

Two ``ecert serve`` processes on loopback, 长三角's trust anchor and 杭州, and an attacker at
another loopback address (127.0.0.2) who sends 500 forged join requests:

- 250 under made-up loopback entity ids that serve nothing (the attack-corpus finding: before,
  99 of them filled the queue and every genuine ``ecert federation join`` answered 409);
- 250 under entity ids the attacker does serve, each with its own self-signed Entity
  Configuration (so they pass the anchor's fetch of the entity's own configuration);
- and, once 杭州 has asked, one in 杭州's name signed by the attacker's key (before, it replaced
  杭州's keys, so ``approve --kid`` kept refusing: a city could be kept out).

杭州 still joins with ``ecert federation join`` and is approved with ``--kid``; the operator
lists, rejects and purges what is left with ``ecert federation pending|reject|purge``. The
scenario runs once for the module (bounded in time); each test checks its part.

The per-address rate limit on ``/federation/join`` (gateway/address_limits.py) would refuse most
of the flood with 429 before the queue sees it; it is raised here so that what is tested is the
queue's own bounds, which hold for an attacker with many addresses too (the limit has its own
test in tests/gateway/test_rate_limits.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.helpers import Result, Served, ecert, ecert_many, free_port
from trust.federation import sign_entity_statement
from trust.keys import SigningKey

pytestmark = pytest.mark.slow

ATTACKER = "127.0.0.2"  # all of 127/8 is loopback: the attacker's own client address
UNSERVED, SERVED = 250, 250  # 500 forged requests in all
FLOOD_BOUND = 120.0  # seconds the whole flood may take on a shared two-core machine
LICENCE = "business-licence"
CT = {"Content-Type": "application/entity-statement+jwt"}


def _configuration(entity_id: str, key: SigningKey, *, anchor: str) -> str:
    now = int(time.time())
    return sign_entity_statement(
        iss=entity_id, sub=entity_id, iat=now, exp=now + 3600, jwks=[key.public], key=key,
        metadata={"federation_entity": {"organization_name": "伪造城市"}},
        authority_hints=[anchor],
    )  # fmt: skip


class _AttackerSite(ThreadingHTTPServer):
    """The attacker's own server on :data:`ATTACKER`: ``/e/<n>/.well-known/openid-federation``
    answers entity ``n``'s configuration."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__((ATTACKER, 0), _Handler)
        self.served: dict[str, str] = {}

    @property
    def origin(self) -> str:
        return f"http://{ATTACKER}:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: _AttackerSite

    def do_GET(self) -> None:
        body = self.server.served.get(self.path.removesuffix("/.well-known/openid-federation"))
        if body is None or not self.path.endswith("/.well-known/openid-federation"):
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/entity-statement+jwt")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


@dataclass
class Flood:
    anchor: str
    city: str
    anchor_dir: Path
    city_dir: Path
    answers: list[tuple[int, str]] = field(default_factory=list)  # the 500 forged requests
    flood_seconds: float = 0.0
    runs: dict[str, Result] = field(default_factory=dict)
    in_citys_name: tuple[int, str] = (0, "")
    served_ids: list[str] = field(default_factory=list)

    def ok(self, step: str) -> Any:
        result = self.runs[step]
        assert result.returncode == 0, result
        return result.json()

    def run(self, step: str, *args: str) -> Result:
        self.runs[step] = result = ecert(*args)
        return result


def _post_all(origin: str, bodies: list[str]) -> list[tuple[int, str]]:
    """POST every body to ``origin``'s join endpoint from :data:`ATTACKER`, 8 at a time."""
    transport = httpx.HTTPTransport(local_address=ATTACKER)
    with httpx.Client(transport=transport, timeout=30.0) as client:

        def post(body: str) -> tuple[int, str]:
            answer = client.post(f"{origin}/federation/join", content=body, headers=CT)
            return answer.status_code, answer.text

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(post, bodies))


NO_ADDRESS_LIMIT = {"ECERT_RATE_LIMIT_PEER_ADDRESS": "100000/second"}


@pytest.fixture(scope="module")
def flood(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flood]:
    tmp = tmp_path_factory.mktemp("join-flood")
    anchor_port, city_port = free_port(), free_port()
    while city_port == anchor_port:
        city_port = free_port()
    f = Flood(
        anchor=f"http://127.0.0.1:{anchor_port}", city=f"http://127.0.0.1:{city_port}",
        anchor_dir=tmp / "yrd", city_dir=tmp / "hz",
    )  # fmt: skip
    a, c = ["--data-dir", str(f.anchor_dir)], ["--data-dir", str(f.city_dir)]
    inits = ecert_many(
        [
            ["init", *a, "--city-code", "310000", "--city-name", "上海市", "--public-url",
             f.anchor],
            ["init", *c, "--city-code", "330100", "--city-name", "杭州市", "--public-url",
             f.city],
        ]
    )  # fmt: skip
    assert all(r.returncode == 0 for r in inits), inits
    made = f.run("init-anchor", "federation", "init-anchor", *a, "--region-id", "yrd",
                 "--region-name", "长三角", "--json")  # fmt: skip
    assert made.returncode == 0, made
    anchor_kid = made.json()["kids"][0]

    site = _AttackerSite()
    bodies: list[str] = []
    for n in range(SERVED):
        entity_id = f"{site.origin}/e/{n}"
        site.served[f"/e/{n}"] = body = _configuration(entity_id, SigningKey.generate(),
                                                       anchor=f.anchor)  # fmt: skip
        f.served_ids.append(entity_id)
        bodies.append(body)
    dead = free_port()  # nothing listens there: made-up entity ids that serve nothing
    key = SigningKey.generate()
    for n in range(UNSERVED):
        bodies.insert(2 * n, _configuration(f"http://127.0.0.1:{dead}/c/{n}", key,
                                            anchor=f.anchor))  # fmt: skip
    serving = threading.Thread(target=site.serve_forever, daemon=True)
    serving.start()
    with ExitStack() as stack:
        stack.callback(site.server_close)
        stack.callback(site.shutdown)
        for directory, port in ((f.anchor_dir, anchor_port), (f.city_dir, city_port)):
            stack.enter_context(
                Served(
                    ["serve", "--data-dir", str(directory)], tmp, port=port, env=NO_ADDRESS_LIMIT
                )
            )
        started = time.monotonic()
        f.answers = _post_all(f.anchor, bodies)
        f.flood_seconds = time.monotonic() - started
        joined = f.run("join", "federation", "join", *c, "--anchor", f.anchor,
                       "--anchor-kid", anchor_kid, "--json")  # fmt: skip
        if joined.returncode == 0:
            thief = SigningKey.generate()  # anyone on the network, in 杭州's name
            (f.in_citys_name,) = _post_all(
                f.anchor, [_configuration(f.city, thief, anchor=f.anchor)]
            )
            f.run("pending", "federation", "pending", *a, "--json")
            kid = joined.json()["kids"][0]  # what 杭州's operator tells 长三角's, out of band
            f.run("approve", "federation", "approve", *a, "--entity", f.city, "--types",
                  LICENCE, "--kid", kid, "--json")  # fmt: skip
            f.run("list", "federation", "list", *a, "--json")
            f.run("pending-after", "federation", "pending", *a, "--json")
            left = [p["id"] for p in f.ok("pending-after")]
            if left:
                f.run("reject", "federation", "reject", *a, left[0], "--reason",
                      "不是已知城市 · not a known city", "--json")  # fmt: skip
                f.run("reject-again", "federation", "reject", *a, left[0], "--reason", "x")
            f.run("purge", "federation", "purge", *a, "--all", "--json")
            f.run("pending-purged", "federation", "pending", *a, "--json")
            f.run("audit", "federation", "audit", *a, "--json")
        yield f


def test_500_forged_join_requests_are_answered_4xx_or_bounded_and_never_5xx(
    flood: Flood,
) -> None:
    codes = [code for code, _ in flood.answers]
    assert len(codes) == UNSERVED + SERVED
    assert all(code < 500 for code in codes), sorted(set(codes))
    taken = [text for code, text in flood.answers if code == 200]
    # at most a few per client address ever wait: gateway.join_requests.MAX_PER_ADDRESS
    assert len(taken) <= 5, (len(taken), taken[:3])
    assert flood.flood_seconds < FLOOD_BOUND
    print(f"\n500 forged join requests answered in {flood.flood_seconds:.1f}s; "
          f"{len(taken)} took a queue slot")  # fmt: skip


def test_a_made_up_entity_id_that_serves_no_configuration_takes_no_slot(flood: Flood) -> None:
    unserved = flood.answers[0 : 2 * UNSERVED : 2]
    assert {code for code, _ in unserved} == {400}, {code for code, _ in unserved}
    text = unserved[0][1]
    assert "实体配置" in text, text
    assert "entity configuration" in text, text


def test_a_genuine_city_still_joins_after_the_flood(flood: Flood) -> None:
    joined = flood.ok("join")
    assert joined["status"] == "pending"
    assert joined["entity_id"] == flood.city


def test_a_forged_request_in_a_waiting_citys_name_neither_displaces_it_nor_waits(
    flood: Flood,
) -> None:
    code, text = flood.in_citys_name
    assert 400 <= code < 500, (code, text)
    pending = {p["entity_id"]: p for p in flood.ok("pending")}
    assert pending[flood.city]["kids"] == flood.ok("join")["kids"]


def test_the_genuine_city_is_approved_by_the_kid_its_operator_gave(flood: Flood) -> None:
    approved = flood.ok("approve")
    assert approved["status"] == "approved"
    assert approved["kids"] == flood.ok("join")["kids"]
    (city,) = [s for s in flood.ok("list")["subordinates"] if s["entity_id"] == flood.city]
    assert (city["status"], city["types"]) == ("approved", [LICENCE])


def test_the_operator_lists_rejects_and_purges_what_is_left(flood: Flood) -> None:
    left = flood.ok("pending-after")
    assert {p["entity_id"] for p in left} <= set(flood.served_ids)
    assert all(p["address"] == ATTACKER for p in left), left
    assert all(p["id"].startswith("jr-") and len(p["kids"]) == 1 for p in left), left
    assert all(p["expires_at"] > p["requested_at"] and not p["expired"] for p in left)
    rejected = flood.ok("reject")
    assert (rejected["id"], rejected["status"]) == (left[0]["id"], "rejected")
    assert "no waiting join request" in flood.runs["reject-again"].one_error_line()
    assert len(flood.ok("purge")["purged"]) == len(left) - 1
    assert flood.ok("pending-purged") == []
    actions = [e["action"] for e in flood.ok("audit")]
    assert actions.count("federation.join_reject") == 1
    assert actions.count("federation.join_purge") == 1
    assert actions.count("federation.approve") == 1
