"""Public documents over a real socket, as node's own ``fetch`` (undici) and ``jose``'s remote
key set see them: gzip decoded by a client we did not write, CORS, 406, and a status list
verified with the key set jose fetches from ``/.well-known/jwks.json`` itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.core import Gateway
from tests.conftest import Agency
from tests.gateway.helpers import auth, client_for, fill_status_list, licence_body
from tests.interop.conftest import NodeRunner
from tests.interop.serving import serve_app
from trust.encoding import b64url_decode

HOST = "https://ecert.hangzhou.gov.cn"  # the gw fixture's public URL


@pytest.fixture
def served(gw: Gateway) -> Iterator[str]:
    """The gateway on a free local port (uvicorn in a thread); yields its base URL."""
    with serve_app(create_app(gw)) as url:
        yield url


def _status_list_path(client: TestClient, agency: Agency) -> str:
    answer = client.post("/api/v1/credentials", json=licence_body(), headers=auth(agency.api_key))
    assert answer.status_code == 201, answer.text
    claims = orjson.loads(b64url_decode(answer.json()["token"].split(".")[1]))
    uri: str = claims["status"]["status_list"]["uri"]
    return uri.removeprefix(HOST)


def test_node_fetch_and_jose_read_our_public_documents_over_http(
    gw: Gateway, amr: Agency, psb: Agency, served: str, node: NodeRunner
) -> None:
    # psb: a second agency, so that jose picks amr's key out of a key set of two
    with client_for(gw) as client:
        path = _status_list_path(client, amr)
        fill_status_list(gw, int(path.rsplit("/", 1)[1]))
        token = client.get(path, headers={"Accept-Encoding": "identity"}).text
    url = served + path
    answers: list[dict[str, Any]] = node(
        "http_get",
        {
            "requests": [
                {"url": url, "headers": {"Origin": "https://wallet.example"}},
                {"url": url, "headers": {"Accept": "application/statuslist+cwt"}},
                {
                    "url": url,
                    "method": "OPTIONS",
                    "headers": {
                        "Origin": "https://wallet.example",
                        "Access-Control-Request-Method": "GET",
                        "Access-Control-Request-Headers": "if-none-match",
                    },
                },
            ]
        },
    )
    fetched, refused, preflight = answers
    assert "error" not in fetched, fetched
    assert fetched["status"] == 200
    assert fetched["headers"]["content-encoding"] == "gzip"  # undici asked for it, and decoded
    assert fetched["headers"]["content-type"] == "application/statuslist+jwt"
    assert fetched["headers"]["access-control-allow-origin"] == "*"
    signed_part = token.rsplit(".", 1)[0]  # each app signs its own copy (ECDSA is randomised)
    assert fetched["body"].rsplit(".", 1)[0] == signed_part
    assert refused["status"] == 406
    assert orjson.loads(refused["body"])["detail"]["served"] == ["application/statuslist+jwt"]
    assert preflight["status"] == 204
    assert preflight["headers"]["access-control-allow-origin"] == "*"

    # jose fetches the key set itself (createRemoteJWKSet: its own Accept, gzip, parsing)
    verdicts = node(
        "jose_verify", {"tokens": [token], "jwks_url": f"{served}/.well-known/jwks.json"}
    )
    assert verdicts[0]["ok"], verdicts
    assert verdicts[0]["header"]["typ"] == "statuslist+jwt"
