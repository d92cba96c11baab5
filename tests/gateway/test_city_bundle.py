"""A kiosk bundle from a city in no federation (issue 12: ``ecert trust export`` on a single
city said to run ``federation sync``, which said the city is in no federation)."""

from __future__ import annotations

import pytest

from gateway import city_bundle, issuance, keystore, status, trustexport, trustsync
from gateway.core import Gateway
from gateway.models import FederationKeyRow
from tests.conftest import Agency, FakeClock
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.trustlist.bundle import load_bundle
from trust.trustlist.errors import RollbackError
from trust.trustlist.root import load_initial_root
from verify.reasons import Reason
from verify.verifier import verify_scanned

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _licence(gw: Gateway, amr: Agency) -> tuple[str, str]:
    row, _ = issuance.issue(
        gw, agency_id=amr.id,
        request=issuance.IssueRequest(type="business-licence",
                                      subject=SAMPLE_SUBJECTS["business-licence"]),
    )  # fmt: skip
    return row.id, row.token


def test_a_single_city_exports_a_bundle_its_kiosk_verifies_with(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    assert not trustsync.federated(gw)
    cid, token = _licence(gw, amr)
    first = trustexport.export_bundle(gw)
    kiosk = load_bundle(first, pinned_root=None, now=clock.now, trust_on_first_use=True)
    valid = verify_scanned(token, trust=kiosk.snapshot, statuses=kiosk.statuses, now=clock.now)
    assert valid.reason is Reason.VALID, valid.detail
    assert valid.issuer is not None
    assert [(c.name, c.role) for c in valid.issuer.chain] == [
        ("杭州市市场监督管理局", "agency"), ("杭州市", "city")]  # fmt: skip
    assert kiosk.root.region_id == "330100"
    assert not trustsync.federated(gw)  # the export took no federation role

    status.change(gw, credential_id=cid, action="revoke", reason="依法吊销", actor="t",
                  agency_id=None, code="07")  # fmt: skip
    keystore.rotate(gw, agency_id=amr.id, actor="t")  # a new key: both keys are listed
    clock.advance(60)
    second = trustexport.export_bundle(gw)
    pinned = load_initial_root(_root_of(first))
    later = load_bundle(second, pinned_root=pinned, now=clock.now, previous=kiosk.trust_list)
    revoked = verify_scanned(token, trust=later.snapshot, statuses=later.statuses, now=clock.now)
    assert revoked.reason is Reason.REVOKED, revoked.detail
    assert later.trust_list.version > kiosk.trust_list.version
    with pytest.raises(RollbackError):  # the older export, once the newer one was taken
        load_bundle(first, pinned_root=pinned, now=clock.now, previous=later.trust_list)
    with gw.sessions() as session:  # one federation key, made by the first export
        assert session.query(FederationKeyRow).count() == 1


def _root_of(bundle: bytes) -> bytes:
    import orjson

    return orjson.dumps(orjson.loads(bundle)["root"])


def test_a_kiosk_pinned_years_ago_walks_the_derived_roots(
    gw: Gateway, amr: Agency, clock: FakeClock
) -> None:
    _cid, token = _licence(gw, amr)
    first = trustexport.export_bundle(gw)
    pinned = load_initial_root(_root_of(first))
    assert pinned.version == 1
    for years in (1, 3):
        clock.advance(years * 365 * 86_400)
        keystore.rotate(gw, agency_id=amr.id, actor="t")  # keep a key that signs now
        later = load_bundle(trustexport.export_bundle(gw), pinned_root=pinned, now=clock.now)
        assert later.root.version > 1
        assert later.root.expires - clock.now > city_bundle.ROOT_RENEW_BEFORE - 86_400
        result = verify_scanned(token, trust=later.snapshot, statuses=later.statuses,
                                now=clock.now)  # fmt: skip
        assert result.reason is Reason.VALID, result.detail


def test_the_roots_are_the_same_content_each_time(gw: Gateway, clock: FakeClock) -> None:
    key, since = city_bundle.own_key(gw)
    assert city_bundle.own_key(gw)[1] == since  # made once
    one = city_bundle.roots(
        key, since=since, now=clock.now, region_id="330100", region_name="杭州市"
    )
    two = city_bundle.roots(
        key, since=since, now=clock.now, region_id="330100", region_name="杭州市"
    )
    assert [r.root.canonical_bytes() for r in one] == [r.root.canonical_bytes() for r in two]
    many = city_bundle.roots(key, since=since, now=since + 100 * 365 * 86_400,
                             region_id="330100", region_name="杭州市")  # fmt: skip
    assert len(many) == 32  # bounded: a kiosk walks at most MAX_ROOT_STEPS versions
