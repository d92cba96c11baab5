"""What the verify answer says about a revocation or a suspension, and who answered (issue 12:
"A revoked certificate on `/v` does not say when, why, or which kind (注销 vs 吊销) … the page
does not say which gateway answered")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from sqlalchemy import event

from gateway import issuance, publicurl, status, trustsync, verify_extras
from gateway.core import Gateway
from gateway.models import CredentialRow
from tests.conftest import Agency, FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.gateway.helpers import client_for
from tests.gateway.test_federation_sync import _region, _sync
from tests.issuers.samples import SAMPLE_SUBJECTS
from verify.result_json import iso

BACKGROUND = "ecert-"  # the names of the gateway's own background threads


def _licence(gw: Gateway, agency_id: str) -> tuple[str, str]:
    row, _ = issuance.issue(
        gw, agency_id=agency_id,
        request=issuance.IssueRequest("business-licence", SAMPLE_SUBJECTS["business-licence"]),
    )  # fmt: skip
    return row.id, row.token


@pytest.mark.parametrize(("code", "zh"), [("07", "吊销"), ("04", "注销"), (None, "撤销")])
def test_a_local_revocation_says_its_date_reason_and_kind(
    gw: Gateway, amr: Agency, clock: FakeClock, code: str | None, zh: str
) -> None:
    cid, token = _licence(gw, amr.id)
    clock.advance(3600)
    when = clock.now
    status.change(gw, credential_id=cid, action="revoke", reason="营业执照被依法处理",
                  actor="t", agency_id=None, code=code)  # fmt: skip
    clock.advance(60)
    with client_for(gw) as client:
        answer = client.post("/api/v1/verify", json={"qr": token}).json()
    assert answer["reason"] == "REVOKED"
    detail = answer["status_detail"]
    assert detail["code"] == (code or "03")
    assert detail["kind"]["zh"] == zh
    assert detail["at"] == iso(when)
    assert detail["reason"] == "营业执照被依法处理"
    assert detail["source"] == "issuer_record"
    assert answer["answered_by"] == {"name": "杭州市", "code": "330100", "url": gw.public_url}


def test_a_suspension_says_it_too_and_a_valid_answer_has_no_detail(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    cid, token = _licence(gw, amr.id)
    with client_for(gw) as client:
        valid = client.post("/api/v1/verify", json={"qr": token}).json()
        assert valid["reason"] == "VALID"
        assert valid["status_detail"] is None
        assert valid["answered_by"]["name"] == "杭州市"
        status.change(gw, credential_id=cid, action="suspend", reason="涉嫌违法经营，暂扣待查",
                      actor="t", agency_id=None)  # fmt: skip
        clock.advance(5)
        answer = client.post("/api/v1/verify", json={"qr": token}).json()
    assert answer["reason"] == "SUSPENDED"
    assert (answer["status_detail"]["code"], answer["status_detail"]["kind"]["zh"]) == (
        "02",
        "暂扣",
    )
    assert answer["status_detail"]["reason"] == "涉嫌违法经营，暂扣待查"


def test_a_valid_answer_reads_no_database_once_the_city_is_known(
    gw: Gateway, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the verify path is counted. The gateway's background work (the poll of the shared
    version and, on PostgreSQL, the state listener's catch-up) reads the database by design, in
    threads of its own, named ``ecert-…`` (:mod:`gateway.background`, :mod:`gateway.notify`),
    at times of its own: CI once counted the listener's first look. The poll runs every 10 ms
    here, so a count that took it in would fail on every run; a look made in a request's own
    thread would be counted."""
    _cid, token = _licence(gw, amr.id)
    statements: list[str] = []
    monkeypatch.setattr(gw, "settings", gw.settings.model_copy(update={"refresh_interval": 0.01}))
    looked = threading.Event()

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        if threading.current_thread().name.startswith(BACKGROUND):
            looked.set()
        else:
            statements.append(statement)

    with client_for(gw) as client:
        client.post("/api/v1/verify", json={"qr": token})  # reads the city once
        event.listen(gw.engine, "before_cursor_execute", count)
        try:
            for _ in range(5):
                assert client.post("/api/v1/verify", json={"qr": token}).json()["valid"]
            assert looked.wait(10), "the background look never ran: the count proves less"
        finally:
            event.remove(gw.engine, "before_cursor_execute", count)
    assert statements == []


def test_another_citys_revocation_says_plainly_what_is_known(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        cid, token = _licence(hz, amr)
        _sync(fed, sz)
        clock.advance(60)
        status.change(hz, credential_id=cid, action="revoke", reason="依法吊销", actor="t",
                      agency_id=None, code="07")  # fmt: skip
        clock.advance(301)
        trustsync.refresh_status_lists(sz, fed.fetcher())
        answer = fed.client(sz.public_url).post("/api/v1/verify", json={"qr": token}).json()
        with hz.sessions() as session:
            assert session.get(CredentialRow, cid) is not None  # 杭州 knows; 苏州 does not
    assert answer["reason"] == "REVOKED"
    detail = answer["status_detail"]
    assert detail["source"] == "status_list"
    assert (detail["code"], detail["kind"], detail["at"], detail["reason"]) == (None,) * 4
    assert "未载明日期、原因和类别" in detail["note"]["zh"]
    assert "杭州市市场监督管理局" in detail["note"]["zh"]
    assert "gives no date, reason or kind" in detail["note"]["en"]
    assert detail["status_as_of"] == answer["freshness"]["status"]
    assert answer["answered_by"]["name"] == "苏州市"


def test_a_changed_public_url_is_in_the_next_answer_not_the_one_held(
    gw: Gateway, amr: Agency
) -> None:
    # The city's identity is held per live state version (read without a lock, issue 13): a
    # change of the city makes a new version, and the next answer reads it again.
    _cid, token = _licence(gw, amr.id)
    with client_for(gw) as client:
        before = client.post("/api/v1/verify", json={"qr": token}).json()["answered_by"]
        publicurl.set_public_url(gw, "https://ecert-new.hangzhou.gov.cn", actor="t")
        after = client.post("/api/v1/verify", json={"qr": token}).json()["answered_by"]
        batch = client.post("/api/v1/verify/batch", json={"qrs": [token]}).json()["results"]
    assert before["url"] == "https://ecert.hangzhou.gov.cn"
    assert after == {"name": "杭州市", "code": "330100", "url": "https://ecert-new.hangzhou.gov.cn"}
    assert batch[0]["answered_by"] == after


class _City:
    """What :func:`verify_extras.answered_by` reads of a gateway: its live state's version and,
    once a version, its city row. Two of them may share a version number, as two real
    gateways' databases may."""

    def __init__(self, name: str, version: int) -> None:
        self.state = SimpleNamespace(version=version)
        self.row = SimpleNamespace(name=name, code="330100", public_url=f"https://{name}.cn")
        self.reads = 0

    @contextmanager
    def sessions(self) -> Iterator[SimpleNamespace]:
        self.reads += 1
        yield SimpleNamespace(get=lambda _table, _id: self.row)


def test_the_city_held_is_each_gateways_own_and_of_its_live_version() -> None:
    hz, sz = _City("杭州市", 7), _City("苏州市", 7)
    assert verify_extras.answered_by(cast(Gateway, hz))["name"] == "杭州市"
    assert verify_extras.held_answered_by(cast(Gateway, sz)) is None  # the same version, not it
    assert verify_extras.answered_by(cast(Gateway, sz))["name"] == "苏州市"
    held = verify_extras.held_answered_by(cast(Gateway, hz))
    assert held is not None
    assert held["name"] == "杭州市"
    assert (hz.reads, sz.reads) == (1, 1)
    hz.state.version = 8
    assert verify_extras.held_answered_by(cast(Gateway, hz)) is None
    hz.row.name = "杭州市（新）"
    assert verify_extras.answered_by(cast(Gateway, hz))["name"] == "杭州市（新）"
    assert hz.reads == 2


def test_two_gateways_in_one_process_each_answer_as_themselves(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        _cid, token = _licence(hz, amr)
        _sync(fed, sz)
        named = [
            fed.client(city.public_url).post("/api/v1/verify", json={"qr": token}).json()
            for city in (hz, sz, hz, sz)
        ]
    assert [a["reason"] for a in named] == ["VALID"] * 4
    assert [a["answered_by"]["name"] for a in named] == ["杭州市", "苏州市", "杭州市", "苏州市"]
