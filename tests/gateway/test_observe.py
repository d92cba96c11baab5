"""``/metrics`` after the walkthrough shows its requests, and the access log (issue 12).

杭州 issues a licence through its API; 苏州, in the same region, verifies it through its API.
Each gateway's ``/metrics`` then counts those requests under their route templates and
statuses, 苏州 counts the VALID answer, 杭州 the licence by type, and the ages of the sync,
the own status lists and the trust list appear. The access log writes one JSON line a
request with the fields promised and nothing of the request's content.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from stdnum.cn import uscc

from gateway import agencies, observe, trustsync
from gateway.app import create_app
from gateway.core import Gateway
from tests.conftest import Agency, FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.helpers import auth, licence_body

YRD, HZ, SZ = "http://127.0.0.1:9310", "http://127.0.0.1:9311", "http://127.0.0.1:9312"
LICENCES = ["business-licence"]


def samples(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float | None:  # fmt: skip
    return found.get((name, frozenset(labels.items())))


@pytest.fixture
def region(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Federation, Gateway, Gateway]]:
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=LICENCES)
        sz = fed.city(SZ, anchor=YRD, code="320500", name="苏州市", types=LICENCES)
        yield fed, hz, sz


def test_metrics_show_an_issuance_and_a_verify_with_their_routes_and_the_ages(
    region: tuple[Federation, Gateway, Gateway], clock: FakeClock
) -> None:
    fed, hz, sz = region
    first17 = "11330100MB1958123"
    _, key = agencies.add_agency(hz, name="杭州市市场监督管理局", actor="t", types=LICENCES,
                                 uscc=first17 + uscc.calc_check_digit(first17))  # fmt: skip
    issued = fed.client(HZ).post("/api/v1/credentials", json=licence_body(), headers=auth(key))
    assert issued.status_code == 201, issued.text
    for gw in (hz, sz):  # 苏州 learns 杭州's issuers and status lists
        trustsync.sync_once(gw, fed.fetcher(), lifetime=3600, refresh=60)
    trustsync.refresh_status_lists(sz, fed.fetcher())
    clock.advance(7)
    verified = fed.client(SZ).post("/api/v1/verify", json={"qr": issued.json()["qr_text"]})
    assert verified.status_code == 200, verified.text
    assert verified.json()["reason"] == "VALID", verified.json()
    credential_id = issued.json()["id"]
    looked = fed.client(HZ).get(f"/api/v1/credentials/{credential_id}", headers=auth(key))
    assert looked.status_code == 200, looked.text

    at_hz, at_sz = samples(fed.client(HZ)), samples(fed.client(SZ))
    requests = "ecert_http_requests_total"
    assert value(at_hz, requests, method="POST", route="/api/v1/credentials", status="201") == 1
    assert value(at_hz, requests, method="GET", route="/api/v1/credentials/{credential_id}",
                 status="200") == 1  # fmt: skip
    assert value(at_sz, requests, method="POST", route="/api/v1/verify", status="200") == 1
    assert value(at_sz, "ecert_http_request_duration_seconds_count", method="POST",
                 route="/api/v1/verify") == 1  # fmt: skip
    assert value(at_sz, "ecert_verify_answers_total", reason="VALID") == 1
    assert value(at_hz, "ecert_credentials_issued_total", type="business-licence") == 1
    # route templates only: no id of a credential in any label
    assert not any(credential_id in str(labels) for _, labels in at_hz)
    # 苏州 fetched 杭州's documents (its status list) 7 s ago, and signed its trust list then
    assert value(at_sz, "ecert_federation_sync_age_seconds", peer=HZ) == 7
    assert value(at_sz, "ecert_trust_list_age_seconds") == 7
    assert value(at_hz, "ecert_own_status_list_age_seconds") is not None


def test_an_unknown_path_and_an_odd_method_do_not_grow_the_labels(gw: Gateway) -> None:
    with TestClient(create_app(gw), base_url="http://127.0.0.1") as client:
        for n in range(5):
            assert client.get(f"/no/such/path/{n}").status_code == 404
        assert client.request("BREW", "/healthz").status_code == 405
        found = samples(client)
    routes = {dict(labels).get("route") for name, labels in found if name.startswith("ecert_http")}
    assert routes == {observe.UNMATCHED, "/healthz"}
    assert value(found, "ecert_http_requests_total", method="GET", route=observe.UNMATCHED,
                 status="404") == 5  # fmt: skip
    assert value(found, "ecert_http_requests_total", method="OTHER", route="/healthz",
                 status="405") == 1  # fmt: skip


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_access_log_writes_one_line_a_request_and_nothing_of_its_content(
    gw: Gateway, amr: Agency, tmp_path: Path
) -> None:
    log = tmp_path / "access.jsonl"
    settings = gw.settings.model_copy(update={"access_log": "json", "access_log_file": log})
    gw.settings = settings
    with TestClient(create_app(gw), base_url="http://127.0.0.1") as client:
        issued = client.post("/api/v1/credentials", json=licence_body(), headers=auth(amr.api_key))
        assert issued.status_code == 201, issued.text
        qr_text = issued.json()["qr_text"]
        verified = client.post(
            "/api/v1/verify", json={"qr": qr_text}, headers={"X-Request-ID": "trace-0001.a"}
        )
        refused = client.get(
            f"/api/v1/credentials/{issued.json()['id']}?secret=x",
            headers={"X-Request-ID": "bad id\nwith a newline"},
        )
    lines = _lines(log)
    assert [(e["method"], e["route"], e["status"]) for e in lines] == [
        ("POST", "/api/v1/credentials", 201),
        ("POST", "/api/v1/verify", 200),
        ("GET", "/api/v1/credentials/{credential_id}", 401),
    ]
    for entry in lines:
        assert set(entry) == {"time", "request_id", "method", "route", "status", "duration_ms",
                              "client"}  # fmt: skip
        assert entry["duration_ms"] >= 0
        assert len(entry["client"]) == 16, entry
    # the caller's sane id is kept and echoed; an insane one is replaced, and echoed replaced
    assert lines[1]["request_id"] == verified.headers["x-request-id"] == "trace-0001.a"
    assert refused.headers["x-request-id"] == lines[2]["request_id"]
    assert len(lines[2]["request_id"]) == 16, lines[2]  # 16 hex digits, made here
    assert issued.headers["x-request-id"] == lines[0]["request_id"]
    text = log.read_text(encoding="utf-8")
    for secret in (amr.api_key, qr_text, qr_text[-40:], issued.json()["id"], "secret",
                   "testclient", licence_body()["subject"]["name"]):  # fmt: skip
        assert secret not in text


def test_the_access_log_is_off_unless_asked_and_json_for_serve(gw: Gateway, tmp_path: Path) -> None:
    assert observe.access_log_for(gw.settings, default="off") is None
    to_stderr = observe.access_log_for(gw.settings, default="json")
    assert to_stderr is not None
    assert not to_stderr.owned
    off = gw.settings.model_copy(update={"access_log": "off"})
    assert observe.access_log_for(off, default="json") is None
