"""Public documents over HTTP: CORS, Cache-Control from their own ttl/exp, gzip, ETag/304
and 406 (gateway.public_docs), on every public path of a city and its region's anchor."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from stdnum.cn import uscc

from gateway import agencies, issuance, public_docs, trustsync
from gateway.core import Gateway
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.helpers import fill_status_list
from tests.issuers.samples import SAMPLE_SUBJECTS

YRD, HZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101"
REFRESH = 120  # next_update of the trust list, seconds after it is compiled
STATUS_LIST = "application/statuslist+jwt"
ENTITY_STATEMENT = "application/entity-statement+jwt"
JSON = "application/json"


@dataclass
class Docs:
    fed: Federation
    hz: Gateway
    agency: str
    list_id: int

    def client(self, origin: str) -> TestClient:
        return self.fed.client(origin)


@contextmanager
def docs_of(tmp_path: Path, clock: FakeClock, **hz_settings: Any) -> Iterator[Docs]:
    """A region's anchor and one city (``hz_settings``: its settings) with a licence issued
    and a trust list compiled."""
    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        hz = fed.city(
            HZ, anchor=YRD, code="330100", name="杭州市", types=["business-licence"], **hz_settings
        )
        first17 = "11330100MB1958123"
        agency, _ = agencies.add_agency(
            hz, name="杭州市市场监督管理局", uscc=_uscc(first17), types=["business-licence"],
            actor="t",
        )  # fmt: skip
        row, _ = issuance.issue(
            hz,
            agency_id=agency.id,
            request=issuance.IssueRequest("business-licence", SAMPLE_SUBJECTS["business-licence"]),
        )
        assert row.status_list_id is not None
        trustsync.sync_once(hz, fed.fetcher(), lifetime=3600, refresh=REFRESH)
        yield Docs(fed=fed, hz=hz, agency=agency.id, list_id=row.status_list_id)


@pytest.fixture
def docs(tmp_path: Path, clock: FakeClock) -> Iterator[Docs]:
    with docs_of(tmp_path, clock) as made:
        yield made


def _documents(d: Docs) -> list[tuple[str, str, str]]:
    """Every public document: (origin, path, media type served)."""
    return [
        (HZ, "/.well-known/jwks.json", "application/jwk-set+json"),
        (HZ, "/statuslists", JSON),
        (HZ, f"/statuslists/{d.list_id}", STATUS_LIST),
        (HZ, "/trust/list", "application/trustlist+jwt"),
        (HZ, "/trust/root", JSON),
        (HZ, "/trust/root/history", JSON),
        (HZ, "/.well-known/openid-federation", ENTITY_STATEMENT),
        (HZ, f"/agencies/{d.agency}/.well-known/openid-federation", ENTITY_STATEMENT),
        (YRD, f"/federation/fetch?sub={HZ}", ENTITY_STATEMENT),
        (YRD, "/federation/list", JSON),
        (HZ, "/federation/historical_keys", "application/jwk-set+jwt"),
    ]


def _uscc(first17: str) -> str:
    return first17 + uscc.calc_check_digit(first17)


# --- CORS ---------------------------------------------------------------------------------------


def test_every_public_document_is_readable_from_any_origin_with_a_preflight(docs: Docs) -> None:
    for origin, path, media_type in _documents(docs):
        client = docs.client(origin)
        got = client.get(path, headers={"Origin": "https://wallet.example"})
        assert got.status_code == 200, (path, got.text)
        assert got.headers["content-type"] == media_type, path
        assert got.headers["access-control-allow-origin"] == "*", path

        asked = client.options(
            path.partition("?")[0],
            headers={
                "Origin": "https://wallet.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "if-none-match",
            },
        )
        assert asked.status_code == 204, (path, asked.status_code)
        assert asked.headers["access-control-allow-origin"] == "*"
        assert "GET" in asked.headers["access-control-allow-methods"]
        assert "if-none-match" in asked.headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize(
    ("path", "status"),
    [("/statuslists/999999", 404), ("/statuslists/not-a-number", 422)],
)
def test_a_public_documents_error_is_readable_from_any_origin(
    docs: Docs, path: str, status: int
) -> None:
    """A page in another origin must read why a status list is missing, not a network error."""
    got = docs.client(HZ).get(path, headers={"Origin": "https://wallet.example"})
    assert got.status_code == status, got.text
    assert got.headers["access-control-allow-origin"] == "*"
    assert got.json()["detail"]["message"]  # the Chinese message, readable cross-origin


def test_an_error_of_a_non_public_route_carries_no_cors(docs: Docs) -> None:
    got = docs.client(HZ).get("/api/v1/credentials/nope", headers={"Origin": "https://x.example"})
    assert got.status_code == 401
    assert "access-control-allow-origin" not in got.headers


# --- Cache-Control ------------------------------------------------------------------------------


def _max_age(response: httpx.Response) -> int:
    value = response.headers["cache-control"]
    assert value.startswith("public, max-age="), value
    return int(value.removeprefix("public, max-age="))


def test_cache_control_follows_each_documents_own_ttl_and_exp(docs: Docs, clock: FakeClock) -> None:
    clock.advance(30)
    expected = {
        f"/statuslists/{docs.list_id}": 300,  # its ttl
        "/trust/list": REFRESH - 30,  # until its next_update
        "/.well-known/openid-federation": public_docs.UNDATED_MAX_AGE,  # exp a day away
    }
    for origin, path, _ in _documents(docs):
        got = docs.client(origin).get(path)
        want = expected.get(path, public_docs.UNDATED_MAX_AGE)
        assert _max_age(got) == want, path


def test_a_status_list_is_not_cached_past_its_exp_even_within_its_ttl(
    tmp_path: Path, clock: FakeClock
) -> None:
    with docs_of(tmp_path, clock, status_ttl=3600, status_list_validity=600) as docs:
        path = f"/statuslists/{docs.list_id}"
        assert _max_age(docs.client(HZ).get(path)) == 600  # exp - now, not the ttl of 3600


def test_a_trust_list_past_its_next_update_is_revalidated(docs: Docs, clock: FakeClock) -> None:
    clock.advance(REFRESH + 5)  # still valid (exp an hour away), but a newer one is due
    got = docs.client(HZ).get("/trust/list")
    assert got.status_code == 200
    assert _max_age(got) == 0


# --- gzip ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "zipped"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("*", True),
        ("x-gzip", True),
        ("GZIP;q=0.5", True),
        ("identity", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),
        ("gzip;q=0.5, identity", False),
        ("br", False),
        ("", False),
        (", ".join(["gzip", *(f"x-{i}" for i in range(public_docs.MAX_MEDIA_RANGES))]), False),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, str) else str(v),
)
def test_a_status_list_is_gzipped_as_accept_encoding_asks(
    docs: Docs, accept_encoding: str, zipped: bool
) -> None:
    fill_status_list(docs.hz, docs.list_id)
    path = f"/statuslists/{docs.list_id}"
    client = docs.client(HZ)
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    with client.stream("GET", path, headers={"Accept-Encoding": accept_encoding}) as got:
        wire = b"".join(got.iter_raw())
    assert got.status_code == 200
    assert got.headers["content-type"] == STATUS_LIST
    assert "accept-encoding" in got.headers["vary"].lower()
    assert got.headers.get("content-encoding") == ("gzip" if zipped else None)
    assert (gzip.decompress(wire) if zipped else wire) == plain.content
    if zipped:
        assert len(wire) < len(plain.content)


def test_a_tiny_document_is_sent_as_is(docs: Docs) -> None:
    with docs.client(YRD).stream(
        "GET", "/federation/list", headers={"Accept-Encoding": "gzip"}
    ) as got:
        wire = b"".join(got.iter_raw())
    assert len(wire) < public_docs.MIN_GZIP_SIZE
    assert "content-encoding" not in got.headers
    assert got.headers["vary"] == "Accept-Encoding"


def test_trust_list_etag_is_weak_on_the_gzip_form_and_both_forms_revalidate(docs: Docs) -> None:
    client = docs.client(HZ)
    plain = client.get("/trust/list", headers={"Accept-Encoding": "identity"})
    packed = client.get("/trust/list", headers={"Accept-Encoding": "gzip"})
    strong = plain.headers["etag"]
    assert strong.startswith('"sha256-')
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["etag"] == f"W/{strong}"  # RFC 9110 §8.8.3: another byte sequence
    assert packed.content == plain.content
    for sent, encoding in [(strong, "gzip"), (f"W/{strong}", "identity"), ('"x", *', "gzip")]:
        again = client.get(
            "/trust/list", headers={"If-None-Match": sent, "Accept-Encoding": encoding}
        )
        assert again.status_code == 304, (sent, encoding)
        assert again.headers["etag"] == (strong if encoding == "identity" else f"W/{strong}")
        assert again.headers["vary"] == "Accept-Encoding"
        assert again.headers["access-control-allow-origin"] == "*"
        assert _max_age(again) == _max_age(plain)
    other = client.get("/trust/list", headers={"If-None-Match": '"sha256-other-v1"'})
    assert other.status_code == 200


def test_a_trust_list_delta_is_served_and_revalidated_like_the_list(
    docs: Docs, clock: FakeClock
) -> None:
    clock.advance(10)
    agencies.add_agency(
        docs.hz, name="杭州市卫生健康委员会", uscc=_uscc("11330100MB1958140"),
        types=["business-licence"], actor="t",
    )  # fmt: skip
    assert trustsync.sync_once(docs.hz, docs.fed.fetcher(), lifetime=3600, refresh=REFRESH).changed
    client = docs.client(HZ)
    full = client.get("/trust/list")
    got = client.get("/trust/list?since=1")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/trustlist-delta+jwt"
    assert got.headers["access-control-allow-origin"] == "*"
    assert got.headers["etag"] == full.headers["etag"]
    assert _max_age(got) == REFRESH
    again = client.get("/trust/list?since=1", headers={"If-None-Match": got.headers["etag"]})
    assert again.status_code == 304
    refused = client.get("/trust/list?since=1", headers={"Accept": "application/trustlist+jwt"})
    assert refused.status_code == 406
    assert refused.json()["error"] == "invalid_request"  # a federation endpoint: §8.9 form
    assert "served only as application/trustlist-delta+jwt" in _described(refused)


# --- 406 Not Acceptable -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        (None, 200),
        ("", 200),
        ("*/*", 200),
        ("application/*", 200),
        ("application/statuslist+jwt", 200),
        ("Application/StatusList+JWT", 200),
        ("application/statuslist+cwt, application/statuslist+jwt;q=0.1", 200),
        ("application/statuslist+jwt;q=0.5, */*;q=0", 200),  # the most specific range decides
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200),  # a browser
        ("application/statuslist+cwt", 406),
        ("application/json", 406),
        ("text/*", 406),
        ("*/*;q=0", 406),
        ("application/*;q=0", 406),
        ("application/statuslist+jwt;q=0, */*", 406),
        ("application/statuslist+jwt;q=0.0", 406),
        ("application/statuslist+jwt;q=2", 406),  # not a weight: the range is left out
        ("nonsense", 406),
    ],
    ids=lambda v: repr(v),
)
def test_a_status_list_answers_406_for_an_accept_that_excludes_it(
    docs: Docs, accept: str | None, status: int
) -> None:
    headers = {} if accept is None else {"Accept": accept}
    client = docs.client(HZ)
    if accept is None:
        client.headers.pop("Accept", None)
    got = client.get(f"/statuslists/{docs.list_id}", headers=headers)
    assert got.status_code == status, got.text
    if status == 200:
        assert got.headers["content-type"] == STATUS_LIST


def test_the_406_says_in_both_languages_what_is_served_and_what_was_asked(docs: Docs) -> None:
    got = docs.client(HZ).get(
        f"/statuslists/{docs.list_id}", headers={"Accept": "application/statuslist+cwt"}
    )
    assert got.status_code == 406
    assert got.headers["content-type"] == "application/json"
    assert got.headers["access-control-allow-origin"] == "*"
    detail = got.json()["detail"]
    assert detail["code"] == "not_acceptable"
    assert detail["served"] == [STATUS_LIST]
    assert detail["accept"] == "application/statuslist+cwt"
    for message in (detail["message"], detail["message_en"]):
        assert STATUS_LIST in message
        assert "application/statuslist+cwt" in message
    assert "仅以" in detail["message"]
    assert "served only as" in detail["message_en"]


def test_every_public_document_answers_406_for_a_media_type_it_is_not(docs: Docs) -> None:
    for origin, path, media_type in _documents(docs):
        got = docs.client(origin).get(path, headers={"Accept": "text/html"})
        assert got.status_code == 406, (path, got.status_code)
        assert got.headers["access-control-allow-origin"] == "*", path
        assert f"served only as {media_type}" in _described(got), path


def _described(refusal: httpx.Response) -> str:
    """What a refusal says in English: the gateway's error shape, or the OpenID Federation
    §8.9 form the federation endpoints answer in."""
    body = refusal.json()
    return str(body["detail"]["message_en"] if "detail" in body else body["error_description"])


@pytest.mark.parametrize(
    ("accept", "served"),
    [
        (None, "application/jwk-set+json"),
        ("application/jwk-set+json", "application/jwk-set+json"),
        ("application/json", "application/json"),
        ("application/json;q=0.5, application/jwk-set+json", "application/jwk-set+json"),
    ],
)
def test_the_jwks_is_a_jwk_set_and_plain_json_to_whoever_asks_for_that(
    docs: Docs, accept: str | None, served: str
) -> None:
    got = docs.client(HZ).get(
        "/.well-known/jwks.json", headers={} if accept is None else {"Accept": accept}
    )
    assert got.status_code == 200
    assert got.headers["content-type"] == served
    assert got.json()["keys"]


def test_an_accept_of_too_many_ranges_is_refused_clearly(docs: Docs) -> None:
    many = ", ".join(f"application/x-{i}" for i in range(public_docs.MAX_MEDIA_RANGES + 1))
    got = docs.client(HZ).get("/trust/root", headers={"Accept": many})
    assert got.status_code == 406
    assert f"at most {public_docs.MAX_MEDIA_RANGES}" in _described(got)


# --- pure helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"now": 100, "ttl": 300, "exp": 10_000}, 300),
        ({"now": 100, "ttl": 300, "exp": 250}, 150),
        ({"now": 100, "exp": 10_000}, public_docs.UNDATED_MAX_AGE),
        ({"now": 100, "exp": 130}, 30),
        ({"now": 100, "next_update": 160, "exp": 10_000}, 60),
        ({"now": 100, "next_update": 90, "exp": 10_000}, 0),
        ({"now": 100, "exp": 50}, 0),
        ({"now": 100}, public_docs.UNDATED_MAX_AGE),
    ],
    ids=[
        "ttl",
        "exp-before-ttl",
        "far-exp",
        "near-exp",
        "next-update",
        "past-next-update",
        "expired",
        "undated",
    ],
)
def test_max_age(kwargs: dict[str, int], expected: int) -> None:
    assert public_docs.max_age(**kwargs) == expected


@pytest.mark.parametrize(
    ("if_none_match", "matches"),
    [
        (None, False),
        ('"a"', True),
        ('W/"a"', True),
        ('"b", W/"a"', True),
        ("*", True),
        ('"b"', False),
        ('"A"', False),
    ],
)
def test_if_none_match_uses_weak_comparison(if_none_match: str | None, matches: bool) -> None:
    assert public_docs.etag_matches(if_none_match, '"a"') is matches
