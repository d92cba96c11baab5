"""One spelling per token (issue 11), checked with base64url decoders nobody here wrote: node's
``jose`` (its ``base64url`` helpers) and node's own ``Buffer``.

Both are lenient: they read a text whose last character sets unused bits as the same bytes, so
decoding and encoding again gives another text. That is the test of canonical form used here:
every base64url text the gateway emits (each QR token of every shipped type, its status list
token and ``lst``, an SD-JWT VC's parts) comes back unchanged; every re-spelling of one comes
back different, and is exactly what our decoder refuses.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from gateway.core import Gateway
from tests.gateway.helpers import client_for
from tests.interop.conftest import NodeRunner
from tests.interop.issued import agency_for_every_type, issue_every_type
from tests.verify import test_presentation as pres
from trust.encoding import b64url_decode, b64url_encode
from trust.errors import DataError

HOST = "https://ecert.hangzhou.gov.cn"  # the gw fixture's public URL
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def client(gw: Gateway) -> Iterator[TestClient]:
    with client_for(gw) as c:
        yield c


def _emitted(client: TestClient, gw: Gateway) -> list[str]:
    """Every base64url text in what the gateway hands out for one credential of each type."""
    texts: list[str] = []
    for issued in issue_every_type(client, agency_for_every_type(gw)):
        texts += issued.answer["token"].split(".")
        uri = issued.claims["status"]["status_list"]["uri"]
        status_token = client.get(uri.removeprefix(HOST)).text
        texts += status_token.split(".")
        payload = orjson.loads(b64url_decode(status_token.split(".")[1]))
        texts.append(payload["status_list"]["lst"])
    presentation = pres._presentation(pres.Case(pres.Reason.VALID))  # issuer JWT~disclosures~KB
    for part in presentation.split("~"):
        texts += part.split(".") if part.count(".") == 2 else [part] if part else []
    return sorted(set(texts))


def _respellings(text: str) -> list[str]:
    unused = {2: 0b1111, 3: 0b11}.get(len(text) % 4, 0)
    index = B64URL.index(text[-1])
    return [
        text[:-1] + c
        for c in B64URL
        if c != text[-1] and B64URL.index(c) & ~unused == index & ~unused
    ]


def test_what_we_emit_is_canonical_and_what_we_refuse_is_exactly_the_rest(
    client: TestClient, gw: Gateway, node: NodeRunner
) -> None:
    emitted = _emitted(client, gw)
    assert len(emitted) > 20  # 7 tokens, their shared status list, an SD-JWT VC: headers repeat
    back = node("b64url_roundtrip", {"texts": emitted})
    assert back["jose"] == emitted
    assert back["buffer"] == emitted

    respelled = [r for text in emitted for r in _respellings(text)]
    assert len(respelled) > 100  # most texts have unused bits: 3 or 15 other spellings each
    back = node("b64url_roundtrip", {"texts": respelled})
    for text, by_jose, by_buffer in zip(respelled, back["jose"], back["buffer"], strict=True):
        assert by_jose != text  # lenient readers take it, as the other spelling of its bytes;
        assert by_buffer != text
        with pytest.raises(DataError, match="not canonical"):  # ours refuses it
            b64url_decode(text)
    assert [b64url_encode(b64url_decode(text)) for text in emitted] == emitted  # ours reads them
