"""Trust bundles for air-gapped kiosks: export, offline verification, rollback and freeze."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import keystore, status, trustexport, trustsync
from gateway.models import CredentialRow
from gateway.state import stored_trust_list, type_info
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.gateway.test_federation_sync import LICENCES, _issue, _region, _sync
from trust.trustlist.bundle import load_bundle
from trust.trustlist.errors import RollbackError, TrustListExpired
from verify.reasons import Reason
from verify.verifier import verify_scanned


def _kiosk(data: bytes, now: int, previous=None):  # type: ignore[no-untyped-def]
    # no types of its own: what the credential types are called comes from the signed list
    return load_bundle(data, pinned_root=None, now=now, previous=previous,
                       trust_on_first_use=True)  # fmt: skip


def test_an_offline_kiosk_verifies_from_the_bundle_alone(tmp_path: Path, clock: FakeClock) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        token = _issue(hz, amr, "business-licence")
        _sync(fed, sz)
        first = trustexport.export_bundle(sz)
        loaded = _kiosk(first, clock.now)
        result = verify_scanned(
            token, trust=loaded.snapshot, statuses=loaded.statuses, now=clock.now
        )
        assert result.reason is Reason.VALID
        assert result.credential is not None
        assert (result.credential.type_name_zh, result.credential.type_name_en) == (
            "营业执照",
            "Business licence",
        )

        with hz.sessions() as session:
            cid = session.query(CredentialRow.id).filter(CredentialRow.token == token).scalar()
        status.change(hz, credential_id=cid, action="revoke", reason="x", actor="t", agency_id=None)
        keystore.rotate(hz, agency_id=amr, actor="t")  # a new key: the trust list changes too
        clock.advance(301)
        _sync(fed, sz)
        second = trustexport.export_bundle(sz)
        newer = _kiosk(second, clock.now, previous=loaded.trust_list)
        revoked = verify_scanned(
            token, trust=newer.snapshot, statuses=newer.statuses, now=clock.now
        )
        assert revoked.reason is Reason.REVOKED, revoked.detail

        assert newer.trust_list.version > loaded.trust_list.version
        with pytest.raises(RollbackError):
            _kiosk(first, clock.now, previous=newer.trust_list)  # an older list: refused
        with pytest.raises(TrustListExpired):
            _kiosk(second, clock.now + 10 * 86_400)


def test_the_signed_list_describes_the_types_its_issuers_may_issue(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with federation_of(tmp_path, clock) as fed:
        _hz, sz, _amr, _psb = _region(fed)
        # signed as by a gateway from before lists described their types ...
        monkeypatch.setattr(trustsync, "described_types", lambda gw, entries: None)
        first = _sync(fed, sz).version
        monkeypatch.undo()
        assert first is not None
        assert stored_trust_list(trustsync.served_trust_list(sz, None)[0].token).types is None
        # ... the next sync signs a version that does, though nothing else changed
        clock.advance(10)
        assert _sync(fed, sz).version == first + 1
        tl = stored_trust_list(trustsync.served_trust_list(sz, None)[0].token)
        issued = sorted({code for e in tl.entries for code in e.types})
        assert issued == sorted([*LICENCES, "resident-eid"])  # 杭州's agencies' grants
        assert tl.types == tuple(type_info(sz.types.get(code)) for code in issued)
        licence = tl.types[0]
        assert (licence.qr_code, licence.name_zh, licence.name_en) == (
            "BL",
            "营业执照",
            "Business licence",
        )
        assert licence.label("uscc").zh == "统一社会信用代码"
        (eid,) = [t for t in tl.types if t.code == "resident-eid"]  # a derived field is labelled
        assert eid.label("id_number_masked").zh == "公民身份号码（部分隐藏）"
        assert eid.label("id_number_masked").en == "Citizen ID number (masked)"
        clock.advance(10)
        assert _sync(fed, sz).version == first + 1  # described alike: no new version


def test_trust_root_is_served_and_stable(tmp_path: Path, clock: FakeClock) -> None:
    with federation_of(tmp_path, clock) as fed:
        _hz, _sz, _amr, _psb = _region(fed)
        one = fed.client("http://127.0.0.1:9102").get("/trust/root")
        two = fed.client("http://127.0.0.1:9102").get("/trust/root")
        assert one.status_code == 200
        assert one.content == two.content
        assert one.json()["signed"]["version"] == 1


def test_the_root_is_renewed_before_it_expires_and_followers_walk_to_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    from gateway.models import AuditRow
    from tests.gateway.test_federation_sync import YRD
    from trust.trustlist.root import check_root_fresh, load_initial_root, update_root

    with federation_of(tmp_path, clock) as fed:
        _hz, sz, _amr, _psb = _region(fed)
        yrd = fed.gateways[YRD]
        first = trustexport.signed_root(yrd)
        assert "anchor root" not in _sync(fed, sz).failures  # 苏州 stores the anchor's v1
        clock.advance(trustexport.ROOT_LIFETIME - trustexport.ROOT_RENEW_BEFORE - 60)
        trustexport.prepare(yrd)  # what a gateway does at start and on every sync tick
        assert trustexport.signed_root(yrd) == first  # not yet within the renewal window
        clock.advance(120)
        assert trustexport.signed_root(yrd) == first  # a read renews nothing ...
        trustexport.prepare(yrd)  # ... the next tick does
        trustexport.prepare(yrd)
        renewed = trustexport.signed_root(yrd)
        assert renewed.root.version == first.root.version + 1
        assert renewed.root.keys == first.root.keys
        assert renewed.root.expires == clock.now + trustexport.ROOT_LIFETIME
        assert trustexport.signed_root(yrd) == renewed  # one renewal, not one a call
        assert trustexport.root_history(yrd) == [first.to_bytes().decode()]
        with yrd.sessions() as session:
            renewals = session.query(AuditRow).filter(AuditRow.action == "federation.renew_root")
            assert renewals.count() == 1
        # A kiosk pinned to version 1 walks to version 2 and finds it fresh past v1's expiry ...
        after = first.root.expires + 1
        newest = update_root(load_initial_root(first), {2: renewed}, now=after)
        check_root_fresh(newest, after)
        # ... and so does 苏州, which follows its anchor's roots.
        clock.advance(trustexport.ROOT_RENEW_BEFORE)
        assert "anchor root" not in _sync(fed, sz).failures
