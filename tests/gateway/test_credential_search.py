"""``GET /api/v1/credentials`` and :func:`gateway.credential_query.search` (issue 12: "neither the
API nor the CLI can list or search credentials"): scoped to the calling agency, every filter,
keyset pages that neither repeat nor lose a row while credentials are issued between pages,
and house 4xx answers for a bad cursor, limit, date or filter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from stdnum.cn import uscc

from gateway import issuance
from gateway import status as status_service
from gateway.agencies import new_api_key
from gateway.clock import iso, start_of_day
from gateway.core import Gateway
from gateway.credential_query import CredentialQuery, encode_cursor, search
from tests.conftest import START, Agency, FakeClock, make_agency
from tests.gateway.helpers import auth, client_for
from tests.issuers.samples import SAMPLE_SUBJECTS, USCC_HANGZHOU

LICENCE = SAMPLE_SUBJECTS["business-licence"]
PERMIT = SAMPLE_SUBJECTS["food-business-permit"]
DAY = 86_400


def company(n: int, *, name: str = "杭州测试") -> dict[str, Any]:
    """A business licence subject of its own (name and USCC) for each ``n``."""
    first17 = f"9133010{n:010d}"
    return {
        **LICENCE,
        "name": f"{name}{n:04d}有限公司",
        "uscc": first17 + uscc.calc_check_digit(first17),
    }


def issue_licences(gw: Gateway, agency: Agency, numbers: range, **kw: Any) -> list[str]:
    requests = [issuance.IssueRequest("business-licence", company(n, **kw)) for n in numbers]
    written, _ = issuance.issue_many(gw, agency_id=agency.id, requests=requests)
    return [row["id"] for row in written]


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


@pytest.fixture
def suzhou(gw: Gateway) -> Agency:
    """A second agency issuing the same type: it must never see the first one's credentials."""
    first17 = "11320500MB0000001"
    return make_agency(
        gw, name="苏州市市场监督管理局", uscc=first17 + uscc.calc_check_digit(first17),
        types=["business-licence"],
    )  # fmt: skip


def listed(client: TestClient, agency: Agency, **params: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/credentials", params=params, headers=auth(agency.api_key))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def ids(client: TestClient, agency: Agency, **params: Any) -> list[str]:
    return [c["id"] for c in listed(client, agency, limit=200, **params)["items"]]


def refused(client: TestClient, agency: Agency, **params: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/credentials", params=params, headers=auth(agency.api_key))
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail["message"]
    assert detail["message_en"]
    return detail["errors"][0]  # type: ignore[no-any-return]


def test_an_agency_lists_only_its_own_credentials(
    client: TestClient, gw: Gateway, amr: Agency, suzhou: Agency
) -> None:
    mine = issue_licences(gw, amr, range(3))
    theirs = issue_licences(gw, suzhou, range(3, 5), name="苏州测试")
    assert sorted(ids(client, amr)) == sorted(mine)
    assert sorted(ids(client, suzhou)) == sorted(theirs)
    # Searching for the other agency's holder, code or 证照标识 finds nothing either.
    code = company(0)["uscc"]
    assert ids(client, suzhou, q=code) == []
    page = listed(client, amr, q=code)["items"]
    assert [c["id"] for c in page] == [mine[0]]
    assert ids(client, suzhou, q=page[0]["identifier"]) == []
    assert ids(client, suzhou, q="杭州测试") == []
    # A cursor made from the other agency's rows still lists only the caller's.
    query = CredentialQuery()
    cursor = encode_cursor(2**62, "z" * 20, query)
    assert sorted(ids(client, suzhou, cursor=cursor)) == sorted(theirs)


def test_an_item_says_what_a_list_needs_and_no_more(
    client: TestClient, gw: Gateway, amr: Agency
) -> None:
    (cid,) = issue_licences(gw, amr, range(1))
    (item,) = listed(client, amr)["items"]
    assert item == {
        "id": cid,
        "identifier": item["identifier"],
        "type": "business-licence",
        "type_name": {"zh": "营业执照", "en": "Business licence"},
        "subject_name": company(0)["name"],
        "subject_code": company(0)["uscc"],
        "subject_code_type": "001",
        "status": "valid",
        "status_code": "01",
        "status_name": {"zh": "有效", "en": "valid"},
        "issued_at": iso(START),
        "valid_from": iso(START),
        "valid_until": None,
    }
    assert item["identifier"].startswith("1.2.156.3005.2.")


def test_pages_neither_repeat_nor_lose_a_row_while_credentials_are_issued(
    client: TestClient, gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    # 12 issued in one second (one batch: ties on issued_at, ordered by id), then 13 one by one.
    before = issue_licences(gw, amr, range(12))
    for n in range(12, 25):
        clock.advance(1)
        before += issue_licences(gw, amr, range(n, n + 1))
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    extra = 100
    newest = clock.now
    while True:
        params: dict[str, Any] = {"limit": 5} if cursor is None else {"limit": 5, "cursor": cursor}
        page = listed(client, amr, **params)
        seen += [c["id"] for c in page["items"]]
        pages += 1
        # Between pages: one issued in the very second the page ended on (a tie with the
        # cursor's position, broken by id), one a second after the newest.
        clock.now = int(datetime.fromisoformat(page["items"][-1]["issued_at"]).timestamp())
        issue_licences(gw, amr, range(extra, extra + 1))
        newest += 1
        clock.now = newest
        issue_licences(gw, amr, range(extra + 1, extra + 2))
        extra += 2
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 40
    assert len(seen) == len(set(seen)), "a row was listed twice"
    assert set(before) <= set(seen), "a row was lost"
    assert pages >= 5
    # The rows issued before paging came newest first.
    assert [i for i in seen if i in set(before)] == before[:11:-1] + sorted(before[:12])[::-1]


@pytest.mark.parametrize("limit", [1, 7, 200])
def test_limit_bounds_the_page(client: TestClient, gw: Gateway, amr: Agency, limit: int) -> None:
    issue_licences(gw, amr, range(8))
    page = listed(client, amr, limit=limit)
    assert len(page["items"]) == min(limit, 8)
    assert (page["next_cursor"] is None) == (limit >= 8)


def test_filters_by_type_status_and_subject(client: TestClient, gw: Gateway, amr: Agency) -> None:
    licences = issue_licences(gw, amr, range(4))
    other_name = issue_licences(gw, amr, range(4, 5), name="西湖龙井")
    permit, _ = issuance.issue(
        gw, agency_id=amr.id, request=issuance.IssueRequest("food-business-permit", PERMIT)
    )
    for cid, action, code in (
        (licences[0], "suspend", None),
        (licences[1], "revoke", None),
        (licences[2], "revoke", "07"),
    ):
        status_service.change(
            gw, credential_id=cid, action=action, reason="核查", actor="test", agency_id=amr.id,
            code=code,
        )  # fmt: skip
    everything = set(licences + other_name + [permit.id])
    assert set(ids(client, amr)) == everything
    assert ids(client, amr, type="food-business-permit") == [permit.id]
    assert set(ids(client, amr, type="business-licence")) == everything - {permit.id}
    assert set(ids(client, amr, status="valid")) == {licences[3], other_name[0], permit.id}
    assert set(ids(client, amr, status="01")) == {licences[3], other_name[0], permit.id}
    assert ids(client, amr, status="suspended") == [licences[0]]
    assert set(ids(client, amr, status="revoked")) == {licences[1], licences[2]}
    assert ids(client, amr, status="07") == [licences[2]]
    assert ids(client, amr, status="03") == [licences[1]]
    # q: any part of the name, the full code (any case), the 证照标识
    assert ids(client, amr, q="龙井") == other_name
    assert set(ids(client, amr, q="杭州测试")) == set(licences)
    assert ids(client, amr, q=company(3)["uscc"].lower()) == [licences[3]]
    assert ids(client, amr, q=PERMIT["uscc"]) == [permit.id]
    assert ids(client, amr, q=permit.identifier) == [permit.id]
    assert ids(client, amr, q="100%") == []  # LIKE's wildcards are literal
    assert ids(client, amr, q="_") == []
    # filters combine
    assert ids(client, amr, type="business-licence", status="valid", q="杭州") == [licences[3]]


def test_filters_by_issue_and_validity_dates(
    client: TestClient, gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    clock.now = start_of_day(date(2026, 3, 1)) + 10 * 3600
    march = issue_licences(gw, amr, range(2))
    clock.now = start_of_day(date(2026, 5, 20)) + 10 * 3600
    may = issue_licences(gw, amr, range(2, 3))
    ends_2027 = issuance.issue(
        gw, agency_id=amr.id,
        request=issuance.IssueRequest("business-licence", company(3), valid_until="2027-06-30"),
    )[0].id  # fmt: skip
    starts_later = issuance.issue(
        gw, agency_id=amr.id,
        request=issuance.IssueRequest("business-licence", company(4), valid_from="2026-08-01"),
    )[0].id  # fmt: skip
    permit = issuance.issue(
        gw, agency_id=amr.id, request=issuance.IssueRequest("food-business-permit", PERMIT)
    )[0].id  # printed 有效期至 2029-05-31
    issued_may = {*may, ends_2027, starts_later, permit}
    assert set(ids(client, amr, issued_to="2026-03-01")) == set(march)
    assert set(ids(client, amr, issued_from="2026-03-02")) == issued_may
    assert set(ids(client, amr, issued_from="2026-05-20", issued_to="2026-05-20")) == issued_may
    assert ids(client, amr, issued_from="2026-05-21") == []
    assert set(ids(client, amr, issued_to="2026-05-20T09:59:59+08:00")) == set(march)
    # valid_on: the window covers that day (长期 never ends; a later start is not valid yet)
    assert starts_later not in ids(client, amr, valid_on="2026-07-31")
    assert starts_later in ids(client, amr, valid_on="2026-08-01")
    later = set(ids(client, amr, valid_on="2028-01-01"))
    assert later == {*march, *may, starts_later, permit}
    assert set(ids(client, amr, valid_on="2029-06-01")) == {*march, *may, starts_later}
    assert ids(client, amr, valid_on="2026-02-28") == []
    # expires: valid_until within the days (长期 never)
    assert ids(client, amr, expires_to="2027-12-31") == [ends_2027]
    assert ids(client, amr, expires_from="2027-07-01") == [permit]
    assert ids(client, amr, expires_from="2029-05-31", expires_to="2029-05-31") == [permit]


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"cursor": "not-a-cursor"}, "cursor", "cursor"),
        ({"cursor": "W1sxXSwyXQ"}, "cursor", "cursor"),  # base64 JSON of the wrong shape
        ({"cursor": "x" * 201}, "query.cursor", "string_too_long"),
        ({"limit": 0}, "query.limit", "greater_than_equal"),
        ({"limit": 201}, "query.limit", "less_than_equal"),
        ({"limit": "many"}, "query.limit", "int_parsing"),
        ({"issued_from": "2026-02-30"}, "issued_from", "date"),
        ({"issued_to": "yesterday"}, "issued_to", "date"),
        ({"valid_on": "0001-01-01"}, "valid_on", "range"),
        ({"expires_from": "9999-12-31"}, "expires_from", "range"),
        ({"issued_from": "2026-05-02", "issued_to": "2026-05-01"}, "issued_to", "range"),
        ({"expires_from": "2030-01-02", "expires_to": "2030-01-01"}, "expires_to", "range"),
        ({"type": "no-such-type"}, "type", "unknown_type"),
        ({"status": "gone"}, "query.status", "string_pattern_mismatch"),
        ({"q": "   "}, "q", "text"),
        ({"q": "a\x00b"}, "q", "text"),
        ({"q": "名" * 101}, "q", "text"),
    ],
)
def test_bad_parameters_are_house_field_errors(
    client: TestClient, gw: Gateway, amr: Agency, params: dict[str, Any], field: str, code: str
) -> None:
    issue_licences(gw, amr, range(1))
    error = refused(client, amr, **params)
    assert (error["field"], error["code"]) == (field, code), error
    assert "expected" in error["message_en"] or "should" in error["message_en"].lower()


def test_a_cursor_of_another_query_is_refused(client: TestClient, gw: Gateway, amr: Agency) -> None:
    issue_licences(gw, amr, range(3))
    cursor = listed(client, amr, limit=1, type="business-licence")["next_cursor"]
    assert cursor is not None
    error = refused(client, amr, limit=1, cursor=cursor)
    assert (error["field"], error["code"]) == ("cursor", "cursor_query")
    assert "保持相同的筛选条件" in error["message"]
    assert listed(client, amr, limit=1, type="business-licence", cursor=cursor)["items"]


def test_listing_needs_the_read_scope(client: TestClient, gw: Gateway, amr: Agency) -> None:
    with gw.transaction() as session:
        status_only = new_api_key(session, agency_id=amr.id, scopes=["status"], now=gw.clock())
    answer = client.get("/api/v1/credentials", headers=auth(status_only))
    assert answer.status_code == 403
    assert answer.json()["detail"]["message"].startswith("无权执行此操作")
    assert client.get("/api/v1/credentials").status_code == 401


def test_search_raises_field_errors_for_the_console(gw: Gateway, amr: Agency) -> None:
    from trust.errors import FieldError

    with pytest.raises(FieldError) as bad_limit:
        search(gw, agency_id=amr.id, query=CredentialQuery(), limit=0)
    assert bad_limit.value.errors[0]["field"] == "limit"
    with pytest.raises(FieldError) as bad_cursor:
        search(gw, agency_id=amr.id, query=CredentialQuery(), cursor="%%%")
    assert bad_cursor.value.errors[0]["field"] == "cursor"
    empty = search(gw, agency_id=amr.id, query=CredentialQuery(q=USCC_HANGZHOU))
    assert (empty.items, empty.next_cursor) == ([], None)
