"""An anchor follows the federation key rotations of its cities and of the regions it has
agreements with, as a city follows its own anchor's: only through roots signed by both the
pinned keys and the new ones (TUF §5.3). Nobody joins or agrees again."""

from __future__ import annotations

from pathlib import Path

from gateway import federation, trustexport
from gateway.core import Gateway
from gateway.models import AuditRow, SubordinateRow
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.test_federation_sync import (
    BJ,
    HZ,
    JJJ,
    LICENCES,
    YRD,
    _agency,
    _issue,
    _pins,
    _reason,
    _region,
    _sync,
)
from trust.trustlist.root import SignedRoot
from verify.reasons import Reason


def _two_regions(fed: Federation) -> tuple[Gateway, Gateway, str]:
    """长三角 (杭州, 苏州) and 京津冀 (北京) with licence agreements both ways; a 北京 agency."""
    _hz, sz, _amr, _psb = _region(fed)
    jjj = fed.anchor(JJJ, region_id="jjj", region_name="京津冀", code="110000", name="北京市")
    bj = fed.city(BJ, anchor=JJJ, code="110100", name="北京市", types=LICENCES)
    yrd = fed.gateways[YRD]
    for here, there, name, policy in (
        (jjj, YRD, "长三角", "jjj-accepts-yrd-licences"),
        (yrd, JJJ, "京津冀", "yrd-accepts-jjj-licences"),
    ):
        federation.trust_region(here, anchor_id=there, jwks=_pins(fed, there), name=name,
                                policy=policy, accepted_types=LICENCES, actor="t")  # fmt: skip
    bj_amr = _agency(bj, "11110000MB1234567", "北京市市场监督管理局", LICENCES)
    return sz, bj, bj_amr


def _subordinate_kids(anchor: Gateway, entity_id: str) -> set[str]:
    with anchor.sessions() as session:
        row = session.get(SubordinateRow, entity_id)
        assert row is not None
        return {str(j["kid"]) for j in row.jwks}


def _followed(anchor: Gateway, action: str, entity_id: str) -> int:
    with anchor.sessions() as session:
        return (
            session.query(AuditRow)
            .filter(AuditRow.action == action, AuditRow.subject == entity_id)
            .count()
        )


def test_a_rotated_region_anchor_is_followed_and_its_licences_still_verify(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        sz, bj, bj_amr = _two_regions(fed)
        yrd = fed.gateways[YRD]
        licence = _issue(bj, bj_amr, "business-licence")
        _sync(fed, sz)
        assert _reason(sz, licence) is Reason.VALID
        before = _subordinate_kids(yrd, JJJ)

        clock.advance(60)
        rotated = trustexport.rotate(fed.gateways[JJJ], actor="operator")
        clock.advance(60)
        _sync(fed, bj)  # 北京 follows its own anchor
        report = _sync(fed, yrd)  # 长三角 follows 京津冀
        assert not any(k.startswith("region root") for k in report.failures), report.failures
        clock.advance(60)
        _sync(fed, sz)

        assert _subordinate_kids(yrd, JJJ) == set(rotated.root.keys) != before
        assert _followed(yrd, "federation.follow_region_root", JJJ) == 1
        assert _reason(sz, licence) is Reason.VALID  # 北京's chain resolves under the new key


def test_a_city_that_rotates_its_key_stays_vouched_for_without_joining_again(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        yrd = fed.gateways[YRD]
        licence = _issue(hz, amr, "business-licence")
        _sync(fed, sz)
        assert _reason(sz, licence) is Reason.VALID
        before = _subordinate_kids(yrd, HZ)

        clock.advance(60)
        rotated = trustexport.rotate(hz, actor="operator")
        clock.advance(60)
        report = _sync(fed, yrd)  # 长三角 follows 杭州
        assert f"city root {HZ}" not in report.failures, report.failures
        clock.advance(60)
        _sync(fed, sz)

        assert _subordinate_kids(yrd, HZ) == set(rotated.root.keys) != before
        assert _followed(yrd, "federation.follow_city_root", HZ) == 1
        assert _reason(sz, licence) is Reason.VALID


def test_a_region_root_not_signed_by_the_pinned_keys_is_not_followed(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        _two_regions(fed)
        yrd = fed.gateways[YRD]
        before = _subordinate_kids(yrd, JJJ)
        thief = fed.serve_a_thiefs_rotation(JJJ)  # 京津冀's server, taken over
        report = _sync(fed, yrd)
        assert f"region root {JJJ}" in report.failures
        assert "root keys, found 0" in report.failures[f"region root {JJJ}"]
        assert _subordinate_kids(yrd, JJJ) == before
        assert thief.kid not in before


def test_a_strangers_root_claiming_the_trusted_version_changes_no_pins(
    tmp_path: Path, clock: FakeClock
) -> None:
    from gateway.models import FederationRow

    with federation_of(tmp_path, clock) as fed:
        sz, _bj, _bj_amr = _two_regions(fed)
        yrd = fed.gateways[YRD]
        _sync(fed, sz)  # 苏州 stores 长三角's root version 1
        with sz.sessions() as session:
            row = session.get(FederationRow, 1)
            assert row is not None
            city_pins = {str(j["kid"]) for j in row.superior_jwks}
        region_pins = _subordinate_kids(yrd, JJJ)
        thieves = [
            fed.serve_a_thiefs_rotation(YRD, same_version=True),
            fed.serve_a_thiefs_rotation(JJJ, same_version=True),
        ]
        for gw in (sz, yrd):
            _sync(fed, gw)
        with sz.sessions() as session:
            row = session.get(FederationRow, 1)
            assert row is not None
            assert {str(j["kid"]) for j in row.superior_jwks} == city_pins
            assert SignedRoot.from_bytes(row.superior_root or "").root.keys.keys() == city_pins
        assert _subordinate_kids(yrd, JJJ) == region_pins
        assert not {t.kid for t in thieves} & (city_pins | region_pins)


def test_a_city_that_rotates_its_own_key_keeps_verifying_its_peers_credentials(
    tmp_path: Path, clock: FakeClock
) -> None:
    # Issue 8: the stored trust list is verified with the city's own root; after a rotation
    # only the new key may sign trust lists, so the next sync signs the list again with it.
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        licence = _issue(hz, amr, "business-licence")
        _sync(fed, sz)
        assert _reason(sz, licence) is Reason.VALID

        clock.advance(60)
        rotated = trustexport.rotate(sz, actor="operator")
        clock.advance(60)
        _sync(fed, sz)
        trusted = sz.live.peers.held
        assert trusted is not None
        assert trusted.root.version == rotated.root.version
        assert _reason(sz, licence) is Reason.VALID
