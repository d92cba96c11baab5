"""``verify_many`` (a batch: every text read up to its signature, then the signatures, then the
rest) answers each text exactly as ``verify_scanned`` does, whatever the others in the batch.

Over every case of ``tests/verify/test_verifier.py``, the respellings of
``tests/verify/test_canonical_tokens.py``, ``loadtests.common.garbage_texts``, a signed token
whose payload is not JSON, an expired trust snapshot, and hypothesis mixes of all of them with
arbitrary text.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from loadtests.common import garbage_texts
from tests.verify.test_canonical_tokens import _same_bytes, _with_segment
from tests.verify.test_verifier import ACTIVE, CASES, NOW, STATUSES, TRUST, _token, _trust
from trust.claims import CREDENTIAL_TYP
from trust.encoding import b64url_encode, jws_to_numeric
from trust.jws import sign_compact
from trust.snapshot import TrustSnapshot
from verify.reasons import Reason
from verify.result import VerificationResult
from verify.verifier import verify_many, verify_scanned


def _signed_non_json_payload() -> str:
    """Signed by a trusted key, kid and all, over a payload that is not a JSON object."""
    genuine = sign_compact({"x": 1}, ACTIVE, typ=CREDENTIAL_TYP)
    header = genuine.split(".")[0]
    signing_input = f"{header}.{b64url_encode(b'[not json')}"
    return f"{signing_input}.{b64url_encode(ACTIVE.sign(signing_input.encode('ascii')))}"


def _corpus() -> list[str]:
    texts = [case.scanned() for case in CASES]
    genuine = _token()
    signature = genuine.split(".")[2]
    texts += [_with_segment(genuine, 2, signature[:-1] + c) for c in _same_bytes(signature)]
    texts += garbage_texts("https://ecert.hangzhou.gov.cn/v#" + jws_to_numeric(genuine))
    texts += [_signed_non_json_payload(), "", " ", "#", "https://x/v#", genuine + "\n"]
    return texts


CORPUS = _corpus()


def _one_by_one(texts: list[str], trust: TrustSnapshot) -> list[VerificationResult]:
    return [verify_scanned(t, trust=trust, statuses=STATUSES, now=NOW) for t in texts]


def test_a_batch_answers_each_text_as_verify_scanned_does() -> None:
    many = verify_many(CORPUS, trust=TRUST, statuses=STATUSES, now=NOW)
    assert many == _one_by_one(CORPUS, TRUST)
    reasons = {r.reason for r in many}
    assert {Reason.VALID, Reason.MALFORMED, Reason.BAD_SIGNATURE, Reason.UNKNOWN_ISSUER} <= reasons


def test_a_signed_payload_that_is_not_json_is_malformed_and_names_no_issuer() -> None:
    token = _signed_non_json_payload()
    (result,) = verify_many([token], trust=TRUST, statuses=STATUSES, now=NOW)
    assert result.reason is Reason.MALFORMED, result.detail
    assert result.issuer is None
    assert result.credential is None
    assert result == verify_scanned(token, trust=TRUST, statuses=STATUSES, now=NOW)


def test_a_batch_against_an_expired_trust_snapshot_answers_as_one_by_one() -> None:
    stale = _trust(expires_at=NOW - 1)
    many = verify_many(CORPUS, trust=stale, statuses=STATUSES, now=NOW)
    assert many == _one_by_one(CORPUS, stale)
    assert Reason.TRUST_LIST_STALE in {r.reason for r in many}


def test_an_empty_batch_is_an_empty_answer() -> None:
    assert verify_many([], trust=TRUST, statuses=STATUSES, now=NOW) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(CORPUS), st.text(max_size=200)), max_size=12))
def test_any_mix_answers_as_one_by_one(texts: list[str]) -> None:
    assert verify_many(texts, trust=TRUST, statuses=STATUSES, now=NOW) == _one_by_one(texts, TRUST)
