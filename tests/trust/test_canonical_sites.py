"""Every place that decodes base64url from outside refuses a non-canonical spelling (issue 11).

One decoder (:func:`trust.encoding.b64url_decode`) serves them all; these cases check that each
site goes through it and answers with its own error type, not that the decoder works (that is
tests/trust/test_encoding.py).
"""

from __future__ import annotations

import json

import pytest

from trust.encoding import b64url_encode
from trust.errors import DataError, StatusListError
from trust.keys import EDDSA, PublicKey, SigningKey
from trust.oid4vp import unverified_kb_nonce
from trust.sdjwt.disclosure import Disclosure
from trust.sdjwt.errors import MalformedDisclosure
from trust.statuslist import StatusList

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def respelled(text: str) -> str:
    """``text`` with its last character changed so that only unused bits differ."""
    assert len(text) % 4 in (2, 3), f"{text!r} has no unused bits"
    index = B64URL.index(text[-1])
    return text[:-1] + B64URL[index | (0b1111 if len(text) % 4 == 2 else 0b11)]


def test_status_list_lst() -> None:
    lst = StatusList(bits=2, size=1024)
    claim = lst.to_claim()
    for _ in range(3):  # find a size whose compressed form has unused bits
        if len(claim["lst"]) % 4:
            break
        lst = StatusList(bits=2, size=lst.size * 2)
        claim = lst.to_claim()
    assert StatusList.from_claim(claim) == lst
    with pytest.raises(StatusListError, match="not canonical"):
        StatusList.from_claim({**claim, "lst": respelled(claim["lst"])})


def test_sd_jwt_disclosure() -> None:
    encoded = ""
    for name in ("n", "na", "nam"):
        encoded = Disclosure.make(name, "张三", salt="c2FsdHNhbHRzYWx0").encoded
        if len(encoded) % 4:
            break
    assert Disclosure.parse(encoded).value == "张三"
    with pytest.raises(MalformedDisclosure, match="not canonical"):
        Disclosure.parse(respelled(encoded))


@pytest.mark.parametrize("alg", ["ES256", EDDSA])
def test_public_jwk_coordinates(alg: str) -> None:
    jwk = dict(SigningKey.generate(alg).public.jwk)
    assert PublicKey.from_jwk(jwk).jwk == jwk
    with pytest.raises(DataError, match="not canonical"):
        PublicKey.from_jwk({**jwk, "x": respelled(jwk["x"])})


def test_unverified_kb_nonce_reads_only_the_canonical_spelling() -> None:
    claims = b64url_encode(json.dumps({"nonce": "n-1", "pad": "x"}).encode())
    if not len(claims) % 4:
        claims = b64url_encode(json.dumps({"nonce": "n-1", "pad": "xy"}).encode())
    kb = f"eyJhbGciOiJFUzI1NiJ9.{claims}.c2ln"
    assert unverified_kb_nonce(f"issuer~disclosure~{kb}") == "n-1"
    assert unverified_kb_nonce(f"issuer~disclosure~{kb.replace(claims, respelled(claims))}") is None
    padded = claims + "=" * (-len(claims) % 4)
    assert unverified_kb_nonce(f"issuer~disclosure~{kb.replace(claims, padded)}") is None
