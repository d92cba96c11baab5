"""The shape of an OpenID4VP answer (§8.1 vp_token): what is accepted, and that any input
either yields one presentation or raises our own error."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trust.oid4vp import (
    MAX_VP_TOKEN,
    ResponseRefused,
    presentation_from_vp_token,
    unverified_kb_nonce,
)


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
