"""The wallet's own refusals before it presents (no sockets): a link that is not an
``openid4vp://`` request with a federation client id, fields beyond what the counter's role may
request, an answer address outside the counter's city."""

from __future__ import annotations

from typing import Any

import pytest

from trust.errors import DataError
from trust.oid4vp import RequestObject, request_link
from trust.oid4vp_wallet import check_against_role, parse_link

CITY = "https://hz.example.cn"
ENTITY = f"{CITY}/verifiers/vf-desk"
CLIENT = f"openid_federation:{ENTITY}"
META: dict[str, Any] = {
    "city_entity_id": CITY,
    "may_request": {"resident-eid": ["id_number_masked", "name", "sex"]},  # a hotel desk
}


def _asked(claims: tuple[str, ...] = ("name", "sex"), response_uri: str = "") -> RequestObject:
    return RequestObject(
        client_id=CLIENT,
        response_uri=response_uri or f"{CITY}/oid4vp/responses/pr-1",
        nonce="n" * 32,
        state="s" * 32,
        vct=f"{CITY}/vct/resident-eid",
        claims=claims,
        purpose="旅馆住宿登记",
        iat=1,
        exp=2,
    )


def test_a_request_within_the_role_to_its_own_city_is_taken() -> None:
    assert check_against_role(_asked(), META, ENTITY) == "resident-eid"
    assert check_against_role(_asked(("name", "id_number_masked")), META, ENTITY)


@pytest.mark.parametrize(
    ("asked", "meta", "found"),
    [
        (_asked(("name", "id_number")), META, "id_number"),
        (_asked(), {**META, "may_request": {"driving-licence": ["name"]}}, "may not ask"),
        (_asked(), {**META, "may_request": None}, "may not ask"),
        (_asked(response_uri="https://evil.example/collect"), META, "evil.example"),
        (_asked(response_uri=f"{CITY}.evil.example/x"), META, "evil.example"),
        (_asked(), {k: v for k, v in META.items() if k != "city_entity_id"}, "response_uri"),
    ],
    ids=[
        "the-full-id-number-at-a-hotel-desk",
        "a-type-the-role-may-not-ask",
        "no-role-data",
        "answer-sent-elsewhere",
        "a-look-alike-host",
        "no-city-named",
    ],
)
def test_the_wallet_refuses(asked: RequestObject, meta: dict[str, Any], found: str) -> None:
    with pytest.raises(DataError, match=found):
        check_against_role(asked, meta, ENTITY)


def test_a_link_yields_client_id_and_request_uri() -> None:
    uri = f"{CITY}/oid4vp/requests/pr-1"
    assert parse_link(request_link(CLIENT, uri)) == (CLIENT, uri)


@pytest.mark.parametrize(
    "link",
    [
        "https://hz.example.cn/x",
        "openid4vp://?client_id=x509_san_dns%3Ahz.example.cn&request_uri=https%3A%2F%2Fa%2Fb",
        "openid4vp://?request_uri=https%3A%2F%2Fa%2Fb",
        "openid4vp://?client_id=openid_federation%3Ahttps%3A%2F%2Fa&request_uri=file%3A%2F%2F%2Fx",
        "openid4vp://?" + "x" * 5000,
    ],
    ids=["not-openid4vp", "another-client-id-prefix", "no-client-id", "not-http", "too-long"],
)
def test_a_bad_link_is_refused(link: str) -> None:
    with pytest.raises(DataError):
        parse_link(link)
