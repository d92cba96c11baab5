"""One token, one spelling: the fault campaign of issue 11 as regression tests.

A base64url character carries 6 bits; the last character of a text of length 4k+2 uses only 2
of them (4k+3: 4). A decoder that ignores the unused bits reads 16 (or 4) spellings of the last
character as the same bytes, so a genuine token had 16 spellings that all verified VALID, and
anything keyed on the token's text (the compromise confirmation's SHA-256, use records) saw a
different token each time. Every non-canonical spelling answers MALFORMED now.
"""

from __future__ import annotations

import hashlib

import pytest

from tests.verify.test_verifier import ACTIVE, AMR, NOW, STATUSES, TRUST, _claims
from trust.claims import CREDENTIAL_TYP
from trust.encoding import jws_to_numeric
from trust.jws import sign_compact
from trust.keys import EDDSA, SigningKey
from trust.snapshot import KeyRecord, TrustSnapshot
from verify.reasons import Reason
from verify.verifier import verify_scanned

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
ED_KEY = SigningKey.generate(EDDSA)


def _trust_with(key: SigningKey) -> TrustSnapshot:
    return TrustSnapshot.build(
        issuers=[AMR],
        keys=[KeyRecord(key=key.public, issuer_id=AMR.id, not_before=NOW - 100 * 86_400)],
        types=TRUST.types.values(),
        as_of=NOW - 30,
    )


def _answer(scanned: str) -> Reason:
    return verify_scanned(scanned, trust=TRUST, statuses=STATUSES, now=NOW).reason


def _genuine() -> str:
    return sign_compact(_claims(), ACTIVE, typ=CREDENTIAL_TYP, kid=ACTIVE.public.short_kid)


def _same_bytes(text: str) -> list[str]:
    """Every other last character a lenient decoder reads as the same bytes as ``text``'s."""
    unused = {2: 0b1111, 3: 0b11}[len(text) % 4]
    index = B64URL.index(text[-1])
    return [c for c in B64URL if B64URL.index(c) & ~unused == index & ~unused and c != text[-1]]


def _with_segment(token: str, at: int, segment: str) -> str:
    parts = token.split(".")
    parts[at] = segment
    return ".".join(parts)


def test_every_spelling_of_the_signatures_last_character_but_one_is_malformed() -> None:
    token = _genuine()
    signature = token.split(".")[2]
    assert len(signature) % 4 == 2  # 64 bytes of ES256: the last character uses 2 of 6 bits
    variants = _same_bytes(signature)
    assert len(variants) == 15
    assert _answer(token) is Reason.VALID
    answers = {c: _answer(_with_segment(token, 2, signature[:-1] + c)) for c in variants}
    assert answers == dict.fromkeys(variants, Reason.MALFORMED)


def test_the_numeric_qr_form_of_a_respelled_token_is_malformed_too() -> None:
    token = _genuine()
    signature = token.split(".")[2]
    other = _with_segment(token, 2, signature[:-1] + _same_bytes(signature)[0])
    assert _answer(jws_to_numeric(token)) is Reason.VALID
    assert _answer(jws_to_numeric(other)) is Reason.MALFORMED


def test_an_eddsa_signature_has_one_spelling_as_well() -> None:
    token = sign_compact(_claims(), ED_KEY, typ=CREDENTIAL_TYP, kid=ED_KEY.public.short_kid)
    signature = token.split(".")[2]
    for c in _same_bytes(signature):  # the token is refused for its spelling, before any key
        assert _answer(_with_segment(token, 2, signature[:-1] + c)) is Reason.MALFORMED


def _with_unused_header_bits() -> tuple[str, SigningKey]:
    """A genuine token whose header segment has unused bits (its length depends on the key's
    algorithm and on the kid form): the header is refused for its spelling before any key."""
    for key in (ACTIVE, ED_KEY):
        for kid in (key.public.short_kid, key.public.kid):
            token = sign_compact(_claims(), key, typ=CREDENTIAL_TYP, kid=kid)
            if len(token.split(".")[0]) % 4:
                return token, key
    raise AssertionError("no header form with unused bits among 4: the headers above changed")


@pytest.mark.parametrize("at", [0, 1], ids=["header", "payload"])
def test_a_respelled_header_or_payload_is_malformed(at: int) -> None:
    # Signed as spelled, a re-spelled payload could only fail its signature; it is refused for
    # its spelling first, like a header (decoded before the signature) and a signature.
    token, key = _with_unused_header_bits() if at == 0 else (_genuine(), ACTIVE)
    segment = token.split(".")[at]
    assert len(segment) % 4, f"segment {at} has no unused bits: the claims above changed"
    trust = _trust_with(key)
    assert verify_scanned(token, trust=trust, statuses=STATUSES, now=NOW).reason is Reason.VALID
    for c in _same_bytes(segment):
        respelled = _with_segment(token, at, segment[:-1] + c)
        answer = verify_scanned(respelled, trust=trust, statuses=STATUSES, now=NOW)
        assert answer.reason is Reason.MALFORMED, (c, answer.detail)


@pytest.mark.parametrize(
    "respell",
    [
        lambda s: s + "=",
        lambda s: s + "==",
        lambda s: s.replace("-", "+").replace("_", "/"),
    ],
    ids=["padding", "double-padding", "plus-slash"],
)
def test_other_spellings_of_the_signature_are_malformed(respell: object) -> None:
    assert callable(respell)
    for attempt in range(64):  # ES256 signatures are random: find one with '-' or '_' in it
        token = sign_compact(
            _claims(jti=f"2026{attempt:07d}.001"), ACTIVE, typ=CREDENTIAL_TYP,
            kid=ACTIVE.public.short_kid,
        )  # fmt: skip
        signature = token.split(".")[2]
        if "-" in signature or "_" in signature:
            break
    else:
        pytest.fail("64 signatures without '-' or '_': the odds are about 1 in 10^77")
    assert _answer(token) is Reason.VALID
    assert _answer(_with_segment(token, 2, respell(signature))) is Reason.MALFORMED


def test_white_space_a_scanner_adds_is_dropped_before_decoding_leaving_the_one_spelling() -> None:
    # Scanner guns append CR/LF and pastes wrap (verify.scan): white space is no part of the
    # token, so the token verified and hashed is the one spelling, not a second one.
    token = _genuine()
    for scanned in (token[:20] + "\n" + token[20:], token + "\r\n", " " + token):
        answer = verify_scanned(scanned, trust=TRUST, statuses=STATUSES, now=NOW)
        assert (answer.reason, answer.token) == (Reason.VALID, token)


def test_one_token_one_hash() -> None:
    # What the compromise confirmation keys on: the one accepted spelling has one SHA-256.
    token = _genuine()
    signature = token.split(".")[2]
    spellings = [
        _with_segment(token, 2, signature[:-1] + c)
        for c in (signature[-1], *_same_bytes(signature))
    ]
    accepted = {
        hashlib.sha256(s.encode()).hexdigest() for s in spellings if _answer(s) is Reason.VALID
    }
    assert accepted == {hashlib.sha256(token.encode()).hexdigest()}
