"""The API-key lifecycle (issue 11): keys with fewer scopes and an expiry, listed with their last
use, revoked and rotated, from the CLI; scopes enforced as the README documents.

The finding: "API keys cannot be given fewer scopes, rotated or revoked from the CLI" (the
first test, through the real ``ecert``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from gateway import api_keys
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.models import AuditRow
from gateway.settings import load_settings
from tests.cli.helpers import ecert
from tests.conftest import Agency, FakeClock
from tests.gateway.helpers import auth, client_for
from tests.gateway.holders import fresh_body
from trust.errors import FieldError

UNUSED = "ek_000000000000_" + "x" * 43


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result
    return result.json()


def test_keys_are_added_with_fewer_scopes_listed_revoked_and_rotated_from_the_cli(
    tmp_path: Path,
) -> None:
    d = str(tmp_path / "hz")
    assert ecert("init", "--data-dir", d, "--city-code", "330100").returncode == 0
    agency = _ok(
        ecert("agency", "add", "--data-dir", d, "--name", "杭州市市场监督管理局",
              "--uscc", "11330100MB1958123M", "--types", "business-licence", "--json")
    )  # fmt: skip
    base = ("--data-dir", d, "--json")
    reader = _ok(ecert("agency", "key", "add", "--agency", agency["id"], "--scopes", "read",
                       "--expires", "30d", "--label", "查询系统", *base))  # fmt: skip
    assert reader["scopes"] == ["read"]
    assert reader["label"] == "查询系统"
    assert reader["expires_at"] is not None
    assert reader["api_key"].startswith(f"ek_{reader['id']}_")
    refused = ecert("agency", "key", "add", "--agency", agency["id"], "--scopes", "read,admin",
                    "--data-dir", d)  # fmt: skip
    assert "admin" in refused.one_error_line()

    listed = _ok(ecert("agency", "key", "list", "--agency", agency["id"], *base))
    assert [k["scopes"] for k in listed] == [["issue", "read", "status"], ["read"]]
    assert {k["state"] for k in listed} == {"active"}
    assert not any(
        secret in str(listed) for secret in (agency["api_key"], reader["api_key"])
    )  # never a secret
    assert reader["api_key"].split("_", 2)[2] not in str(listed)

    settings = load_settings(data_dir=Path(d))
    gw = Gateway.open(settings)
    try:
        with client_for(gw) as client:
            issued = client.post(
                "/api/v1/credentials",
                json=fresh_body(),
                headers=auth(agency["api_key"]),
            )
            assert issued.status_code == 201, issued.text
            path = f"/api/v1/credentials/{issued.json()['id']}"
            assert client.get(path, headers=auth(reader["api_key"])).status_code == 200
            cannot = client.post(
                "/api/v1/credentials",
                json=fresh_body(),
                headers=auth(reader["api_key"]),
            )
            assert cannot.status_code == 403

            _ok(ecert("agency", "key", "revoke", "--key", reader["id"], *base))
            revoked = client.get(path, headers=auth(reader["api_key"]))
            assert revoked.status_code == 401
            assert "吊销" in revoked.json()["detail"]["message"]

            first = agency["api_key"].split("_")[1]
            rotated = _ok(ecert("agency", "key", "rotate", "--key", first, "--grace", "3600",
                                *base))  # fmt: skip
            assert rotated["replaces"] == first
            assert rotated["scopes"] == ["issue", "read", "status"]
            for key in (agency["api_key"], rotated["api_key"]):  # the grace period: both work
                assert client.get(path, headers=auth(key)).status_code == 200
    finally:
        gw.close()
    listed = {k["id"]: k for k in _ok(ecert("agency", "key", "list", *base))}
    assert listed[first]["replaced_by"] == rotated["id"]
    assert listed[first]["last_used_at"] is not None
    assert listed[reader["id"]]["state"] == "revoked"
    shown = ecert("agency", "key", "list", "--data-dir", d).stdout
    assert f"{reader['id']}  {agency['id']}  revoked  scopes read" in shown
    assert "last used 20" in shown


# (scopes of the key, method, path, status): the README's table of who may call what
SCOPE_CASES = [
    pytest.param(["read"], "POST", "", 403, id="read-only-cannot-issue"),
    pytest.param(["read"], "POST", "/suspend", 403, id="read-only-cannot-suspend"),
    pytest.param(["read"], "GET", "", 200, id="read-only-reads"),
    pytest.param(["status"], "POST", "", 403, id="status-only-cannot-issue"),
    pytest.param(["status"], "GET", "", 403, id="status-only-cannot-read"),
    pytest.param(["status"], "POST", "/suspend", 200, id="status-only-suspends"),
    pytest.param(["issue"], "POST", "", 201, id="issue-only-issues"),
    pytest.param(["issue"], "GET", "/qr.png", 403, id="issue-only-cannot-read-the-qr"),
    pytest.param(["issue"], "POST", "/revoke", 403, id="issue-only-cannot-revoke"),
]


@pytest.mark.parametrize(("scopes", "method", "suffix", "status"), SCOPE_CASES)
def test_each_scope_allows_only_its_calls(
    gw: Gateway, amr: Agency, scopes: list[str], method: str, suffix: str, status: int
) -> None:
    shown, key = api_keys.add_key(
        gw, agency_id=amr.id, scopes=scopes, expires_at=None, actor="test"
    )
    assert shown["scopes"] == scopes
    with client_for(gw) as client:
        made = client.post("/api/v1/credentials", json=fresh_body(), headers=auth(amr.api_key))
        path = "/api/v1/credentials" if (method, suffix) == ("POST", "") else (
            f"/api/v1/credentials/{made.json()['id']}{suffix}"
        )  # fmt: skip
        body = fresh_body() if suffix == "" and method == "POST" else {"reason": "核查"}
        answer = client.request(
            method, path, json=body if method == "POST" else None, headers=auth(key)
        )
    assert answer.status_code == status, answer.text
    if status == 403:
        assert answer.json()["detail"]["code"] == "forbidden"


def test_an_expired_key_is_refused_with_a_clear_401_only_to_its_holder(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    _, key = api_keys.add_key(
        gw, agency_id=amr.id, scopes=["read"], expires_at=clock.now + 100, actor="test"
    )
    with client_for(gw) as client:
        assert client.get("/api/v1/credentials/x", headers=auth(key)).status_code == 404
        clock.advance(100)
        expired = client.get("/api/v1/credentials/x", headers=auth(key))
        assert expired.status_code == 401
        assert expired.headers["WWW-Authenticate"] == "Bearer"
        detail = expired.json()["detail"]
        assert detail["code"] == "unauthorised"
        assert "过期" in detail["message"]
        assert "expired at 2026-09-21T" in detail["message_en"]
        guessed = client.get("/api/v1/credentials/x", headers=auth(key[:-3] + "abc"))
        assert guessed.json()["detail"]["message_en"] == "unknown or revoked API key"
    with pytest.raises(FieldError, match="after now and at most five years ahead"):
        api_keys.add_key(gw, agency_id=amr.id, scopes=["read"], expires_at=clock.now - 1,
                         actor="test")  # fmt: skip


def test_a_rotated_key_works_through_its_grace_period_only(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    old_id = amr.api_key.split("_")[1]
    shown, new = api_keys.rotate_key(gw, key_id=old_id, grace=600, actor="test")
    with client_for(gw) as client:
        for key in (amr.api_key, new):
            assert client.get("/api/v1/credentials/x", headers=auth(key)).status_code == 404
        clock.advance(600)
        late = client.get("/api/v1/credentials/x", headers=auth(amr.api_key))
        assert late.status_code == 401
        assert "was revoked at" in late.json()["detail"]["message_en"]
        assert client.get("/api/v1/credentials/x", headers=auth(new)).status_code == 404
    with pytest.raises(Conflict, match="rotate a key that is active"):
        api_keys.rotate_key(gw, key_id=old_id, actor="test")
    with pytest.raises(Conflict, match="revoked already"):
        api_keys.revoke_key(gw, key_id=old_id, actor="test")
    with pytest.raises(NotFound):
        api_keys.revoke_key(gw, key_id="nosuchkey", actor="test")
    api_keys.revoke_key(gw, key_id=shown["id"], actor="test")
    with gw.sessions() as session:
        events = [
            (e.action, e.subject)
            for e in session.scalars(select(AuditRow).where(AuditRow.action.like("apikey.%")))
        ]
        details = str([e.detail for e in session.scalars(select(AuditRow))])
    assert events == [("apikey.rotate", old_id), ("apikey.revoke", shown["id"])]
    assert new.split("_", 2)[2] not in details
    assert amr.api_key.split("_", 2)[2] not in details


def test_last_use_is_written_at_most_once_a_minute_per_key(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            writes.append(statement)

    event.listen(gw.engine, "before_cursor_execute", count)
    try:
        with client_for(gw) as client:
            for _ in range(20):
                client.get("/api/v1/credentials/x", headers=auth(amr.api_key))
            assert len(writes) == 1
            first = api_keys.list_keys(gw, amr.id)[0]["last_used_at"]
            clock.advance(59)
            for _ in range(5):
                client.get("/api/v1/credentials/x", headers=auth(amr.api_key))
            assert len(writes) == 1
            clock.advance(1)
            client.get("/api/v1/credentials/x", headers=auth(amr.api_key))
            assert len(writes) == 2
    finally:
        event.remove(gw.engine, "before_cursor_execute", count)
    later = api_keys.list_keys(gw, amr.id)[0]["last_used_at"]
    assert first is not None
    assert later is not None
    assert later > first


def test_a_malformed_or_unknown_key_says_what_was_expected(gw: Gateway) -> None:
    with client_for(gw) as client:
        for header, expected in [
            ({}, "expected an 'Authorization: Bearer <API key>' header"),
            (auth("sk_live_123"), "expected an API key of the form ek_<id>_<secret>"),
            (auth(UNUSED), "unknown or revoked API key"),
        ]:
            answer = client.get("/api/v1/credentials/x", headers=header)
            assert answer.status_code == 401
            assert answer.json()["detail"]["message_en"] == expected
            assert "身份验证失败" in answer.json()["detail"]["message"]
