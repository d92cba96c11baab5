"""Join requests at a region anchor (issue 11): one waiting request per city that no stranger
can displace, bounds per client address, per host and in total, a documented lifetime, and the
operator's pending, reject and purge, each an audit event.

In process: the anchor fetches the joining entity's own configuration through the federation's
in-memory transport (``tests.gateway.federation_helpers``); the multi-process flood is
``tests/federation/test_join_flood.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from gateway import audit, federation, join_requests, statements
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound, Unprocessable
from gateway.migrate import upgrade
from gateway.models import AuditRow, SubordinateRow
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from trust.federation import sign_entity_statement
from trust.keys import SigningKey

YRD, HZ, SZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101", "http://127.0.0.1:9102"
CT = {"Content-Type": "application/entity-statement+jwt"}
PERMITS = ["business-licence"]


def _city(fed: Federation, url: str = HZ, name: str = "杭州市", code: str = "330100") -> Gateway:
    """A city gateway that took the city role under 长三角 (it has not asked to join yet)."""
    gw = fed.gateway(url, code=code, name=name)
    anchor = fed.gateways[YRD]
    with anchor.sessions() as session:
        _, keys = federation.signing_key(anchor, session, federation.SELF)
    federation.init(gw, role=federation.CITY, region_id="yrd", region_name="长三角",
                    superior_id=YRD, superior_jwks=[dict(k.jwk) for k in keys],
                    actor="t")  # fmt: skip
    return gw


def _kids(gw: Gateway) -> list[str]:
    with gw.sessions() as session:
        _, keys = federation.signing_key(gw, session, federation.SELF)
    return [k.kid for k in keys]


def _forged(entity_id: str, now: int, key: SigningKey | None = None, name: str = "杭州市") -> str:
    thief = key or SigningKey.generate()
    return sign_entity_statement(
        iss=entity_id, sub=entity_id, iat=now, exp=now + 3600, jwks=[thief.public], key=thief,
        metadata={"federation_entity": {"organization_name": name}}, authority_hints=[YRD],
    )  # fmt: skip


def _actions(gw: Gateway) -> list[tuple[str, str, dict[str, object]]]:
    with gw.sessions() as session:
        rows = session.scalars(select(AuditRow).order_by(AuditRow.id))
        return [(r.action, r.subject, dict(r.detail)) for r in rows]


def test_a_forged_request_in_a_waiting_citys_name_does_not_displace_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Attack corpus: a forged request for a city still waiting replaced its keys, so
    ``approve --kid`` kept refusing and the city was kept out."""
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = _city(fed)
        own = statements.entity_configuration(hz)
        assert fed.client(YRD).post("/federation/join", content=own, headers=CT).status_code == 200
        answer = fed.client(YRD).post("/federation/join", content=_forged(HZ, clock.now),
                                      headers=CT)  # fmt: skip
        row = federation.approve(yrd, entity_id=HZ, credential_types=PERMITS, actor="op",
                                 kids=_kids(hz))  # fmt: skip
        assert row.status == "approved"
        assert 400 <= answer.status_code < 500, answer.text


def test_without_the_fetch_a_request_signed_by_other_keys_is_refused_and_changes_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The rule holds in the service itself, not only behind the HTTP endpoint's fetch."""
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = _city(fed)
        first = join_requests.request_join(yrd, statements.entity_configuration(hz))
        with pytest.raises(join_requests.JoinRefused) as refused:
            join_requests.request_join(yrd, _forged(HZ, clock.now), client_address="10.0.0.9")
        assert "已有一个由其他密钥签名的加入申请" in refused.value.message_zh
        assert "the waiting request stands" in refused.value.message_en
        (listed,) = join_requests.pending(yrd)
        assert listed["kids"] == _kids(hz)
        assert listed["id"] == first.request_id
        renewed = join_requests.request_join(yrd, statements.entity_configuration(hz))
        assert renewed.request_id == first.request_id  # the same keys renew, not a new request


def test_the_fetch_refuses_an_entity_that_serves_nothing_or_other_keys(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        made_up = fed.client(YRD).post(
            "/federation/join", content=_forged("http://127.0.0.1:9199/nobody", clock.now),
            headers=CT,
        )  # fmt: skip
        assert made_up.status_code == 400, made_up.text
        assert made_up.json()["error"] == "invalid_request"
        text = made_up.json()["error_description"]
        assert text.index("无法从") < text.index("expected http://127.0.0.1:9199/nobody")
        _city(fed)
        in_its_name = fed.client(YRD).post("/federation/join", content=_forged(HZ, clock.now),
                                           headers=CT)  # fmt: skip
        assert in_its_name.status_code == 400, in_its_name.text
        assert "keys the entity itself serves" in in_its_name.json()["error_description"]
        assert join_requests.pending(fed.gateways[YRD]) == []


def _fill(yrd: Gateway, now: int, n: int, *, host: str, address: str) -> None:
    for i in range(n):
        join_requests.request_join(yrd, _forged(f"{host}/c/{i}", now), client_address=address)


@pytest.mark.parametrize(
    ("case", "host", "address"),
    [
        ("one client address", "http://127.0.0.1:{i}", "10.1.1.1"),
        ("one IPv6 /64", "http://127.0.0.1:{i}", "2001:db8::{i}"),
        ("one host", "http://127.0.0.1:9300", "10.1.{i}.1"),
    ],
)
def test_requests_are_bounded_per_requester(
    tmp_path: Path, clock: FakeClock, case: str, host: str, address: str
) -> None:
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        for i in range(join_requests.MAX_PER_ADDRESS):
            join_requests.request_join(
                yrd, _forged(f"{host.format(i=9300 + i)}/c/{i}", clock.now),
                client_address=address.format(i=i + 1),
            )  # fmt: skip
        with pytest.raises(join_requests.JoinRefused, match="may wait at once; found 5"):
            join_requests.request_join(
                yrd, _forged(f"{host.format(i=9399)}/c/x", clock.now),
                client_address=address.format(i=99),
            )  # fmt: skip
        hz = _city(fed)  # another requester is not held back
        join_requests.request_join(yrd, statements.entity_configuration(hz), client_address="::1")
        assert len(join_requests.pending(yrd)) == join_requests.MAX_PER_ADDRESS + 1, case


def test_requests_are_bounded_in_total_and_expire(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(join_requests, "MAX_PENDING", 3)
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        for i in range(3):
            join_requests.request_join(yrd, _forged(f"http://127.0.0.1:{9300 + i}", clock.now),
                                       client_address=f"10.0.0.{i}")  # fmt: skip
        hz = _city(fed)
        with pytest.raises(join_requests.JoinRefused, match="in all may wait at once"):
            join_requests.request_join(yrd, statements.entity_configuration(hz))
        clock.advance(join_requests.JOIN_LIFETIME)  # exactly its lifetime: expired
        assert all(p["expired"] for p in join_requests.pending(yrd))
        hz_row = join_requests.request_join(yrd, statements.entity_configuration(hz))
        assert hz_row.expires_at == clock.now + join_requests.JOIN_LIFETIME == clock.now + 259_200
        assert [p["entity_id"] for p in join_requests.pending(yrd)] == [HZ]  # expired dropped
        clock.advance(join_requests.JOIN_LIFETIME)
        with pytest.raises(Conflict, match="expired at"):
            federation.approve(yrd, entity_id=HZ, credential_types=PERMITS, actor="op",
                               kids=_kids(hz))  # fmt: skip
        purge = [a for a in _actions(yrd) if a[0] == "federation.join_purge"]
        assert purge[0][1] == YRD
        assert purge[0][2]["everything"] is False
        assert len(purge[0][2]["request_ids"]) == 3


def test_the_operator_rejects_and_purges_and_each_is_an_audit_event(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = _city(fed)
        forged = join_requests.request_join(yrd, _forged(HZ, clock.now), client_address="10.9.9.9")
        with pytest.raises(Unprocessable, match="1 to 200 characters, found 0"):
            join_requests.reject(yrd, request_id=str(forged.request_id), reason="  ", actor="op")
        with pytest.raises(NotFound, match="no waiting join request"):
            join_requests.reject(yrd, request_id="jr-nope", reason="x", actor="op")
        join_requests.reject(yrd, request_id=str(forged.request_id), reason="not 杭州's key",
                             actor="cli:op")  # fmt: skip
        assert join_requests.pending(yrd) == []
        join_requests.request_join(yrd, statements.entity_configuration(hz))  # asks again
        join_requests.request_join(yrd, _forged(SZ, clock.now), client_address="10.9.9.9")
        clock.advance(3600)
        assert join_requests.purge(yrd, everything=False, actor="cli:op") == []
        dropped = join_requests.purge(yrd, everything=True, actor="cli:op")
        assert len(dropped) == 2
        assert join_requests.pending(yrd) == []
        with yrd.sessions() as session:
            assert session.get(SubordinateRow, HZ) is None
        actions = _actions(yrd)
        (rejected,) = [a for a in actions if a[0] == "federation.join_reject"]
        assert rejected[1] == HZ
        assert rejected[2]["reason_hash"] == audit.text_hash("not 杭州's key")  # no free text
        assert rejected[2]["request_id"] == forged.request_id
        requests = [a for a in actions if a[0] == "federation.join_request"]
        assert len(requests) == 3
        assert all("10.9.9.9" not in str(a) for a in actions)  # an address only as a hash
        (purged,) = [a for a in actions if a[0] == "federation.join_purge"]
        assert purged[2]["everything"] is True


def test_a_request_from_a_city_gateway_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = _city(fed)
        with pytest.raises(join_requests.JoinRefused, match="only a region trust anchor"):
            join_requests.request_join(hz, _forged(SZ, clock.now))


def test_the_client_address_a_request_counts_against() -> None:
    assert join_requests.requester("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert join_requests.requester("::ffff:10.0.0.1") == "10.0.0.1"
    assert join_requests.requester("10.0.0.1") == "10.0.0.1"
    assert join_requests.requester(None) == "unknown"
    assert join_requests.requester("testclient") == "testclient"


def test_a_requests_name_reaches_the_operators_terminal_without_control_characters(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        yrd = fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        join_requests.request_join(
            yrd, _forged(SZ, clock.now, name="苏州\x1b[2J\x1b]0;pwned\x07市")
        )
        (listed,) = join_requests.pending(yrd)
        assert listed["name"] == "苏州[2J]0;pwned市"


def test_migration_0011_gives_requests_already_waiting_an_expiry(empty_db_url: str) -> None:
    upgrade(empty_db_url, "0010")
    engine = create_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            for entity_id, status in ((HZ, "pending"), (SZ, "approved")):
                conn.execute(
                    text(
                        "INSERT INTO subordinates (entity_id, kind, name, jwks, credential_types,"
                        " status, policy, requested_at) VALUES (:e, 'city', '', '[]', '[]', :s,"
                        " '', 1000)"
                    ),
                    {"e": entity_id, "s": status},
                )
        upgrade(empty_db_url, "0011")
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT entity_id, expires_at, request_id FROM subordinates ORDER BY 1")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [
        (HZ, 1000 + join_requests.JOIN_LIFETIME, None),
        (SZ, None, None),
    ]
