"""Trust bundles for air-gapped kiosks: export, offline verification, rollback and freeze."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import keystore, status, trustexport
from gateway.models import CredentialRow
from gateway.state import type_info
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.gateway.test_federation_sync import _issue, _region, _sync
from trust.trustlist_bundle import load_bundle
from trust.trustlist_errors import RollbackError, TrustListExpired
from verify.reasons import Reason
from verify.verifier import verify_scanned


def _kiosk(data: bytes, now: int, types: list, previous=None):  # type: ignore[no-untyped-def]
    return load_bundle(data, pinned_root=None, now=now, types=types, previous=previous,
                       trust_on_first_use=True)  # fmt: skip


def test_an_offline_kiosk_verifies_from_the_bundle_alone(tmp_path: Path, clock: FakeClock) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        token = _issue(hz, amr, "business-licence")
        _sync(fed, sz)
        types = [type_info(t) for t in sz.types]
        first = trustexport.export_bundle(sz)
        loaded = _kiosk(first, clock.now, types)
        result = verify_scanned(
            token, trust=loaded.snapshot, statuses=loaded.statuses, now=clock.now
        )
        assert result.reason is Reason.VALID

        with hz.sessions() as session:
            cid = session.query(CredentialRow.id).filter(CredentialRow.token == token).scalar()
        status.change(hz, credential_id=cid, action="revoke", reason="x", actor="t", agency_id=None)
        keystore.rotate(hz, agency_id=amr, actor="t")  # a new key: the trust list changes too
        clock.advance(301)
        _sync(fed, sz)
        second = trustexport.export_bundle(sz)
        newer = _kiosk(second, clock.now, types, previous=loaded.trust_list)
        revoked = verify_scanned(
            token, trust=newer.snapshot, statuses=newer.statuses, now=clock.now
        )
        assert revoked.reason is Reason.REVOKED, revoked.detail

        assert newer.trust_list.version > loaded.trust_list.version
        with pytest.raises(RollbackError):
            _kiosk(first, clock.now, types, previous=newer.trust_list)  # an older list: refused
        with pytest.raises(TrustListExpired):
            _kiosk(second, clock.now + 10 * 86_400, types)


def test_trust_root_is_served_and_stable(tmp_path: Path, clock: FakeClock) -> None:
    with federation_of(tmp_path, clock) as fed:
        _hz, _sz, _amr, _psb = _region(fed)
        one = fed.client("http://127.0.0.1:9102").get("/trust/root")
        two = fed.client("http://127.0.0.1:9102").get("/trust/root")
        assert one.status_code == 200
        assert one.content == two.content
        assert one.json()["signed"]["version"] == 1
