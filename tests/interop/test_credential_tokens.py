"""Credential tokens, scanned from their QR images, verify in JOSE libraries nobody here wrote,
with nothing but the key set the gateway publishes (issue 7).

Before, every token was refused by all three: its header named an 11-character short ``kid``
that no published key carried (jose ``ERR_JWKS_NO_MATCHING_KEY``, joserfc ``InvalidKeyIdError``,
jwcrypto ``JWKeyNotFound``). A real ``ecert serve`` process on loopback serves the city; the
QR PNG is read by jsQR, the SMART Health Cards numeric form is undone here in two lines (not by
our decoder), and each library selects the key by the token's ``kid`` on its own.
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwcrypto.common
import jwcrypto.jwk
import jwcrypto.jws
import jwt
import pytest
from joserfc import jws as joserfc_jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet
from stdnum.cn import uscc

from gateway import keystore
from tests.cli.helpers import Served, ecert
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.gateway.test_federation_sync import HZ, YRD, _issue, _region, _sync
from tests.interop.conftest import NodeRunner
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.encoding import b64url_encode
from trust.federation.statements import unverified_payload
from trust.jws import sign_compact
from trust.keys import EDDSA, SigningKey

pytestmark = pytest.mark.slow

AGENCIES = (  # name, first 17 characters of the USCC, algorithm, type
    ("杭州市市场监督管理局", "11330100MB1958123", "ES256", "business-licence"),
    ("杭州市公安局", "11330100002490365", "EdDSA", "resident-eid"),
)


@dataclass(frozen=True)
class Issued:
    alg: str
    qr_text: str
    png: bytes


@dataclass(frozen=True)
class City:
    url: str
    issued: tuple[Issued, ...]

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"


def _cli(*args: str) -> dict[str, Any]:
    result = ecert(*args)
    assert result.returncode == 0, result
    answer: dict[str, Any] = result.json() if "--json" in args else {}
    return answer


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """A city served by ``ecert serve``: an ES256 agency and an EdDSA one, a credential each."""
    tmp = tmp_path_factory.mktemp("interop-city")
    where = ["--data-dir", str(tmp / "data")]
    _cli("init", *where, "--city-code", "330100", "--city-name", "杭州市")
    made = []
    for name, first17, alg, ctype in AGENCIES:
        agency = _cli(
            "agency", "add", *where, "--name", name, "--uscc",
            first17 + uscc.calc_check_digit(first17), "--types", ctype, "--alg", alg, "--json",
        )  # fmt: skip
        made.append((agency, alg, ctype))
    with Served(["serve", *where], tmp) as served, httpx.Client(timeout=10) as client:
        issued = []
        for agency, alg, ctype in made:
            headers = {"Authorization": f"Bearer {agency['api_key']}"}
            body = {"type": ctype, "subject": SAMPLE_SUBJECTS[ctype]}
            answer = client.post(f"{served.url}/api/v1/credentials", json=body, headers=headers)
            assert answer.status_code == 201, answer.text
            credential = answer.json()
            png = client.get(
                f"{served.url}/api/v1/credentials/{credential['id']}/qr.png", headers=headers
            )
            assert png.status_code == 200, png.text
            issued.append(Issued(alg, credential["qr_text"], png.content))
        yield City(served.url, tuple(issued))


def _scanned_tokens(node: NodeRunner, city: City) -> list[str]:
    """What a counter's own software gets: jsQR reads each PNG; the numeric form is undone."""
    read = node("qr_decode", {"images": [base64.b64encode(i.png).decode() for i in city.issued]})
    texts = [r["text"] for r in read]
    assert texts == [i.qr_text for i in city.issued], read
    tokens = []
    for text in texts:
        digits = text.split("#", 1)[1]  # SMART Health Cards numeric form: chr(int(pair) + 45)
        tokens.append("".join(chr(int(digits[i : i + 2]) + 45) for i in range(0, len(digits), 2)))
    return tokens


def _published_jwks(city: City) -> dict[str, Any]:
    answer = httpx.get(city.jwks_url, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/jwk-set+json"
    jwks: dict[str, Any] = answer.json()
    return jwks


def _algs(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["alg"])


def test_node_jose_verifies_scanned_tokens_with_the_remote_jwks(
    node: NodeRunner, city: City
) -> None:
    tokens = _scanned_tokens(node, city)
    answers = node("jose_verify", {"tokens": tokens, "jwks_url": city.jwks_url})
    assert [a["ok"] for a in answers] == [True, True], answers
    assert [a["header"]["alg"] for a in answers] == [i.alg for i in city.issued]
    assert [a["payload"]["t"] for a in answers] == ["BL", "EID"]


def test_node_jose_verifies_scanned_tokens_with_a_local_jwks(node: NodeRunner, city: City) -> None:
    tokens = _scanned_tokens(node, city)
    answers = node("jose_verify", {"tokens": tokens, "jwks": _published_jwks(city)})
    assert [a["ok"] for a in answers] == [True, True], answers


def test_joserfc_verifies_scanned_tokens_with_the_jwks(node: NodeRunner, city: City) -> None:
    keys = KeySet.import_key_set(_published_jwks(city))
    for token in _scanned_tokens(node, city):
        with warnings.catch_warnings():
            # joserfc warns that the JOSE name EdDSA is deprecated (RFC 9864): README says why
            # the gateway still signs with it.
            warnings.simplefilter("ignore", SecurityWarning)
            verified = joserfc_jws.deserialize_compact(token, keys, algorithms=[_algs(token)])
        assert json.loads(verified.payload)["t"] in {"BL", "EID"}


def test_jwcrypto_verifies_scanned_tokens_with_the_jwks(node: NodeRunner, city: City) -> None:
    keys = jwcrypto.jwk.JWKSet.from_json(json.dumps(_published_jwks(city)))
    for token in _scanned_tokens(node, city):
        parsed = jwcrypto.jws.JWS()
        parsed.deserialize(token)
        parsed.verify(keys)  # selects the key by the header's kid; raises when none matches
        assert json.loads(parsed.payload)["t"] in {"BL", "EID"}


def test_every_library_refuses_a_token_with_one_byte_changed(node: NodeRunner, city: City) -> None:
    token = _scanned_tokens(node, city)[0]
    head, payload, sig = token.split(".")
    flipped = f"{head}.{payload}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}"
    (answer,) = node("jose_verify", {"tokens": [flipped], "jwks": _published_jwks(city)})
    assert answer == {**answer, "ok": False, "code": "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"}
    with pytest.raises(Exception, match="signature"):
        joserfc_jws.deserialize_compact(
            flipped, KeySet.import_key_set(_published_jwks(city)), algorithms=["ES256"]
        )
    parsed = jwcrypto.jws.JWS()
    parsed.deserialize(flipped)
    # With a key set, jwcrypto tries each key the kid selects and says none worked.
    with pytest.raises(jwcrypto.common.JWKeyNotFound, match="No working key"):
        parsed.verify(jwcrypto.jwk.JWKSet.from_json(json.dumps(_published_jwks(city))))


def test_node_jose_verifies_with_the_jwks_resolved_through_the_federation(
    node: NodeRunner, tmp_path: Path, clock: FakeClock
) -> None:
    """A counter in another city takes the issuer's keys from the region anchor's resolve
    answer (OpenID Federation §8.3): the ``jwks`` of the resolved ``ecert_issuer`` metadata."""
    with federation_of(tmp_path, clock) as fed:
        hz, _sz, amr, psb = _region(fed)
        keystore.rotate(hz, agency_id=psb, alg="EdDSA", actor="test")
        tokens = [_issue(hz, amr, "business-licence"), _issue(hz, psb, "resident-eid")]
        _sync(fed, fed.gateways[YRD])  # the anchor resolves only entities its trust data holds
        verified = []
        for agency, token in zip((amr, psb), tokens, strict=True):
            answer = fed.client(YRD).get(
                "/federation/resolve",
                params={"sub": f"{HZ}/agencies/{agency}", "trust_anchor": YRD},
            )
            assert answer.status_code == 200, answer.text
            metadata = unverified_payload(answer.text)["metadata"]
            (result,) = node(
                "jose_verify", {"tokens": [token], "jwks": metadata["ecert_issuer"]["jwks"]}
            )
            verified.append(result)
    assert [v["ok"] for v in verified] == [True, True], verified
    assert [v["header"]["alg"] for v in verified] == ["ES256", "EdDSA"]


def test_pyjwt_still_refuses_the_ed25519_name() -> None:
    """Why the gateway signs Ed25519 keys as ``EdDSA`` (README, "EdDSA or Ed25519"): PyJWT
    verifies ``EdDSA`` and refuses the RFC 9864 name. When this fails, switch the name."""
    key = SigningKey.generate(EDDSA)
    token = sign_compact({"n": 1}, key, typ="ecert+jwt")
    assert jwt.api_jws.decode(token, key.public.key, algorithms=["EdDSA"]) == b'{"n":1}'
    header = b64url_encode(b'{"alg":"Ed25519","typ":"ecert+jwt"}')
    signing_input = f"{header}.{token.split('.')[1]}"
    renamed = f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"
    with pytest.raises(jwt.exceptions.InvalidAlgorithmError):
        jwt.api_jws.decode(renamed, key.public.key, algorithms=["Ed25519", "EdDSA"])
