"""A holder proves its wallet key to its issuing gateway (reference codes, issue 10): one test
per way a proof is refused, and the one that holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import jwt
import pytest

from trust.holder_proof import (
    HOLDER_PROOF_TYP,
    IAT_WINDOW,
    HolderProofRefused,
    check_holder_proof,
    make_holder_proof,
    read_holder_proof,
)
from trust.jws import dumps_compact
from trust.keys import SigningKey
from trust.oid4vci import jwk_header
from trust.statuslist import StatusReference

GATEWAY = "https://hz.example.cn"
NOW = 1_800_000_000
CREDENTIAL = StatusReference(idx=42, uri=f"{GATEWAY}/status/psb/1")
HOLDER = SigningKey.generate()


@dataclass
class SetSpent:
    used: set[str] = field(default_factory=set)

    def spend(self, jti: str, *, until: int) -> bool:
        if jti in self.used:
            return False
        self.used.add(jti)
        return True


def _proof(key: SigningKey = HOLDER, **claims: object) -> str:
    payload = {"aud": GATEWAY, "iat": NOW, "jti": "j" * 24, **CREDENTIAL.to_claim(), **claims}
    return jwt.api_jws.encode(
        dumps_compact({k: v for k, v in payload.items() if v is not None}),
        key.private,
        algorithm=key.alg,
        headers={"typ": HOLDER_PROOF_TYP, "jwk": jwk_header(key)},
    )


def test_a_proof_by_the_delivered_key_holds_once() -> None:
    spent = SetSpent()
    token = make_holder_proof(HOLDER, audience=GATEWAY, credential=CREDENTIAL, now=NOW)
    proof = read_holder_proof(token, audience=GATEWAY, now=NOW + IAT_WINDOW)
    assert proof.credential == CREDENTIAL
    check_holder_proof(proof, holder_kid=HOLDER.kid, spent=spent)
    with pytest.raises(HolderProofRefused, match="expected an unused jti") as replayed:
        check_holder_proof(proof, holder_kid=HOLDER.kid, spent=spent)
    assert "重放" in replayed.value.message_zh


def test_a_proof_by_another_key_is_refused() -> None:
    other = SigningKey.generate()
    proof = read_holder_proof(_proof(other), audience=GATEWAY, now=NOW)
    with pytest.raises(HolderProofRefused, match=f"delivered to \\({HOLDER.kid}\\)") as refused:
        check_holder_proof(proof, holder_kid=HOLDER.kid, spent=SetSpent())
    assert refused.value.message_zh == "此证照未发放给该钱包密钥"


def _swap_payload(token: str) -> str:
    """Another key's signature over this header: the header's jwk does not verify it."""
    other = _proof(SigningKey.generate())
    return ".".join([token.split(".")[0], *other.split(".")[1:]])


def _other_typ() -> str:
    headers = {"typ": "openid4vci-proof+jwt", "jwk": jwk_header(HOLDER)}
    payload = dumps_compact({"aud": GATEWAY})
    return jwt.api_jws.encode(payload, HOLDER.private, algorithm=HOLDER.alg, headers=headers)


@pytest.mark.parametrize(
    ("token", "now", "expected"),
    [
        (lambda: _proof(iat=NOW - IAT_WINDOW - 1), NOW, "within 60 s"),
        (lambda: _proof(iat=NOW + IAT_WINDOW + 1), NOW, "within 60 s"),
        (lambda: _proof(iat="1800000000"), NOW, "integer seconds"),
        (lambda: _proof(aud="https://sz.example.cn"), NOW, "expected aud"),
        (lambda: _proof(jti=None), NOW, "expected a jti"),
        (lambda: _proof(jti="short"), NOW, "expected a jti"),
        (lambda: _proof(status=None), NOW, "status reference"),
        (lambda: _proof(status={"status_list": {"idx": -1, "uri": GATEWAY}}), NOW, "idx"),
        (lambda: _swap_payload(_proof()), NOW, "signed by its header's jwk"),
        (lambda: "x" * 5000, NOW, "at most 4096"),
        (_other_typ, NOW, "typ"),
    ],
    ids=[
        "stale-iat",
        "future-iat",
        "iat-not-int",
        "wrong-aud",
        "no-jti",
        "short-jti",
        "no-credential",
        "bad-credential",
        "not-signed-by-its-jwk",
        "oversized",
        "another-typ",
    ],
)
def test_a_bad_proof_is_refused(token: Callable[[], str], now: int, expected: str) -> None:
    with pytest.raises(HolderProofRefused, match=expected) as refused:
        read_holder_proof(token(), audience=GATEWAY, now=now)
    assert refused.value.message_zh.startswith("持证人密钥证明")
