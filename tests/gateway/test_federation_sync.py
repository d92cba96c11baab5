"""Trust lists compiled from federation chains, and what other cities' counters then answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from stdnum.cn import uscc

from gateway import agencies, federation, issuance, status, trustsync
from gateway.core import Gateway
from gateway.models import SigningKeyRow
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.encoding import b64url_decode
from trust.federation import verify_entity_configuration
from verify.reasons import Reason
from verify.verifier import verify_scanned

YRD, HZ, SZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101", "http://127.0.0.1:9102"
JJJ, BJ = "http://127.0.0.1:9103", "http://127.0.0.1:9104"
LICENCES = ["business-licence", "food-business-permit", "industrial-production-permit"]


def _agency(gw: Gateway, first17: str, name: str, types: list[str]) -> str:
    row, _ = agencies.add_agency(
        gw, name=name, uscc=first17 + uscc.calc_check_digit(first17), types=types, actor="t"
    )
    return row.id


def _issue(gw: Gateway, agency_id: str, ctype: str) -> str:
    row, _ = issuance.issue(
        gw, agency_id=agency_id, request=issuance.IssueRequest(ctype, SAMPLE_SUBJECTS[ctype])
    )
    return row.token


def _reason(gw: Gateway, token: str) -> Reason:
    state = gw.state
    return verify_scanned(token, trust=state.trust, statuses=state.statuses, now=gw.clock()).reason


def _sync(fed: Federation, gw: Gateway) -> trustsync.SyncReport:
    report = trustsync.sync_once(gw, fed.fetcher(), lifetime=3600, refresh=60)
    trustsync.refresh_status_lists(gw, fed.fetcher())
    return report


def _pins(fed: Federation, url: str) -> list[dict[str, str]]:
    ec = verify_entity_configuration(
        fed.client(url).get("/.well-known/openid-federation").text, now=fed.clock.now
    )
    return [dict(k.jwk) for k in ec.jwks]


def _region(fed: Federation, **settings: Any) -> tuple[Gateway, Gateway, str, str]:
    fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市", **settings)
    hz = fed.city(
        HZ, anchor=YRD, code="330100", name="杭州市", types=[*LICENCES, "resident-eid"], **settings
    )
    sz = fed.city(SZ, anchor=YRD, code="320500", name="苏州市", types=LICENCES, **settings)
    amr = _agency(hz, "11330100MB1958123", "杭州市市场监督管理局", LICENCES)
    psb = _agency(hz, "11330100002490365", "杭州市公安局", ["resident-eid"])
    return hz, sz, amr, psb


def test_a_hangzhou_licence_verifies_in_suzhou_and_its_revocation_follows(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        token = _issue(hz, amr, "business-licence")
        assert _reason(sz, token) is Reason.UNKNOWN_ISSUER  # before any sync
        report = _sync(fed, sz)
        assert report.changed
        assert f"{HZ}/agencies/{amr}" in report.leaves
        assert _reason(sz, token) is Reason.VALID

        row = fed.client(SZ).get("/trust/list")
        assert row.status_code == 200
        assert row.headers["content-type"] == "application/trustlist+jwt"
        again = fed.client(SZ).get("/trust/list", headers={"If-None-Match": row.headers["ETag"]})
        assert again.status_code == 304

        with hz.sessions() as session:
            from gateway.models import CredentialRow

            cid = session.query(CredentialRow.id).filter(CredentialRow.token == token).scalar()
        status.change(hz, credential_id=cid, action="revoke", reason="x", actor="t", agency_id=None)
        trustsync.refresh_status_lists(sz, fed.fetcher())
        assert _reason(sz, token) is Reason.VALID  # cached within the status list's ttl
        clock.advance(301)
        trustsync.refresh_status_lists(sz, fed.fetcher())
        assert _reason(sz, token) is Reason.REVOKED


def test_beijing_accepts_yrd_licences_but_not_its_eids_by_policy(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, _sz, amr, psb = _region(fed)
        jjj = fed.anchor(JJJ, region_id="jjj", region_name="京津冀", code="110000", name="北京市")
        bj = fed.city(BJ, anchor=JJJ, code="110100", name="北京市", types=LICENCES)
        yrd = fed.gateways[YRD]
        for here, there, name in ((jjj, YRD, "长三角"), (yrd, JJJ, "京津冀")):
            mine = "jjj" if here is jjj else "yrd"
            federation.trust_region(
                here,
                anchor_id=there,
                jwks=_pins(fed, there),
                name=name,
                policy=f"{mine}-accepts-{'yrd' if mine == 'jjj' else 'jjj'}-licences",
                accepted_types=LICENCES,
                actor="t",
            )
        licence = _issue(hz, amr, "business-licence")
        eid = _issue(hz, psb, "resident-eid")
        report = _sync(fed, bj)
        assert report.changed, report.failures
        assert _reason(bj, licence) is Reason.VALID
        state = bj.state
        result = verify_scanned(eid, trust=state.trust, statuses=state.statuses, now=clock.now)
        assert result.reason is Reason.NOT_ACCEPTED_BY_POLICY
        assert "jjj-accepts-yrd-licences" in result.detail


def test_a_peer_that_is_down_leaves_the_last_good_list_until_it_expires(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        token = _issue(hz, amr, "business-licence")
        _sync(fed, sz)
        assert _reason(sz, token) is Reason.VALID
        fed.transport.down.add(HZ)
        clock.advance(120)
        report = _sync(fed, sz)
        assert report.failures  # logged, not fatal
        assert _reason(sz, token) is Reason.VALID  # the last good list still holds
        clock.advance(3600)
        sz.reload()
        assert _reason(sz, token) is Reason.TRUST_LIST_STALE  # never UNKNOWN_ISSUER


def test_a_compromised_hangzhou_key_is_refused_in_suzhou_except_confirmed_tokens(
    tmp_path: Path, clock: FakeClock
) -> None:
    from gateway import keystore
    from gateway.models import SigningKeyRow
    from tests.conftest import PASSPHRASE
    from trust.claims import CREDENTIAL_TYP
    from trust.jws import sign_compact
    from trust.keys import SigningKey

    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        genuine = _issue(hz, amr, "business-licence")
        _sync(fed, sz)
        assert _reason(sz, genuine) is Reason.VALID
        with hz.sessions() as session:
            row = session.query(SigningKeyRow).filter(SigningKeyRow.agency_id == amr).one()
            stolen = SigningKey.from_encrypted_pem(row.private_pem, PASSPHRASE)
        clock.advance(600)
        keystore.compromise(hz, kid=row.kid, at=clock.now - 60, reason="leak", actor="t")
        forged_claims = orjson.loads(b64url_decode(genuine.split(".")[1]))
        forged_claims["jti"] = "20269999999.001"
        forged = sign_compact(
            forged_claims, stolen, typ=CREDENTIAL_TYP, kid=stolen.public.short_kid
        )

        clock.advance(60)
        _sync(fed, sz)  # one refresh: the compromise reaches Suzhou
        assert _reason(sz, genuine) is Reason.KEY_NOT_VALID_AT_ISSUANCE  # offline: fail closed
        assert _reason(sz, forged) is Reason.KEY_NOT_VALID_AT_ISSUANCE
        online = fed.client(SZ).post("/api/v1/verify", json={"qr": genuine}).json()
        assert online["reason"] == "VALID", online["detail"]  # Hangzhou confirmed it, signed
        refused = fed.client(SZ).post("/api/v1/verify", json={"qr": forged}).json()
        assert refused["reason"] == "KEY_NOT_VALID_AT_ISSUANCE"


def test_cities_follow_their_anchors_key_rotation_only_through_doubly_signed_roots(
    tmp_path: Path, clock: FakeClock
) -> None:
    from gateway import trustexport
    from gateway.models import AuditRow, FederationRow

    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        token = _issue(hz, amr, "business-licence")
        _sync(fed, sz)  # pins the anchor's root matching the keys pinned at join
        with sz.sessions() as session:
            before = {j["kid"] for j in session.get(FederationRow, 1).superior_jwks}  # type: ignore[union-attr]
        clock.advance(60)
        rotated = trustexport.rotate(fed.gateways[YRD], actor="operator")
        assert rotated.root.version == 2
        clock.advance(60)
        report = _sync(fed, sz)
        assert "anchor root" not in report.failures, report.failures
        with sz.sessions() as session:
            after = {j["kid"] for j in session.get(FederationRow, 1).superior_jwks}  # type: ignore[union-attr]
            followed = (
                session.query(AuditRow)
                .filter(AuditRow.action == "federation.follow_anchor_root")
                .count()
            )
        assert after == set(rotated.root.keys) != before
        assert followed == 1
        assert _reason(sz, token) is Reason.VALID  # chains resolve under the new anchor key


def test_a_root_signed_only_by_the_new_key_is_not_followed(
    tmp_path: Path, clock: FakeClock
) -> None:
    from gateway.models import FederationRow

    with federation_of(tmp_path, clock) as fed:
        _hz, sz, _amr, _psb = _region(fed)
        _sync(fed, sz)
        thief = fed.serve_a_thiefs_rotation(YRD)
        report = _sync(fed, sz)
        assert "anchor root" in report.failures
        with sz.sessions() as session:
            pinned = {j["kid"] for j in session.get(FederationRow, 1).superior_jwks}  # type: ignore[union-attr]
        assert thief.kid not in pinned


def test_a_trust_list_delta_turns_the_old_version_into_the_new(
    tmp_path: Path, clock: FakeClock
) -> None:
    from trust.trustlist.delta import apply_delta
    from trust.trustlist.document import verify_trust_list

    with federation_of(tmp_path, clock) as fed:
        hz, sz, _amr, _psb = _region(fed)
        _sync(fed, sz)
        keys = _pins(fed, SZ)
        from trust.keys import PublicKey

        signers = [PublicKey.from_jwk(k) for k in keys]
        old = verify_trust_list(fed.client(SZ).get("/trust/list").text, keys=signers,
                                now=clock.now, previous=None)  # fmt: skip
        _agency(hz, "11330100MB7654321", "杭州市卫生健康委员会", ["food-business-permit"])
        clock.advance(60)
        _sync(fed, sz)
        new = verify_trust_list(fed.client(SZ).get("/trust/list").text, keys=signers,
                                now=clock.now, previous=old)  # fmt: skip
        assert new.version == old.version + 1
        answer = fed.client(SZ).get("/trust/list", params={"since": old.version})
        assert answer.headers["content-type"] == "application/trustlist-delta+jwt"
        patched = apply_delta(old, answer.text, keys=signers, now=clock.now)
        assert patched.content_hash() == new.content_hash()
        assert fed.client(SZ).get("/trust/list", params={"since": 99}).status_code == 404


def test_a_key_published_under_two_kids_is_one_trust_list_entry(
    tmp_path: Path, clock: FakeClock
) -> None:
    # The issuer metadata lists each key under its full and its short kid (for JOSE libraries
    # that select keys by kid); the trust list takes the full entry alone.
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, psb = _region(fed)
        _sync(fed, sz)
        kids = [rec.key.kid for rec in sz.state.trust.keys]
        with hz.sessions() as session:
            published = {row.kid for row in session.scalars(select(SigningKeyRow))}
        assert sorted(kids) == sorted(published)
        assert {rec.issuer_id for rec in sz.state.trust.keys} == {
            f"{HZ}/agencies/{amr}",
            f"{HZ}/agencies/{psb}",
        }


def test_a_sync_that_loses_the_race_to_another_signer_keeps_its_version(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two syncs of one city (the background loop and an admin's `ecert federation sync`, or two
    # processes on one database) once both signed version n+1: the loser raised UNIQUE
    # trust_lists.version. The loser now keeps the winner's version.
    with federation_of(tmp_path, clock) as fed:
        # No background sync in any of the three: theirs would call the patched ``latest`` too
        # (CI, under load: the background loop of one city took the patch, so this sync never
        # met its rival), and one that signed first would leave this race nothing to lose.
        _hz, sz, _amr, _psb = _region(fed, federation_sync=False)
        read_latest = trustsync.latest
        raced: list[trustsync.SyncReport] = []

        def read_then_lose_the_race(gw: Gateway) -> Any:
            row = read_latest(gw)
            monkeypatch.setattr(trustsync, "latest", read_latest)  # once
            # the other signer commits between our read and our write
            raced.append(trustsync.sync_once(gw, fed.fetcher(), lifetime=3600, refresh=60))
            return row

        monkeypatch.setattr(trustsync, "latest", read_then_lose_the_race)
        report = trustsync.sync_once(sz, fed.fetcher(), lifetime=3600, refresh=60)
        assert raced[0].changed
        assert raced[0].version == 1
        assert (report.version, report.changed) == (1, False)
        assert trustsync.latest_version(sz) == 1
