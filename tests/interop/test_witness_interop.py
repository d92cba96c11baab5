"""Witness artifacts checked by libraries nobody here wrote.

- 苏州's cosignature of 杭州's head (``ecert-cosignature+jwt``), as 杭州 stores and shows it at
  ``GET /audit/witnesses``, verified by node ``jose`` and by ``joserfc`` with nothing but 苏州's
  published JWK Set (its Entity Configuration's ``jwks``).
- The other way: a checkpoint signed by ``joserfc`` with 杭州's key is one our witness accepts
  (our reading is not one only our own signer satisfies).
"""

from __future__ import annotations

from typing import Any

import orjson
from joserfc import jws
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import select

from gateway import federation
from gateway.models import CosignatureRow
from tests.gateway import test_witness as witnessing
from tests.gateway.test_witness import HZ, SZ, Region
from tests.interop.conftest import NodeRunner, private_jwk
from trust import merkle
from trust.encoding import b64url_encode
from trust.federation.statements import unverified_payload
from trust.witness import CHECKPOINT_TYP, COSIGNATURE_TYP, Accepted, decide

region = witnessing.region


def _jwks(region: Region, url: str) -> Any:
    client = region.hz_app if url == HZ else region.fed.client(url)
    return unverified_payload(client.get("/.well-known/openid-federation").text)["jwks"]


def test_jose_and_joserfc_verify_a_cosignature(region: Region, node: NodeRunner) -> None:
    region.log.grow(6)
    assert region.witness() == "cosigned"
    heads = region.hz_app.get("/audit/witnesses").json()["heads"]
    (shown,) = [w for h in heads for w in h["witnesses"] if w["witness"] == SZ]
    token = shown["cosignature"]
    with region.hz.sessions() as session:
        assert token in session.scalars(select(CosignatureRow.token)).all()
    jwks = _jwks(region, SZ)
    (got,) = node("jose_verify", {"tokens": [token], "jwks": jwks})
    assert got["ok"], got
    assert got["header"]["typ"] == COSIGNATURE_TYP
    assert got["payload"]["iss"] == SZ
    assert got["payload"]["sub"] == HZ
    assert got["payload"]["tree_size"] == 6
    assert got["payload"]["root_hash"] == b64url_encode(merkle.root(region.log.leaves))
    verified = jws.deserialize_compact(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert verified.headers()["typ"] == COSIGNATURE_TYP


def test_a_checkpoint_signed_by_joserfc_is_accepted_by_our_witness(region: Region) -> None:
    key = federation.own_signing_key(region.hz)
    leaves = [merkle.leaf_hash(b"%d" % i) for i in range(3)]
    claims = {"iss": HZ, "tree_size": 3, "root_hash": b64url_encode(merkle.root(leaves)),
              "iat": region.fed.clock.now}  # fmt: skip
    token = jws.serialize_compact(
        {"alg": "ES256", "typ": CHECKPOINT_TYP, "kid": key.kid},
        orjson.dumps(claims),
        ECKey.import_key(private_jwk(key)),
        algorithms=["ES256"],
    )
    verdict = decide(peer=HZ, keys=[key.public], last=None, token=token, proof=None,
                     now=region.fed.clock.now)  # fmt: skip
    assert isinstance(verdict, Accepted), verdict
    assert verdict.state.tree_size == 3
