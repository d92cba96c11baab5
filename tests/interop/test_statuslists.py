"""Our Token Status Lists as two status-list libraries nobody here wrote read them: npm
``@sd-jwt/jwt-status-list`` and PyPI ``token-status-list``, after a revoke and a suspend; and
their signatures as node ``jose`` verifies them with nothing but the keys the gateway publishes
at ``/.well-known/jwks.json`` for the issuing agency."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import token_status_list
from fastapi.testclient import TestClient
from stdnum.cn import uscc

from gateway import agencies
from gateway.core import Gateway
from tests.conftest import Agency, FakeClock
from tests.gateway.helpers import auth, client_for, licence_body
from tests.gateway.holders import fresh_uscc
from tests.interop.conftest import NodeRunner
from trust import statuslist
from trust.encoding import b64url_decode
from trust.jws import KeyIndex
from trust.keys import PublicKey

HOST = "https://ecert.hangzhou.gov.cn"  # the gw fixture's public URL
SPREAD = (0, 1, 2, 3, 5, 1000, 2047, 2048, 4094, 4095)  # entries at the edges of bytes and list


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


def _claims(token: str) -> dict[str, Any]:
    """A compact JWS's payload, unverified (each test verifies it by other means)."""
    payload: dict[str, Any] = orjson.loads(b64url_decode(token.split(".")[1]))
    return payload


def _issue(client: TestClient, agency: Agency) -> dict[str, Any]:
    body = licence_body(uscc=fresh_uscc())  # a holder each: one live licence per holder
    answer = client.post("/api/v1/credentials", json=body, headers=auth(agency.api_key))
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _reference(credential: dict[str, Any]) -> statuslist.StatusReference:
    reference = statuslist.StatusReference.from_claims(_claims(credential["token"]))
    assert reference is not None
    return reference


def _status_list(client: TestClient, uri: str) -> str:
    answer = client.get(uri.removeprefix(HOST), headers={"Accept": "application/statuslist+jwt"})
    assert answer.status_code == 200, answer.text
    return answer.text


def _published(client: TestClient, agency_id: str) -> dict[str, Any]:
    """The agency's keys as /.well-known/jwks.json lists them (``iss`` names the agency)."""
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    return {"keys": [k for k in keys if k.get("iss") == agency_id]}


@dataclass(frozen=True)
class Revoked:
    """Six licences of one agency, the first revoked and the second suspended, and the status
    list that says so, as our own verifier reads it."""

    tokens: list[str]
    references: list[statuslist.StatusReference]
    token: str
    ours: statuslist.StatusListSnapshot

    def expected(self) -> dict[int, int]:
        """Our statuses at the six entries used and at :data:`SPREAD`."""
        return {
            idx: self.ours.status(idx) for idx in {r.idx for r in self.references} | set(SPREAD)
        }


@pytest.fixture
def revoked(client: TestClient, amr: Agency, clock: FakeClock) -> Revoked:
    issued = [_issue(client, amr) for _ in range(6)]
    for credential, action in ((issued[0], "revoke"), (issued[1], "suspend")):
        answer = client.post(
            f"/api/v1/credentials/{credential['id']}/{action}",
            json={"reason": "核查"},
            headers=auth(amr.api_key),
        )
        assert answer.status_code == 200, answer.text
    references = [_reference(c) for c in issued]
    uri = references[0].uri
    token = _status_list(client, uri)
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    ours = statuslist.verify_status_list_token(
        token, KeyIndex(PublicKey.from_jwk(k) for k in keys), expected_uri=uri, now=clock.now
    )
    used = [ours.status(ref.idx) for ref in references]
    assert used == [statuslist.INVALID, statuslist.SUSPENDED, 0, 0, 0, 0]
    return Revoked([c["token"] for c in issued], references, token, ours)


def test_sd_jwt_jwt_status_list_reads_our_list_as_we_do(
    gw: Gateway, revoked: Revoked, node: NodeRunner
) -> None:
    expected = revoked.expected()
    # getStatusListFromJWT on each credential, getListFromStatusListJWT(...).getStatus(idx)
    theirs = node(
        "statuslist_decode",
        {"token": revoked.token, "referenced": revoked.tokens, "indexes": sorted(expected)},
    )
    assert "error" not in theirs, theirs
    assert theirs["references"] == [{"idx": r.idx, "uri": r.uri} for r in revoked.references]
    assert theirs["bits"] == 2
    assert theirs["size"] == gw.settings.status_list_size == 4096
    assert {int(idx): status for idx, status in theirs["statuses"].items()} == expected


def test_token_status_list_reads_our_list_as_we_do_and_re_encodes_it_byte_for_byte(
    revoked: Revoked,
) -> None:
    claim = _claims(revoked.token)["status_list"]
    array = token_status_list.BitArray.load(claim)
    assert len(array) == 4096
    assert {idx: array.get(idx) for idx in revoked.expected()} == revoked.expected()
    assert [array.get(i) for i in range(4096)] == [revoked.ours.status(i) for i in range(4096)]
    assert array.dump() == claim


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_a_status_list_verifies_in_jose_with_the_agencys_published_keys_only(
    gw: Gateway, client: TestClient, amr: Agency, node: NodeRunner, alg: str
) -> None:
    first17 = "11330100MB1958158"
    row, key = agencies.add_agency(
        gw,
        name="杭州市交通运输局",
        uscc=first17 + uscc.calc_check_digit(first17),
        types=["business-licence"],
        alg=alg,
        actor="test",
    )
    mine = Agency(id=row.id, api_key=key, uscc=row.uscc)
    _issue(client, amr)  # another agency's list and key, published beside ours
    reference = _reference(_issue(client, mine))
    token = _status_list(client, reference.uri)

    published = _published(client, mine.id)
    assert len({k["x"] for k in published["keys"]}) == 1  # one key, under its full and short kid
    others = _published(client, amr.id)
    verdicts = node("jose_verify", {"tokens": [token], "jwks": published})
    refused = node("jose_verify", {"tokens": [token], "jwks": others})

    assert verdicts[0]["ok"], verdicts
    assert verdicts[0]["header"]["typ"] == "statuslist+jwt"
    assert verdicts[0]["header"]["alg"] == alg
    assert verdicts[0]["payload"] == _claims(token)
    assert verdicts[0]["payload"]["sub"] == reference.uri
    assert not refused[0]["ok"]
    assert refused[0]["code"] == "ERR_JWKS_NO_MATCHING_KEY"
