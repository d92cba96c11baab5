"""Signing-key life: rotation, JWKS, retirement, compromise (fail closed), re-issue."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway import issuance, keystore, reissue
from gateway.core import Gateway
from gateway.models import CredentialRow, SigningKeyRow
from tests.conftest import PASSPHRASE, Agency, FakeClock
from tests.gateway.holders import fresh_licence
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.claims import CREDENTIAL_TYP
from trust.errors import KeyError_
from trust.jws import sign_compact
from trust.keys import SigningKey
from verify.reasons import Reason
from verify.verifier import verify_scanned


def _issue(gw: Gateway, agency: Agency, **subject: str) -> CredentialRow:
    request = issuance.IssueRequest(
        type="business-licence",
        subject=fresh_licence(**subject),  # a holder each
    )
    row, _ = issuance.issue(gw, agency_id=agency.id, request=request)
    return row


def _reason(gw: Gateway, token: str) -> Reason:
    state = gw.state
    return verify_scanned(token, trust=state.trust, statuses=state.statuses, now=gw.clock()).reason


def _kids(gw: Gateway) -> set[str]:
    return {k["kid"] for k in keystore.jwks(gw)["keys"]}


def test_private_keys_are_stored_encrypted_only(gw: Gateway, amr: Agency) -> None:
    with gw.sessions() as session:
        row = session.scalars(select(SigningKeyRow)).one()
    assert row.private_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert SigningKey.from_encrypted_pem(row.private_pem, PASSPHRASE).kid == row.kid
    with pytest.raises(KeyError_):
        SigningKey.from_encrypted_pem(row.private_pem, "some other passphrase")
    assert all("d" not in k for k in keystore.jwks(gw)["keys"])  # no private JWK member


def test_rotation_new_key_signs_old_key_still_verifies(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    old = _issue(gw, amr)
    clock.advance(60)
    new_key = keystore.rotate(gw, agency_id=amr.id, actor="test")
    clock.advance(60)
    new = _issue(gw, amr, name="杭州新钥匙科技有限公司")
    assert new.kid == new_key.kid != old.kid
    assert _reason(gw, old.token) is Reason.VALID
    assert _reason(gw, new.token) is Reason.VALID
    assert {old.kid, new.kid} <= _kids(gw)


def test_retired_key_without_live_credentials_leaves_jwks(gw: Gateway, amr: Agency) -> None:
    with gw.sessions() as session:
        first = keystore.active_key(session, amr.id).kid  # no credential signed with it
    keystore.rotate(gw, agency_id=amr.id, actor="test")
    assert first not in _kids(gw)


def test_eddsa_agency_issues_verifiable_credentials(gw: Gateway, amr: Agency) -> None:
    keystore.rotate(gw, agency_id=amr.id, alg="EdDSA", actor="test")
    row = _issue(gw, amr)
    assert row.token.startswith("eyJ")
    import jwt

    assert jwt.get_unverified_header(row.token)["alg"] == "EdDSA"
    assert _reason(gw, row.token) is Reason.VALID


def test_compromise_fails_closed_except_for_tokens_in_the_issuance_record(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    genuine = _issue(gw, amr)
    with gw.sessions() as session:
        key_row = keystore.active_key(session, amr.id)
        stolen = SigningKey.from_encrypted_pem(key_row.private_pem, PASSPHRASE)
    clock.advance(3600)
    compromised_row, affected = keystore.compromise(
        gw, kid=key_row.kid, at=clock.now - 60, reason="HSM backup leaked", actor="test"
    )
    assert [c.id for c in affected] == [genuine.id]
    # The thief forges a token that claims to be from before the compromise.
    claims = issuance.claims_for(
        gw.types.get("business-licence"),
        SAMPLE_SUBJECTS["business-licence"],
        jti="20260009999.001",
        now=genuine.issued_at - 10,
        valid_from=None,
        valid_until=None,
        idx=1,
        uri=f"https://ecert.hangzhou.gov.cn/statuslists/{genuine.status_list_id}",
    )
    forged = sign_compact(claims, stolen, typ=CREDENTIAL_TYP, kid=stolen.public.short_kid)
    assert _reason(gw, forged) is Reason.KEY_NOT_VALID_AT_ISSUANCE
    assert _reason(gw, genuine.token) is Reason.VALID  # our record confirms this exact token
    # The key no longer signs: the next credential uses a fresh key.
    fresh = _issue(gw, amr, name="泄露之后有限公司")
    assert fresh.kid != key_row.kid
    jwk = next(k for k in keystore.jwks(gw)["keys"] if k["kid"] == key_row.kid)
    assert jwk["compromised_at"] == compromised_row.compromised_at


def test_reissue_after_compromise_bumps_version_and_closes_the_old_record(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    old = _issue(gw, amr)
    clock.advance(10)
    _row, affected = keystore.compromise(gw, kid=old.kid, at=None, reason="leak", actor="test")
    clock.advance(10)
    (new,) = reissue.reissue(
        gw, credential_ids=[c.id for c in affected], actor="test", reason="leak"
    )
    assert new.serial == old.serial
    assert new.version == "002"
    assert new.identifier.rsplit(".", 2)[0] == old.identifier.rsplit(".", 2)[0]
    assert new.supersedes == old.id
    assert new.kid != old.kid
    assert _reason(gw, new.token) is Reason.VALID
    assert _reason(gw, old.token) is Reason.REVOKED  # closed as 05 失效
    with gw.sessions() as session:
        assert session.get(CredentialRow, old.id).status_code == "05"  # type: ignore[union-attr]


def test_compromise_in_the_future_is_refused(gw: Gateway, amr: Agency, clock: FakeClock) -> None:
    with gw.sessions() as session:
        kid = keystore.active_key(session, amr.id).kid
    from gateway.errors import Conflict

    with pytest.raises(Conflict, match="future"):
        keystore.compromise(gw, kid=kid, at=clock.now + 10, reason="x", actor="test")
