"""``ecert federation …`` and ``ecert region …`` end to end: real processes, real sockets.

Three gateways, each ``ecert serve`` on a free loopback port with its own data directory:
长三角's trust anchor (``yrd``), 杭州 (a city that joins it) and 京津冀's trust anchor (``jjj``).
The module builds the federation once, as operators would, in rounds of independent ``ecert``
runs side by side (each start is ~2 s of imports); it records every result, and each test then
checks its part. The servers are started once for the module and stopped in its teardown.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import AGENCY_USCC
from tests.cli.helpers import Result, Served, ecert_many, free_port

pytestmark = pytest.mark.slow

PSB_USCC = "11330100002490365L"
LICENCE, FOOD = "business-licence", "food-business-permit"
CHINA = timedelta(hours=8)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid{os.getuid()}"


@dataclass
class Gateway:
    name: str
    data_dir: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir)]


@dataclass
class World:
    yrd: Gateway
    hz: Gateway
    jjj: Gateway
    runs: dict[str, Result] = field(default_factory=dict)

    def round(self, steps: dict[str, Sequence[str]]) -> None:
        """Run independent ``ecert`` commands at once and keep their results by step name."""
        results = ecert_many([list(cmd) for cmd in steps.values()])
        self.runs.update(zip(steps, results, strict=True))

    def ok(self, step: str) -> Any:
        """The step's JSON output; the step must have succeeded."""
        result = self.runs[step]
        assert result.returncode == 0, result
        return result.json()

    def agency(self, step: str) -> str:
        return f"{self.hz.url}/agencies/{self.ok(step)['id']}"


def _ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def _serve_all(stack: ExitStack, gateways: Sequence[Gateway], log_dir: Path) -> None:
    servers = [Served(["serve", *g.args()], log_dir, port=g.port) for g in gateways]
    for server in servers:
        stack.callback(server.stop)  # a no-op for one that never started
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        for started in [pool.submit(s.__enter__) for s in servers]:
            started.result()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("federation")
    yrd_port, hz_port, jjj_port = _ports(3)
    w = World(
        yrd=Gateway("yrd", tmp / "yrd", yrd_port),
        hz=Gateway("hz", tmp / "hz", hz_port),
        jjj=Gateway("jjj", tmp / "jjj", jjj_port),
    )
    yrd, hz, jjj = w.yrd, w.hz, w.jjj
    fed = "federation"

    w.round(
        {
            f"init-{g.name}": ["init", *g.args(), "--city-code", code, "--city-name", city,
                               "--public-url", g.url]
            for g, code, city in ((yrd, "310000", "上海市"), (hz, "330100", "杭州市"),
                                  (jjj, "110000", "北京市"))
        }
    )  # fmt: skip
    w.round(
        {
            "init-anchor-yrd": [fed, "init-anchor", *yrd.args(), "--region-id", "yrd",
                                "--region-name", "长三角", "--json"],
            "init-anchor-jjj": [fed, "init-anchor", *jjj.args(), "--region-id", "jjj",
                                "--region-name", "京津冀", "--json"],
            "agency-amr": ["agency", "add", *hz.args(), "--name", "杭州市市场监督管理局",
                           "--uscc", AGENCY_USCC, "--types", LICENCE, "--json"],
            "list-before-join": [fed, "list", *hz.args(), "--json"],
        }
    )  # fmt: skip
    yrd_kids = w.ok("init-anchor-yrd")["kids"]
    with ExitStack() as stack:
        _serve_all(stack, [yrd, hz, jjj], tmp)
        w.round(
            {
                "join": [fed, "join", *hz.args(), "--anchor", yrd.url, "--json"],
                "join-wrong-kid": [fed, "join", *hz.args(), "--anchor", yrd.url,
                                   "--anchor-kid", "WRONG"],
                "trust-add-yrd": ["region", "trust-add", *yrd.args(), "--anchor", jjj.url,
                                  "--name", "京津冀", "--policy", "yrd-accepts-jjj",
                                  "--types", f"{LICENCE},{FOOD}", "--json"],
            }
        )  # fmt: skip
        w.ok("join")
        amr = w.agency("agency-amr")
        w.round(
            {
                "list-pending": [fed, "list", *yrd.args(), "--json"],
                "resolve-pending": [fed, "resolve", *yrd.args(), "--entity", amr, "--json"],
                "accept": ["region", "accept", *yrd.args(), "--anchor", jjj.url,
                           "--policy", "yrd-accepts-jjj-licences", "--types", LICENCE, "--json"],
                "accept-unknown": ["region", "accept", *yrd.args(), "--anchor",
                                   "http://127.0.0.1:1", "--policy", "p", "--types", LICENCE],
                "init-anchor-other": [fed, "init-anchor", *yrd.args(), "--region-id", "gba",
                                      "--region-name", "粤港澳"],
                "approve-on-city": [fed, "approve", *hz.args(), "--entity", hz.url,
                                    "--types", LICENCE],
                "approve-wrong-kid": [fed, "approve", *yrd.args(), "--entity", hz.url,
                                      "--types", LICENCE, "--kid", "not-the-citys-kid"],
            }
        )  # fmt: skip
        w.round(
            {
                "approve": [fed, "approve", *yrd.args(), "--entity", hz.url, "--types", LICENCE,
                            "--json"],
                "agency-psb": ["agency", "add", *hz.args(), "--name", "杭州市公安局",
                               "--uscc", PSB_USCC, "--types", f"{LICENCE},{FOOD}", "--json"],
                "trust-add-jjj": ["region", "trust-add", *jjj.args(), "--anchor", yrd.url,
                                  "--anchor-kid", yrd_kids[0], "--name", "长三角",
                                  "--policy", "jjj-accepts-yrd", "--types", LICENCE, "--json"],
            }
        )  # fmt: skip
        psb = w.agency("agency-psb")
        w.round(
            {
                "resolve": [fed, "resolve", *yrd.args(), "--entity", amr],
                "resolve-json": [fed, "resolve", *yrd.args(), "--entity", amr, "--json"],
                "resolve-ungranted": [fed, "resolve", *yrd.args(), "--entity", psb],
                "resolve-from-city": [fed, "resolve", *hz.args(), "--entity", amr, "--json"],
                "resolve-cross-region": [fed, "resolve", *jjj.args(), "--entity", amr, "--json"],
                "join-again": [fed, "join", *hz.args(), "--anchor", yrd.url,
                               "--anchor-kid", yrd_kids[0], "--json"],
                "list-approved": [fed, "list", *yrd.args(), "--json"],
                "list-city": [fed, "list", *hz.args(), "--json"],
                "audit-yrd": [fed, "audit", *yrd.args(), "--json"],
                "audit-jjj": [fed, "audit", *jjj.args()],
            }
        )  # fmt: skip
        yield w


def _row(listing: dict[str, Any], entity_id: str) -> dict[str, Any]:
    (row,) = [s for s in listing["subordinates"] if s["entity_id"] == entity_id]
    return row


def _china_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == CHINA, value
    return moment


# --- init-anchor ----------------------------------------------------------------------------


def test_init_anchor_prints_entity_id_and_kids_and_refuses_another_region(world: World) -> None:
    first = world.ok("init-anchor-yrd")
    assert first["role"] == "anchor"
    assert first["entity_id"] == world.yrd.url
    assert (first["region_id"], first["region_name"]) == ("yrd", "长三角")
    assert len(first["kids"]) == 1

    line = world.runs["init-anchor-other"].one_error_line()
    assert "yrd" in line
    assert "gba" in line


def test_a_gateway_outside_any_federation_says_how_to_join(world: World) -> None:
    line = world.runs["list-before-join"].one_error_line()
    assert "ecert federation join" in line
    assert world.runs["list-before-join"].stdout == ""


# --- join and approve -----------------------------------------------------------------------


def test_join_pins_the_anchor_on_first_use_and_waits_for_approval(world: World) -> None:
    joined = world.ok("join")
    kids = world.ok("init-anchor-yrd")["kids"]
    assert joined["entity_id"] == world.hz.url
    assert joined["anchor"] == world.yrd.url
    assert (joined["region_id"], joined["region_name"]) == ("yrd", "长三角")
    assert joined["pinned_kids"] == kids
    assert joined["trust_on_first_use"] is True
    assert joined["status"] == "pending"
    warning = world.runs["join"].stderr
    assert "first use" in warning
    assert kids[0] in warning


def test_join_with_a_wrong_kid_names_the_kids_found(world: World) -> None:
    line = world.runs["join-wrong-kid"].one_error_line()
    assert "WRONG" in line
    assert world.ok("init-anchor-yrd")["kids"][0] in line


def test_the_anchor_lists_the_join_request_as_pending_until_approved(world: World) -> None:
    pending = world.ok("list-pending")
    assert pending["role"] == "anchor"
    assert pending["entity_id"] == world.yrd.url
    assert pending["superior"] is None
    city = _row(pending, world.hz.url)
    assert (city["kind"], city["name"], city["status"]) == ("city", "杭州市", "pending")
    assert city["types"] == []
    assert city["decided_by"] is None

    approved = world.ok("approve")
    assert approved["status"] == "approved"
    assert approved["types"] == [LICENCE]

    city = _row(world.ok("list-approved"), world.hz.url)
    assert (city["status"], city["types"]) == ("approved", [LICENCE])
    assert city["decided_by"] == _actor()
    _china_time(city["decided_at"])


def test_approving_checks_the_kids_given_or_warns_of_first_use(world: World) -> None:
    refused = world.runs["approve-wrong-kid"]
    assert refused.returncode == 1, refused
    assert "carries federation keys" in refused.one_error_line()
    assert "not-the-citys-kid" in refused.one_error_line()
    trusted = world.runs["approve"]  # no --kid: trusted on first use, and says so on stderr
    assert "warning: vouching for" in trusted.stderr
    assert world.ok("approve")["kids"][0] in trusted.stderr
    assert world.ok("approve")["kids"] == world.ok("join")["kids"]  # what join tells the city


def test_only_an_anchor_approves(world: World) -> None:
    assert "only a region trust anchor" in world.runs["approve-on-city"].one_error_line()


def test_an_unapproved_city_gives_its_agencies_no_chain(world: World) -> None:
    result = world.runs["resolve-pending"]
    assert result.returncode == 1, result
    assert result.stderr_lines[0].startswith("error: 没有有效的信任链 · no valid trust chain")
    out = result.json()
    assert out["valid"] is False
    assert out["failures"]
    assert all(f["path"][0] == world.agency("agency-amr") for f in out["failures"])


def test_joining_again_is_idempotent_and_reports_the_decision(world: World) -> None:
    again = world.ok("join-again")
    assert again["status"] == "approved"
    assert again["pinned_kids"] == world.ok("join")["pinned_kids"]
    assert again["trust_on_first_use"] is False
    assert "first use" not in world.runs["join-again"].stderr


def test_a_city_lists_its_pinned_anchor_and_its_agencies(world: World) -> None:
    listing = world.ok("list-city")
    assert listing["role"] == "city"
    assert listing["superior"] == world.yrd.url
    assert listing["superior_kids"] == world.ok("init-anchor-yrd")["kids"]
    agencies = {s["entity_id"]: s for s in listing["subordinates"]}
    assert set(agencies) == {world.agency("agency-amr"), world.agency("agency-psb")}
    assert agencies[world.agency("agency-amr")]["types"] == [LICENCE]
    assert {s["kind"] for s in agencies.values()} == {"agency"}


# --- resolve --------------------------------------------------------------------------------


def test_resolve_prints_the_path_agency_city_anchor(world: World) -> None:
    amr = world.agency("agency-amr")
    text = world.runs["resolve"]
    assert text.returncode == 0, text
    assert f"{amr} → {world.hz.url} → {world.yrd.url}" in text.stdout

    out = world.ok("resolve-json")
    assert out["valid"] is True
    assert out["path"] == [amr, world.hz.url, world.yrd.url]
    assert out["trust_anchor"] == world.yrd.url
    assert out["credential_types"] == [LICENCE]
    assert out["acceptance"] is None
    assert _china_time(out["exp"]) > datetime.now(tz=_china_time(out["exp"]).tzinfo)


def test_an_agency_authorised_beyond_the_region_grant_resolves_without_that_type(
    world: World,
) -> None:
    text = world.runs["resolve-ungranted"]  # §6.1.3.1.5: narrowed, the chain holds
    assert text.returncode == 0, text
    assert f"✓ {world.agency('agency-psb')} → {world.hz.url} → {world.yrd.url}" in text.stdout
    assert f"credential types: {LICENCE}\n" in text.stdout
    assert f"not granted: {FOOD} (subset_of of {world.yrd.url}) · 未获授权" in text.stdout


def test_a_city_resolves_through_its_pinned_anchor(world: World) -> None:
    out = world.ok("resolve-from-city")
    assert out["trust_anchor"] == world.yrd.url
    assert out["path"] == [world.agency("agency-amr"), world.hz.url, world.yrd.url]


def test_another_region_resolves_under_its_agreement(world: World) -> None:
    out = world.ok("resolve-cross-region")
    amr = world.agency("agency-amr")
    assert out["path"] == [amr, world.hz.url, world.yrd.url, world.jjj.url]
    assert out["trust_anchor"] == world.jjj.url
    assert out["acceptance"] == {"policy": "jjj-accepts-yrd", "types": [LICENCE]}
    assert out["accepted_types"] == [LICENCE]


# --- regions and the audit log ---------------------------------------------------------------


def test_trust_add_pins_keys_and_accept_narrows_the_agreement(world: World) -> None:
    added = world.ok("trust-add-yrd")
    assert (added["entity_id"], added["kind"], added["name"]) == (world.jjj.url, "region", "京津冀")
    assert (added["policy"], added["types"]) == ("yrd-accepts-jjj", sorted([LICENCE, FOOD]))
    assert added["kids"] == world.ok("init-anchor-jjj")["kids"]
    assert added["trust_on_first_use"] is True
    assert "first use" in world.runs["trust-add-yrd"].stderr

    pinned = world.ok("trust-add-jjj")
    assert pinned["kids"] == world.ok("init-anchor-yrd")["kids"]
    assert pinned["trust_on_first_use"] is False

    narrowed = world.ok("accept")
    assert (narrowed["policy"], narrowed["types"]) == ("yrd-accepts-jjj-licences", [LICENCE])
    assert narrowed["kids"] == added["kids"]
    region = _row(world.ok("list-approved"), world.jjj.url)
    assert (region["status"], region["policy"]) == ("approved", "yrd-accepts-jjj-licences")

    assert "region trust-add" in world.runs["accept-unknown"].one_error_line()


def test_audit_records_every_trust_change_with_actor_and_time(world: World) -> None:
    log = world.ok("audit-yrd")
    actions = [(e["action"], e["subject"]) for e in log]
    assert actions[0] == ("federation.anchor", world.yrd.url)
    assert ("federation.join_request", world.hz.url) in actions
    assert ("federation.approve", world.hz.url) in actions
    agreements = [e for e in log if e["action"] == "federation.region_agreement"]
    assert [(e["subject"], e["detail"]["policy"], e["detail"]["accepted"]) for e in agreements] == [
        (world.jjj.url, "yrd-accepts-jjj", sorted([LICENCE, FOOD])),
        (world.jjj.url, "yrd-accepts-jjj-licences", [LICENCE]),
    ]
    for entry in log:
        _china_time(entry["at"])
        if entry["action"] != "federation.join_request":  # requested by the city itself
            assert entry["actor"] == _actor(), entry
    assert all(e["action"].startswith("federation.") for e in log)

    text = world.runs["audit-jjj"]  # the human form
    assert text.returncode == 0, text
    (line,) = [s for s in text.stdout.splitlines() if "federation.region_agreement" in s]
    at, actor, _, subject, *_ = line.split()
    assert (actor, subject) == (_actor(), world.yrd.url)
    _china_time(at)
