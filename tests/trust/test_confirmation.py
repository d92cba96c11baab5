"""Issuance confirmations: what makes one vouch for a token, one test per way to fake one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.trust.test_trustlist_vectors import AMR_LOST, LIST_KEY, NOW, STRANGER
from trust.confirmation import (
    CONFIRM_LIFETIME,
    Confirmation,
    ConfirmationError,
    check_confirmation,
    token_kid,
)
from trust.jws import BadSignature, UnknownKey, UnsupportedToken, sign_compact
from trust.snapshot import KeyRecord

CITY = "https://ecert.hangzhou.gov.cn"
CITY_KEY = LIST_KEY  # the city's federation key
DIGEST = "ab" * 32
LOST_AT = NOW - 5 * 86_400
RECORD = KeyRecord(
    key=AMR_LOST.public, issuer_id="ag-amr", not_before=NOW - 400 * 86_400, compromised_at=LOST_AT
)
GOOD = Confirmation(
    city=CITY,
    agency=f"{CITY}/agencies/ag-amr",
    token_hash=DIGEST,
    kid=AMR_LOST.kid,
    issued_at=LOST_AT - 3600,
    compromised_at=LOST_AT,
)


def _check(answer: str, **over: object) -> int:
    fields: dict[str, object] = {
        "city_keys": [CITY_KEY.public],
        "city": CITY,
        "token_hash": DIGEST,
        "record": RECORD,
        "now": NOW,
    }
    fields.update(over)
    return check_confirmation(answer, **fields)  # type: ignore[arg-type]


def test_a_confirmation_from_the_issuing_city_vouches_until_it_expires() -> None:
    assert _check(GOOD.sign(CITY_KEY, now=NOW)) == NOW + CONFIRM_LIFETIME


def test_signed_by_another_key_is_refused() -> None:
    with pytest.raises((UnknownKey, BadSignature)):
        _check(GOOD.sign(STRANGER, now=NOW))


def test_the_compromised_key_itself_cannot_confirm_its_tokens() -> None:
    """The thief holds the credential key, not the city's federation key."""
    with pytest.raises((UnknownKey, BadSignature)):
        _check(GOOD.sign(AMR_LOST, now=NOW))


@pytest.mark.parametrize(
    ("change", "claim"),
    [
        ({"city": "https://ecert.suzhou.gov.cn"}, "iss"),
        ({"token_hash": "cd" * 32}, "token_hash"),
        ({"kid": STRANGER.kid}, "kid"),
    ],
)
def test_a_confirmation_of_something_else_is_refused(change: dict[str, str], claim: str) -> None:
    with pytest.raises(ConfirmationError, match=f"expected a confirmation with {claim}"):
        _check(replace(GOOD, **change).sign(CITY_KEY, now=NOW))


def test_issued_after_the_compromise_the_asker_knows_of_is_refused() -> None:
    """The issuer's record may date the compromise later than the asker's trust data does."""
    later = replace(GOOD, issued_at=LOST_AT + 10, compromised_at=LOST_AT + 3600)
    with pytest.raises(ConfirmationError, match="issued before its key's compromise"):
        _check(later.sign(CITY_KEY, now=NOW))


def test_an_expired_confirmation_is_refused() -> None:
    answer = GOOD.sign(CITY_KEY, now=NOW - CONFIRM_LIFETIME)
    with pytest.raises(ConfirmationError, match="unexpired"):
        _check(answer)


def test_a_token_of_another_type_is_refused() -> None:
    claims = {"iss": CITY, "token_hash": DIGEST, "kid": AMR_LOST.kid, "issued_at": 1, "exp": NOW}
    with pytest.raises(UnsupportedToken):
        _check(sign_compact(claims, CITY_KEY, typ="entity-statement+jwt"))


def test_non_integer_times_are_refused() -> None:
    claims = {"iss": CITY, "token_hash": DIGEST, "kid": AMR_LOST.kid, "issued_at": "1", "exp": NOW}
    with pytest.raises(ConfirmationError, match="integer issued_at and exp"):
        _check(sign_compact(claims, CITY_KEY, typ="issuance-confirmation+jwt"))


def test_no_confirmation_holds_for_a_key_not_compromised() -> None:
    with pytest.raises(ConfirmationError, match="to be compromised"):
        _check(GOOD.sign(CITY_KEY, now=NOW), record=replace(RECORD, compromised_at=None))


def test_a_city_never_signs_for_a_token_issued_after_the_compromise() -> None:
    with pytest.raises(ConfirmationError, match="nothing to confirm"):
        replace(GOOD, issued_at=LOST_AT).sign(CITY_KEY, now=NOW)


@pytest.mark.parametrize("token", ["", "not a token", "e30.e30.sig", "%%%.x.y"])
def test_a_token_without_a_readable_kid_gives_no_hint(token: str) -> None:
    assert token_kid(token) == ""


def test_the_kid_hint_is_read_from_the_header() -> None:
    assert token_kid(GOOD.sign(CITY_KEY, now=NOW)) == CITY_KEY.kid
