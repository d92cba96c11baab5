"""The agency console's sign-in, sessions and CSRF guard (issue 12, part F): password and TOTP,
a code used once, sessions that end (idle, absolute, sign-out, disabled operator), CSRF token
and Origin checks on every call, lockout after repeated failures, and an operator who sees only
its own agency (another agency's credential is 404)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway import console_auth, issuance
from gateway.app import create_app
from gateway.console_batch import parse_register
from gateway.core import Gateway
from gateway.models import AuditRow, CredentialRow, OperatorRow
from tests.conftest import Agency, FakeClock
from tests.gateway.helpers import count_credentials
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.errors import FieldError

ORIGIN = "https://ecert.hangzhou.gov.cn"  # the test gateway's public URL
PASSWORD = "counter-password-1"
SAME = {"Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"}


@contextmanager
def console_client(gw: Gateway) -> Iterator[TestClient]:
    with TestClient(create_app(gw), base_url=ORIGIN) as client:
        yield client


def add_operator(gw: Gateway, agency: Agency, username: str = "wang.li") -> pyotp.TOTP:
    _shown, uri = console_auth.add_operator(
        gw, agency_id=agency.id, username=username, password=PASSWORD, actor="test"
    )
    totp = pyotp.parse_uri(uri)
    assert isinstance(totp, pyotp.TOTP)
    return totp


def sign_in(client: TestClient, code: str, *, username: str = "wang.li", password: str = PASSWORD,
            headers: dict[str, str] | None = None) -> Any:  # fmt: skip
    return client.post(
        "/console/api/sign-in",
        json={"username": username, "password": password, "code": code},
        headers=SAME if headers is None else headers,
    )


def signed_in(client: TestClient, totp: pyotp.TOTP, clock: FakeClock) -> dict[str, str]:
    """Sign in; the headers a console call then carries."""
    answer = sign_in(client, totp.at(clock.now))
    assert answer.status_code == 200, answer.text
    return {**SAME, "X-CSRF-Token": answer.json()["csrf_token"]}


def actions(gw: Gateway) -> list[str]:
    with gw.sessions() as session:
        return list(session.scalars(select(AuditRow.action).order_by(AuditRow.id)))


def problem(answer: Any) -> dict[str, Any]:
    detail: dict[str, Any] = answer.json()["detail"]
    assert set(detail) >= {"code", "message", "message_en"}, detail
    return detail


def test_an_operator_signs_in_with_password_and_totp_and_the_cookie_is_strict(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    totp = add_operator(gw, amr)
    with console_client(gw) as client:
        answer = sign_in(client, totp.at(clock.now))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["operator"]["agency_id"] == amr.id
        assert [t["code"] for t in body["types"]] == [
            "business-licence", "food-business-permit", "industrial-production-permit"
        ]  # fmt: skip
        assert len(body["csrf_token"]) == 64
        cookie = answer.headers["set-cookie"]
        for part in ("ecert_console=", "HttpOnly", "SameSite=strict", "Secure", "Path=/console"):
            assert part.lower() in cookie.lower(), cookie
        session = client.get("/console/api/session")
        assert session.status_code == 200
        assert session.json()["csrf_token"] == body["csrf_token"]
        assert session.headers["cache-control"] == "no-store"
        page = client.get("/console")
        assert page.status_code == 200
        assert "签发机构工作台" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
    assert actions(gw)[-1] == "console.sign_in"
    with gw.sessions() as session:
        stored = session.scalars(select(OperatorRow)).one()
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash


@pytest.mark.parametrize(
    ("case", "reason", "zh"),
    [
        pytest.param("password", "bad_password", "用户名或密码错误", id="wrong-password"),
        pytest.param("username", "bad_password", "用户名或密码错误", id="unknown-username"),
        pytest.param("totp", "bad_code", "动态验证码错误", id="wrong-totp"),
        pytest.param("old-totp", "bad_code", "动态验证码错误", id="totp-two-steps-old"),
    ],
)
def test_a_wrong_sign_in_is_refused_counted_and_audited(
    gw: Gateway, amr: Agency, clock: FakeClock, case: str, reason: str, zh: str
) -> None:
    totp = add_operator(gw, amr)
    code = totp.at(clock.now)
    args: dict[str, Any] = {}
    if case == "password":
        args["password"] = PASSWORD + "x"
    elif case == "username":
        args["username"] = "nobody"
    elif case == "totp":
        code = f"{(int(code) + 1) % 1_000_000:06d}"
    else:
        code = totp.at(clock.now - 2 * console_auth.STEP)
    with console_client(gw) as client:
        answer = sign_in(client, code, **args)
        assert answer.status_code == 401, answer.text
        detail = problem(answer)
        assert zh in detail["message"]
        assert "set-cookie" not in answer.headers
        assert client.get("/console/api/session").status_code == 401
    with gw.sessions() as session:
        failed = session.scalars(
            select(AuditRow).where(AuditRow.action == "console.sign_in_failed")
        )
        assert [row.detail["reason"] for row in failed] == [reason]
        row = session.scalars(select(OperatorRow)).one()
        assert row.failed_attempts == (0 if case == "username" else 1)


def test_a_totp_code_is_used_once_even_within_its_step(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    totp = add_operator(gw, amr)
    code = totp.at(clock.now)
    with console_client(gw) as client:
        assert sign_in(client, code).status_code == 200
        clock.advance(3)  # the same 30-second step
        replayed = sign_in(client, code)
        assert replayed.status_code == 401
        assert "已使用过" in problem(replayed)["message"]
        assert "used already" in problem(replayed)["message_en"]
        # nor is an earlier step's code accepted after a later one was used
        clock.advance(console_auth.STEP)
        assert sign_in(client, totp.at(clock.now)).status_code == 200
        assert sign_in(client, totp.at(clock.now - console_auth.STEP)).status_code == 401


@pytest.mark.parametrize("kind", ["idle", "absolute", "signed-out", "disabled"])
def test_a_session_ends(gw: Gateway, amr: Agency, clock: FakeClock, kind: str) -> None:
    totp = add_operator(gw, amr)
    idle, most = gw.settings.console_session_idle, gw.settings.console_session_max
    with console_client(gw) as client:
        headers = signed_in(client, totp, clock)
        assert client.get("/console/api/session").status_code == 200
        if kind == "idle":
            clock.advance(idle - 5)
            assert client.get("/console/api/session").status_code == 200  # slides the idle end
            clock.advance(idle - 5)
            assert client.get("/console/api/session").status_code == 200
            clock.advance(idle + 1)
        elif kind == "absolute":
            end = clock.now + most
            while clock.now + idle // 2 < end:  # active all along: never idle
                clock.advance(idle // 2)
                assert client.get("/console/api/session").status_code == 200
            clock.advance(idle // 2)
        elif kind == "signed-out":
            assert client.post("/console/api/sign-out", json={}, headers=headers).status_code == 200
        else:
            console_auth.set_disabled(gw, username="wang.li", disabled=True, actor="test")
        ended = client.get("/console/api/credentials/abc", headers=headers)
        assert ended.status_code == 401, ended.text
        assert "登录" in problem(ended)["message"]  # sign in (again)


ISSUE = {"type": "business-licence", "subject": SAMPLE_SUBJECTS["business-licence"]}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"X-CSRF-Token": None}, "forbidden", id="csrf-missing"),
        pytest.param({"X-CSRF-Token": "0" * 64}, "forbidden", id="csrf-wrong"),
        pytest.param({"Origin": "https://evil.example"}, "forbidden", id="other-origin"),
        pytest.param({"Origin": None, "Sec-Fetch-Site": None}, "forbidden", id="no-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, "forbidden", id="cross-site-fetch"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, "forbidden", id="same-site-fetch"),
    ],
)
def test_a_call_without_its_csrf_token_or_from_another_origin_is_refused_and_writes_nothing(
    gw: Gateway, amr: Agency, clock: FakeClock, change: dict[str, str | None], code: str
) -> None:
    totp = add_operator(gw, amr)
    with console_client(gw) as client:
        headers: dict[str, str | None] = {**signed_in(client, totp, clock), **change}
        sent = {k: v for k, v in headers.items() if v is not None}
        before = len(actions(gw))
        refused = client.post("/console/api/credentials", json=ISSUE, headers=sent)
        assert refused.status_code == 403, refused.text
        assert problem(refused)["code"] == code
        assert count_credentials(gw) == 0
        assert len(actions(gw)) == before
        good = signed_in_headers(client)
        assert client.post("/console/api/credentials", json=ISSUE, headers=good).status_code == 201


def signed_in_headers(client: TestClient) -> dict[str, str]:
    token = client.get("/console/api/session").json()["csrf_token"]
    return {**SAME, "X-CSRF-Token": token}


def test_a_sign_in_from_another_origin_is_refused(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    totp = add_operator(gw, amr)
    with console_client(gw) as client:
        refused = sign_in(client, totp.at(clock.now), headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403
        assert "set-cookie" not in refused.headers
        assert sign_in(client, totp.at(clock.now)).status_code == 200  # the code is still unused


def test_an_operator_sees_only_its_own_agency(
    gw: Gateway, amr: Agency, psb: Agency, clock: FakeClock
) -> None:
    theirs, _ = issuance.issue(
        gw, agency_id=psb.id,
        request=issuance.IssueRequest("resident-eid", SAMPLE_SUBJECTS["resident-eid"]),
    )  # fmt: skip
    totp = add_operator(gw, amr)
    with console_client(gw) as client:
        headers = signed_in(client, totp, clock)
        for method, path, body in (
            ("GET", f"/console/api/credentials/{theirs.id}", None),
            ("POST", f"/console/api/credentials/{theirs.id}/revoke", {"reason": "测试"}),
            ("POST", f"/console/api/credentials/{theirs.id}/suspend", {"reason": "测试"}),
        ):
            answer = client.request(method, path, json=body, headers=headers)
            assert answer.status_code == 404, (path, answer.text)
            assert problem(answer)["code"] == "not_found"
        refused = client.post(
            "/console/api/credentials",
            json={"type": "resident-eid", "subject": SAMPLE_SUBJECTS["resident-eid"]},
            headers=headers,
        )
        assert refused.status_code == 403
    with gw.sessions() as session:
        still = session.get(CredentialRow, theirs.id)
        assert still is not None
        assert still.status_code == "01"


def test_issue_read_and_revoke_through_the_services_with_field_errors(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    totp = add_operator(gw, amr)
    with console_client(gw) as client:
        headers = signed_in(client, totp, clock)
        bad = {
            **ISSUE,
            "subject": {**SAMPLE_SUBJECTS["business-licence"], "uscc": "91330106MA2B3C4D5X"},
        }
        refused = client.post("/console/api/credentials", json=bad, headers=headers)
        assert refused.status_code == 422
        assert [e["field"] for e in problem(refused)["errors"]] == ["uscc"]
        assert count_credentials(gw) == 0
        issued = client.post("/console/api/credentials", json=ISSUE, headers=headers)
        assert issued.status_code == 201, issued.text
        cid = issued.json()["id"]
        path = f"/console/api/credentials/{cid}"
        detail = client.get(path, headers=headers).json()
        assert detail["qr_svg_text"].startswith("<?xml") or "<svg" in detail["qr_svg_text"]
        assert detail["status_history"] == []
        no_reason = client.post(
            f"{path}/revoke", json={"reason": " ", "code": "07"}, headers=headers
        )
        assert no_reason.status_code == 422
        assert problem(no_reason)["errors"][0]["field"] == "reason"
        revoked = client.post(f"{path}/revoke", json={"reason": "吊销营业执照", "code": "07"},
                              headers=headers)  # fmt: skip
        assert revoked.status_code == 200, revoked.text
        history = revoked.json()["status_history"]
        assert len(history) == 1
        assert history[0]["reason"] == "吊销营业执照"
        assert revoked.json()["metadata"]["status"]["code"] == "07"
        again = client.post(f"{path}/reinstate", json={"reason": "恢复"}, headers=headers)
        assert again.status_code == 409
    with gw.sessions() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.subject == cid)).all()
        by_action = {row.action: row.actor for row in rows}
    operator = f"operator:{console_auth.list_operators(gw)[0]['id']}"
    assert by_action["console.issue"] == operator
    assert by_action["credential.revoke"] == operator


def test_repeated_failures_lock_the_operator_out(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    totp = add_operator(gw, amr)
    with console_client(gw) as client:
        for n in range(console_auth.MAX_FAILED):
            answer = sign_in(client, totp.at(clock.now), password="wrong-password-123")
            assert answer.status_code == 401, (n, answer.text)
        locked = sign_in(client, totp.at(clock.now))  # the right secret, still refused
        assert locked.status_code == 429
        assert locked.headers["retry-after"]
    with console_client(gw) as client:  # a new process: the limiter's lockout is its own
        clock.advance(console_auth.STEP)
        disabled = sign_in(client, totp.at(clock.now))
        assert disabled.status_code == 401
        assert "已停用" in problem(disabled)["message"]
        console_auth.set_disabled(gw, username="wang.li", disabled=False, actor="test")
        clock.advance(console_auth.STEP)
        assert sign_in(client, totp.at(clock.now)).status_code == 200
    assert "console.lockout" in actions(gw)
    assert "auth.failures" in actions(gw)  # the burst, as for API keys


def test_the_batch_register_is_parsed_by_the_server_with_bounds(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    totp = add_operator(gw, amr)
    subject = SAMPLE_SUBJECTS["business-licence"]
    header = ",".join(subject)
    line = ",".join(f'"{v}"' for v in subject.values())
    with console_client(gw) as client:
        headers = signed_in(client, totp, clock)
        parse = "/console/api/batch/parse"
        register = f"\ufeff{header}\n{line}\n\n{line}\n"
        good = client.post(parse, json={"type": "business-licence", "csv": register},
                           headers=headers)  # fmt: skip
        assert good.status_code == 200, good.text
        assert good.json()["rows"] == [subject, subject]
        for csv_text, code in (
            (f"{header},colour\n{line},red\n", "unknown_column"),
            ("", "empty"),
            (f"{header}\n", "no_rows"),
            (f"{header}\n{line},extra\n", "extra_cells"),
            ("name\n" + "a\n" * 1001, "too_many_rows"),
        ):
            refused = client.post(parse, json={"type": "business-licence", "csv": csv_text},
                                  headers=headers)  # fmt: skip
            assert refused.status_code in (413, 422), refused.text
            if refused.status_code == 422:
                assert problem(refused)["errors"][0]["code"] == code, refused.text
        other = client.post(parse, json={"type": "resident-eid", "csv": f"{header}\n{line}\n"},
                            headers=headers)  # fmt: skip
        assert other.status_code == 422
        assert problem(other)["errors"][0]["field"] == "type"
    with pytest.raises(FieldError) as too_large:  # 90,000 characters of 3 bytes each
        parse_register("name\n" + "名" * 90_000 + "\n", gw.types.get("business-licence"))
    assert too_large.value.errors[0]["code"] == "too_large"
