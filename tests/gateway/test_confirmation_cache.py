"""The asking city's cache of issuance confirmations: an entry holds only while the issuing
city's compromise time is the one it was confirmed against, and refusals stay bounded."""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway import confirmations, keystore, trustsync
from gateway.models import SigningKeyRow
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import federation_of
from tests.gateway.test_federation_sync import HZ, SZ, _issue, _region


def test_a_cached_confirmation_does_not_outlive_a_backdated_compromise(
    tmp_path: Path, clock: FakeClock
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz, sz, amr, _psb = _region(fed)
        clock.advance(100)
        genuine, issued_at = _issue(hz, amr, "business-licence"), clock.now
        with hz.sessions() as session:
            kid = session.query(SigningKeyRow).filter(SigningKeyRow.agency_id == amr).one().kid

        def sync() -> None:
            trustsync.sync_once(sz, fed.fetcher(), lifetime=3600, refresh=60)
            trustsync.refresh_status_lists(sz, fed.fetcher())
            sz.reload()

        def online() -> str:
            answer = fed.client(SZ).post("/api/v1/verify", json={"qr": genuine})
            return str(answer.json()["reason"])

        clock.advance(600)
        keystore.compromise(hz, kid=kid, at=clock.now - 60, reason="leak", actor="t")
        clock.advance(60)
        sync()
        assert online() == "VALID"  # 杭州 confirms it; 苏州 caches the confirmation

        clock.advance(60)  # 杭州 learns the key leaked before this licence was issued
        keystore.compromise(hz, kid=kid, at=issued_at, reason="leak was earlier", actor="t")
        clock.advance(60)
        sync()
        digest = hashlib.sha256(genuine.encode()).hexdigest()
        assert (
            fed.client(HZ).get("/federation/confirm", params={"token_hash": digest}).status_code
            == 404
        )
        assert online() == "KEY_NOT_VALID_AT_ISSUANCE"


def test_refusals_are_remembered_but_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confirmations, "MAX_CACHE", 50)
    clock = SimpleNamespace(now=1_790_000_000)
    trust = SimpleNamespace(key_records=lambda kid: [], issuers={})
    confirmer = confirmations.Confirmer(
        clock=lambda: clock.now,
        fetcher=None,  # type: ignore[arg-type]
        anchors=dict,
    )
    for i in range(60):  # a key thief's distinct forgeries
        assert not confirmer.ask("x.y.z", i.to_bytes(32, "big"), trust)  # type: ignore[arg-type]
    assert len(confirmer.refused_until) == 50
    clock.now += confirmations.NEGATIVE_TTL + 1  # every refusal ran out
    assert not confirmer.ask("x.y.z", b"\xff" * 32, trust)  # type: ignore[arg-type]
    assert len(confirmer.refused_until) == 1
