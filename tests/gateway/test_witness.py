"""Peers witness each other's audit logs (gateway/witness.py and its views), in process.

A region (长三角) with two cities; 苏州 witnesses 杭州. 杭州's log as 苏州 sees it is an in-memory
Merkle log (:class:`FakeLog`, built with trust/merkle.py) served in front of 杭州's real app and
signed with 杭州's real federation key, so each test can truncate, rewrite or roll it back at
will; 杭州's real app receives 苏州's cosignatures. Everything else is the real federation:
苏州 finds 杭州 and its keys through its verified trust data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from stdnum.cn import uscc
from typer.testing import CliRunner

from gateway import agencies, federation, trustexport, trustsync, witness_alarms
from gateway.core import Gateway
from gateway.models import AuditCheckpointRow, AuditRow, CosignatureRow
from gateway.witness import KeyCache, witness_all
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from trust import merkle
from trust.encoding import b64url_encode
from trust.jws import sign_compact
from trust.keys import SigningKey
from trust.witness import CHECKPOINT_TYP, COSIGNATURE_TYP, read_checkpoint, sign_cosignature

YRD, HZ, SZ = "http://127.0.0.1:9300", "http://127.0.0.1:9301", "http://127.0.0.1:9302"
LICENCES = ["business-licence"]


@dataclass
class FakeLog:
    """杭州's audit log as its endpoints serve it: leaves, the newest head, and tampering."""

    key: SigningKey
    leaves: list[bytes] = field(default_factory=list)
    head: str | None = None
    clock: FakeClock | None = None
    heads: list[str] = field(default_factory=list)
    gw: Gateway | None = None  # 杭州: the heads this log signs are stored as 杭州's own

    def grow(self, n: int, tag: str = "") -> None:
        start = len(self.leaves)
        self.leaves += [
            merkle.leaf_hash(f'{{"index":{start + i}{tag}}}'.encode()) for i in range(n)
        ]
        self.sign()

    def sign(self, kid: str | None = None) -> None:
        assert self.clock is not None
        root = b64url_encode(merkle.root(self.leaves))
        claims = {
            "iss": HZ,
            "tree_size": len(self.leaves),
            "root_hash": root,
            "iat": self.clock.now,
        }
        self.head = sign_compact(claims, self.key, typ=CHECKPOINT_TYP, kid=kid)
        self.heads.append(self.head)
        if self.gw is not None:  # 杭州 takes cosignatures only of heads it signed
            with self.gw.transaction() as session:
                session.merge(AuditCheckpointRow(
                    tree_size=len(self.leaves), root_hash=merkle.root(self.leaves),
                    jws=self.head, signed_at=self.clock.now))  # fmt: skip

    def answer(self, target: str) -> httpx.Response | None:
        url = urlsplit(target)
        if url.path == "/audit/checkpoint" and self.head is not None:
            return httpx.Response(200, content=self.head.encode(),
                                  headers={"Content-Type": "application/jwt"})  # fmt: skip
        if url.path == "/audit/proof/consistency":
            q = {k: int(v[0]) for k, v in parse_qs(url.query).items()}
            first, second = q["first"], q["second"]
            if not 0 < first <= second <= len(self.leaves):
                return httpx.Response(400, json={"detail": "out of range"})
            path = merkle.consistency_proof(merkle.over(self.leaves), first, second)
            hashes = [b64url_encode(h) for h in path]
            return httpx.Response(200, json={"first": first, "second": second, "proof": hashes})
        return None


class Front:
    """杭州's app with its log's read endpoints answered by a :class:`FakeLog`."""

    def __init__(self, real: TestClient, log: FakeLog) -> None:
        self.real, self.log = real, log

    def request(self, method: str, target: str, **kwargs: Any) -> httpx.Response:
        faked = self.log.answer(target) if method == "GET" else None
        return faked if faked is not None else self.real.request(method, target, **kwargs)


@dataclass
class Region:
    fed: Federation
    hz: Gateway
    sz: Gateway
    log: FakeLog
    hz_app: TestClient  # 杭州's real app, without the fake log in front

    def witness(self) -> str:
        return witness_all(self.sz, self.fed.fetcher())[HZ]

    def health(self) -> dict[str, Any]:
        answer = self.fed.client(SZ).get("/healthz")
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    def metric(self, name: str, peer: str = HZ) -> float | None:
        answer = self.fed.client(SZ).get("/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                if sample.name == name and sample.labels.get("peer") == peer:
                    return sample.value
        return None


def _agency(gw: Gateway, first17: str, name: str) -> None:
    agencies.add_agency(gw, name=name, uscc=first17 + uscc.calc_check_digit(first17),
                        types=LICENCES, actor="t")  # fmt: skip


@pytest.fixture
def region(tmp_path: Path, clock: FakeClock, db_url: str) -> Iterator[Region]:
    """杭州 and 苏州 under 上海; 苏州, the witness, on SQLite or on the suite's PostgreSQL."""
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=LICENCES)
        # 苏州's own background sync does not witness: the tests run its rounds one by one
        sz = fed.city(SZ, anchor=YRD, code="320500", name="苏州市", types=LICENCES,
                      audit_witness=False, database_url=db_url)  # fmt: skip
        _agency(hz, "11330100MB1958123", "杭州市市场监督管理局")
        _agency(sz, "11320500MB1234567", "苏州市市场监督管理局")
        for gw in (hz, sz):
            trustsync.sync_once(gw, fed.fetcher(), lifetime=3600, refresh=60)
        log = FakeLog(federation.own_signing_key(hz), clock=clock, gw=hz)
        real = fed.client(HZ)
        fed.transport.apps[HZ] = Front(real, log)  # type: ignore[assignment]
        try:
            yield Region(fed, hz, sz, log, real)
        finally:
            fed.transport.apps[HZ] = real


def _cosigners(gw: Gateway) -> list[tuple[str, int]]:
    """苏州's cosignatures 杭州 holds (上海's background sync witnesses 杭州 too)."""
    with gw.sessions() as session:
        rows = session.scalars(select(CosignatureRow).where(CosignatureRow.witness == SZ)
                               .order_by(CosignatureRow.tree_size))  # fmt: skip
        return [(r.witness, r.tree_size) for r in rows]


def test_a_city_witnesses_its_peer_and_its_cosignature_is_shown_by_the_peer(
    region: Region, clock: FakeClock
) -> None:
    region.log.grow(5)
    assert region.witness() == "cosigned"  # first head: trusted on first use
    clock.now += 10
    region.log.grow(3)
    assert region.witness() == "cosigned"  # 5 → 8, with a consistency proof
    assert region.witness() == "accepted"  # the same head: nothing new to co-sign
    clock.now += region.sz.settings.audit_head_max_age + 1
    assert region.witness() == "accepted"  # an idle log keeps its head: not stale
    assert _cosigners(region.hz) == [(SZ, 5), (SZ, 8)]
    shown = region.hz_app.get("/audit/witnesses").json()["heads"]
    by_sz = [h["tree_size"] for h in shown if SZ in [w["witness"] for w in h["witnesses"]]]
    assert by_sz == [8, 5]  # newest first (上海's background sync may have co-signed others)
    peers = {p["peer"]: p for p in region.health()["audit"]["peers"]}
    assert peers[HZ]["tree_size"] == 8
    assert peers[HZ]["cosigned_at"] is not None
    assert region.health()["status"] == "ok"
    assert region.metric("ecert_audit_peer_tree_size") == 8
    assert region.metric("ecert_audit_witness_alarms") == 0


def test_a_truncated_log_raises_an_alarm_that_stands_until_acknowledged(
    region: Region, clock: FakeClock
) -> None:
    region.log.grow(9)
    assert region.witness() == "cosigned"
    clock.now += 60
    del region.log.leaves[6:]  # three entries deleted, and a new head signed over the rest
    region.log.sign()
    assert region.witness() == "alarm:truncated"
    assert region.witness() == "alarm:truncated"  # seen again: counted, not a second alarm
    health = region.health()
    assert health["status"] == "degraded"
    (alarm,) = health["audit"]["alarms"]
    assert (alarm["kind"], alarm["peer"], alarm["times"]) == ("truncated", HZ, 2)
    assert (alarm["tree_size"], alarm["seen_tree_size"]) == (6, 9)
    assert "截断" in alarm["message"]
    assert "truncated" in alarm["message_en"]
    assert region.metric("ecert_audit_witness_alarms") == 1
    assert region.metric("ecert_audit_peer_tree_size") == 9  # what was verified stays
    with region.sz.sessions() as session:
        events = session.scalars(select(AuditRow).where(AuditRow.action.like("audit.witness%")))
        assert [(e.action, e.subject, e.detail["kind"]) for e in events] == [
            ("audit.witness_alarm", HZ, "truncated")]  # fmt: skip

    witness_alarms.acknowledge(region.sz, alarm["id"], actor="operator")
    assert region.health()["status"] == "ok"
    assert region.metric("ecert_audit_witness_alarms") == 0
    assert region.witness() == "alarm:truncated"  # still truncated: raised again
    (again,) = witness_alarms.alarms(region.sz)
    witness_alarms.acknowledge(region.sz, again.id, actor="operator", reset=True)
    assert region.witness() == "cosigned"  # forgotten: its head trusted on first use again


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        ("rewrite entry 2, same size", "rewritten"),
        ("rewrite entry 2, then grow", "rewritten"),
        ("serve an older head again", "rolled_back"),
        ("sign with another key under 杭州's kid", "bad_signature"),
        ("sign with a key not vouched for", "unverified"),
    ],
)
def test_a_tampered_log_raises_its_alarm(
    region: Region, clock: FakeClock, tamper: str, kind: str
) -> None:
    region.log.grow(4)
    old_head = region.log.head
    clock.now += 10
    region.log.grow(4)
    assert region.witness() == "cosigned"
    clock.now += 10
    if tamper.startswith("rewrite"):
        region.log.leaves[2] = merkle.leaf_hash(b'{"index":2,"forged":true}')
        if tamper.endswith("grow"):
            region.log.grow(2)
        else:
            region.log.sign()
    elif tamper == "serve an older head again":
        region.log.head = old_head
    else:
        kid = region.log.key.kid if "kid" in tamper else None
        region.log.key = SigningKey.generate()
        region.log.sign(kid=kid)
    if kind == "unverified":  # a rotation 苏州 has not followed yet: no verdict, no alarm
        assert region.witness() == "unverified"
        assert witness_alarms.alarms(region.sz) == []
        return
    assert region.witness() == f"alarm:{kind}"
    assert [a.kind for a in witness_alarms.alarms(region.sz)] == [kind]
    assert region.health()["status"] == "degraded"


def test_a_peer_that_rotated_its_key_is_verified_with_its_new_key_not_alarmed(
    region: Region, clock: FakeClock
) -> None:
    cache = KeyCache()  # as the background sync holds it: 杭州's keys resolved once, reused
    region.log.grow(3)
    assert witness_all(region.sz, region.fed.fetcher(), cache=cache)[HZ] == "cosigned"
    trustexport.rotate(region.hz, actor="operator")  # 杭州 signs with a new key from now on
    region.log.key = federation.own_signing_key(region.hz)
    clock.now += 10
    region.log.grow(1)
    # 上海 has not followed the rotation yet: the new key is vouched for by no one. No verdict.
    assert witness_all(region.sz, region.fed.fetcher(), cache=cache)[HZ] == "unverified"
    for gw in (region.fed.gateways[YRD], region.hz):  # 杭州 re-signs its trust list too
        trustsync.sync_once(gw, region.fed.fetcher(), lifetime=3600, refresh=60)
    # 上海 follows it: the cached keys fail, fresh ones are resolved and verify the head.
    assert witness_all(region.sz, region.fed.fetcher(), cache=cache)[HZ] == "cosigned"
    assert witness_alarms.alarms(region.sz) == []


def test_an_unreachable_peer_raises_no_alarm_until_nothing_was_verified_for_too_long(
    region: Region, clock: FakeClock
) -> None:
    region.log.grow(2)
    assert region.witness() == "cosigned"
    region.fed.transport.down.add(HZ)
    try:
        assert region.witness() == "unverified"  # its keys cannot be resolved either
        peers = {p["peer"]: p for p in region.health()["audit"]["peers"]}
        assert "keys not resolved" in peers[HZ]["last_error"]
        assert region.health()["status"] == "ok"
        clock.now += region.sz.settings.audit_head_max_age + 1
        assert region.witness() == "alarm:stale"
    finally:
        region.fed.transport.down.discard(HZ)
    (alarm,) = [a for a in witness_alarms.alarms(region.sz) if a.peer == HZ]
    assert alarm.kind == "stale"


def _post(client: TestClient, body: str | bytes) -> httpx.Response:
    return client.post(
        "/audit/cosignature", content=body, headers={"Content-Type": "application/jwt"}
    )


def test_a_cosignature_is_taken_only_from_a_known_peer_with_its_own_key(
    region: Region, clock: FakeClock
) -> None:
    region.log.grow(3)
    assert region.log.head is not None
    head = read_checkpoint(region.log.head, [region.log.key.public], peer=HZ, now=clock.now)
    hz = region.hz_app
    stranger = SigningKey.generate()
    forged = sign_cosignature(stranger, witness=SZ, checkpoint=head, now=clock.now)
    answer = _post(hz, forged)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"]["message"]  # zh-CN first
    unknown = sign_cosignature(stranger, witness="http://127.0.0.1:9999", checkpoint=head,
                               now=clock.now)  # fmt: skip
    answer = _post(hz, unknown)
    assert answer.status_code == 403, answer.text
    for garbage in ("", "not a token", "a.b.c", "x" * 5000):
        answer = _post(hz, garbage)
        assert 400 <= answer.status_code < 500, (garbage[:20], answer.text)
    with region.sz.sessions() as session:
        _, keys = federation.signing_key(region.sz, session, federation.SELF)
    genuine = sign_cosignature(federation.own_signing_key(region.sz), witness=SZ,
                               checkpoint=head, now=clock.now)  # fmt: skip
    assert keys
    for _ in range(2):  # delivered twice: stored once
        answer = _post(hz, genuine)
        assert answer.status_code == 200, answer.text
    assert _cosigners(region.hz) == [(SZ, 3)]
    not_ours = sign_compact(
        {"iss": SZ, "sub": SZ, "tree_size": 3, "root_hash": b64url_encode(head.root_hash),
         "iat": clock.now}, federation.own_signing_key(region.sz), typ=COSIGNATURE_TYP,
    )  # fmt: skip
    assert _post(hz, not_ours).status_code == 422


def test_a_cosignature_of_a_head_the_log_never_signed_is_refused(
    region: Region, clock: FakeClock
) -> None:
    """A witness shown another view of 杭州's log (a split view) co-signs a head 杭州 never
    signed: 杭州 refuses it (409) rather than show it as witnessed."""
    region.log.grow(4)
    assert region.log.head is not None
    head = read_checkpoint(region.log.head, [region.log.key.public], peer=HZ, now=clock.now)
    other_view = sign_compact(
        {"iss": HZ, "tree_size": 4, "root_hash": b64url_encode(merkle.leaf_hash(b"fork")),
         "iat": clock.now}, region.log.key, typ=CHECKPOINT_TYP,
    )  # fmt: skip
    forked = read_checkpoint(other_view, [region.log.key.public], peer=HZ, now=clock.now)
    unsigned_size = sign_compact(
        {"iss": HZ, "tree_size": 9, "root_hash": b64url_encode(head.root_hash),
         "iat": clock.now}, region.log.key, typ=CHECKPOINT_TYP,
    )  # fmt: skip
    never = read_checkpoint(unsigned_size, [region.log.key.public], peer=HZ, now=clock.now)
    sz_key = federation.own_signing_key(region.sz)
    for bad in (forked, never):
        cosig = sign_cosignature(sz_key, witness=SZ, checkpoint=bad, now=clock.now)
        answer = _post(region.hz_app, cosig)
        assert answer.status_code == 409, answer.text
        assert "不是本网关签发的" in answer.json()["detail"]["message"]
        assert "not one this log signed" in answer.json()["detail"]["message_en"]
    assert _cosigners(region.hz) == []
    genuine = sign_cosignature(sz_key, witness=SZ, checkpoint=head, now=clock.now)
    assert _post(region.hz_app, genuine).status_code == 200
    assert _cosigners(region.hz) == [(SZ, 4)]


def test_the_cosignatures_kept_per_witness_are_bounded(region: Region, clock: FakeClock) -> None:
    from gateway.witness_views import MAX_PER_WITNESS

    region.log.grow(1)
    for _ in range(MAX_PER_WITNESS + 3):
        clock.now += 1
        region.log.grow(1)
        assert region.witness() == "cosigned"
    sizes = [size for _, size in _cosigners(region.hz)]
    assert len(sizes) == MAX_PER_WITNESS
    assert sizes[-1] == len(region.log.leaves)


def test_the_cli_lists_and_acknowledges_alarms(
    region: Region, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cli.app import app

    region.log.grow(5)
    region.witness()
    clock.now += 5
    del region.log.leaves[3:]
    region.log.sign()
    assert region.witness() == "alarm:truncated"
    data_dir = str(region.sz.settings.data_dir)
    monkeypatch.setenv("ECERT_DATABASE_URL", region.sz.settings.db_url)
    monkeypatch.setenv("ECERT_KEY_PASSPHRASE", region.sz.settings.passphrase)
    runner = CliRunner()
    shown = runner.invoke(app, ["audit", "alarms", "--data-dir", data_dir, "--json"])
    assert shown.exit_code == 0, shown.output
    (alarm,) = orjson.loads(shown.stdout)
    assert (alarm["kind"], alarm["peer"]) == ("truncated", HZ)
    text = runner.invoke(app, ["audit", "alarms", "--data-dir", data_dir])
    assert "截断" in text.stdout
    assert "truncated" in text.stdout
    acked = runner.invoke(
        app, ["audit", "ack", str(alarm["id"]), "--by", "张工", "--data-dir", data_dir]
    )
    assert acked.exit_code == 0, acked.output
    assert "已确认" in acked.stdout
    assert witness_alarms.alarms(region.sz) == []
    (done,) = witness_alarms.alarms(region.sz, include_acked=True)
    assert done.acked_by == "张工"
    again = runner.invoke(app, ["audit", "ack", str(alarm["id"]), "--data-dir", data_dir])
    assert again.exit_code != 0
