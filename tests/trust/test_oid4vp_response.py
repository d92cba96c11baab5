"""The shape of an OpenID4VP answer (§8.1 vp_token): what is accepted, and that any input
either yields one presentation or raises our own error."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trust.oid4vp import (
    MAX_VP_TOKEN,
    Oid4vpError,
    RequestObject,
    ResponseRefused,
    presentation_from_vp_token,
    read_request,
    unverified_kb_nonce,
)

NOW = 1_790_000_000


@pytest.mark.parametrize(
    "raw",
    [json.dumps({"credential": ["a.b.c~"]}), json.dumps({"credential": "a.b.c~"})],
    ids=["an-array-of-one", "one-string"],
)
def test_the_one_presentation_is_taken(raw: str) -> None:
    assert presentation_from_vp_token(raw) == "a.b.c~"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "x" * (MAX_VP_TOKEN + 1),
        "[]",
        json.dumps({"credential": []}),
        json.dumps({"credential": ["a", "b"]}),
        json.dumps({"credential": [""]}),
        json.dumps({"credential": ["a"], "other": ["b"]}),
        json.dumps({"x": ["a"]}),
    ],
    ids=["empty", "too-long", "array", "none", "two", "blank", "extra-query", "foreign-query"],
)
def test_anything_else_is_refused(raw: str) -> None:
    with pytest.raises(ResponseRefused):
        presentation_from_vp_token(raw)


@given(st.text(max_size=300))
def test_any_text_yields_a_presentation_or_our_error(raw: str) -> None:
    with contextlib.suppress(ResponseRefused):
        assert isinstance(presentation_from_vp_token(raw), str)


@given(st.text(max_size=300))
def test_the_unverified_nonce_never_raises(raw: str) -> None:
    nonce = unverified_kb_nonce(raw)
    assert nonce is None or 0 < len(nonce) <= 256


def _signed_claims(**over: Any) -> dict[str, Any]:
    claims = RequestObject(
        client_id="openid_federation:https://hz.example.cn/verifiers/vf-1",
        response_uri="https://hz.example.cn/oid4vp/responses/pr-1",
        nonce="n" * 32,
        state="s" * 32,
        vct="https://hz.example.cn/vct/resident-eid",
        claims=("name", "sex"),
        purpose="旅馆住宿登记",
        iat=NOW,
        exp=NOW + 300,
    ).claims_set()
    claims.update(over)
    return claims


def test_a_request_object_reads_back_as_made() -> None:
    asked = read_request(_signed_claims(), now=NOW)
    assert asked.claims == ("name", "sex")
    assert asked.nonce == "n" * 32
    assert asked.purpose == "旅馆住宿登记"


@pytest.mark.parametrize(
    "over",
    [
        {"response_mode": "fragment"},
        {"exp": NOW - 61},
        {"iat": NOW + 61},
        {"dcql_query": {"credentials": []}},
        {"dcql_query": {"credentials": [{"id": "credential", "format": "mso_mdoc"}]}},
        {"nonce": ""},
        {"purpose": "x" * 201},
    ],
    ids=["not-direct-post", "expired", "from-the-future", "no-query", "mdoc", "no-nonce",
         "purpose-too-long"],
)  # fmt: skip
def test_a_request_we_do_not_answer_is_refused(over: dict[str, Any]) -> None:
    with pytest.raises(Oid4vpError):
        read_request(_signed_claims(**over), now=NOW)
