"""The public resolve endpoint answers only for members of the federation the gateway knows:
it never fetches a URL a stranger names (a service bound to loopback, an internal host), and it
never quotes what a host answered."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.gateway.test_federation_sync import YRD
from trust.federation.statements import unverified_payload
from trust.jws import MalformedToken

INTERNAL = "http://127.0.0.1:6000"  # e.g. an admin page bound to loopback


def test_resolve_does_not_fetch_what_a_stranger_names(tmp_path: Path, clock: FakeClock) -> None:
    internal = FastAPI()
    asked: list[str] = []

    @internal.get("/{path:path}")
    def anything(path: str) -> PlainTextResponse:
        asked.append(path)
        return PlainTextResponse("SECRET=db-password internal admin page")

    with federation_of(tmp_path, clock) as fed:
        fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
        client = fed.stack.enter_context(TestClient(internal, base_url=INTERNAL))
        fed.transport.apps[INTERNAL] = client
        answer = fed.client(YRD).get(
            "/federation/resolve", params={"sub": f"{INTERNAL}/admin", "trust_anchor": YRD}
        )
        assert answer.status_code == 404
        assert "not a member" in answer.text
        assert asked == []


def test_a_non_jws_answer_is_described_not_quoted() -> None:
    secret = "SECRET=db-password internal admin page"
    with pytest.raises(MalformedToken, match=f"found {len(secret)} characters") as caught:
        unverified_payload(secret)
    assert "SECRET" not in str(caught.value)
