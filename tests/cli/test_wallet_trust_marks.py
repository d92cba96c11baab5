"""The CLI wallet and a counter's trust marks (in process, no sockets): a hotel desk granted the
police-counter role by its region's anchor may ask the wallet for the ID number; a revoked, a
forged or an unanswerable mark grants nothing, and the wallet refuses as before."""

from __future__ import annotations

from contextlib import closing
from typing import Any

import pytest

from cli.wallet_present import _granted_by_marks
from gateway import trustmarks
from gateway.models import VerifierTrustMarkRow
from tests.gateway.trustmark_helpers import HZ, POLICE, YRD, Desk
from trust.errors import DataError
from trust.federation import (
    ECERT_VERIFIER,
    ResolvedChain,
    resolve_chain,
    sign_trust_mark,
    verify_entity_configuration,
)
from trust.keys import SigningKey
from trust.oid4vp import RequestObject
from trust.oid4vp_wallet import check_against_role


def _asked(desk: Desk) -> RequestObject:
    return RequestObject(
        client_id=f"openid_federation:{desk.entity_id}",
        response_uri=f"{HZ}/oid4vp/responses/pr-1",
        nonce="n" * 32,
        state="s" * 32,
        vct=f"{HZ}/vct/resident-eid",
        claims=("name", "id_number"),
        purpose="旅馆住宿登记",
        iat=desk.fed.clock.now,
        exp=desk.fed.clock.now + 300,
    )


def _as_the_wallet_sees_it(desk: Desk) -> tuple[ResolvedChain, dict[str, Any]]:
    """The desk resolved to the anchor the holder pinned, as ``ecert wallet present`` does."""
    now = desk.fed.clock.now
    anchor = verify_entity_configuration(
        desk.fed.client(YRD).get("/.well-known/openid-federation").text, now=now
    )
    with closing(desk.fed.fetcher()) as http:
        chain = resolve_chain(
            desk.entity_id, fetcher=http, trust_anchors={YRD: list(anchor.jwks)}, now=now
        )
    return chain, dict(chain.metadata[ECERT_VERIFIER])


def _wallet_check(desk: Desk) -> str:
    chain, meta = _as_the_wallet_sees_it(desk)
    asked = _asked(desk)
    with closing(desk.fed.fetcher()) as http:
        meta = _granted_by_marks(http, chain, meta, asked, desk.entity_id, desk.fed.clock.now)
    return check_against_role(asked, meta, desk.entity_id)


def test_the_wallet_takes_a_request_a_valid_mark_allows(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(DataError, match="id_number"):
        _wallet_check(desk)
    desk.attach(desk.grant().token)
    assert _wallet_check(desk) == "resident-eid"
    assert "公安窗口 · Police counter" in capsys.readouterr().err


def test_the_wallet_refuses_once_the_anchor_revoked_the_mark(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    issued = desk.grant()
    desk.attach(issued.token)
    trustmarks.revoke(desk.fed.gateways[YRD], mark_id=issued.id, actor="t")
    with pytest.raises(DataError, match="id_number"):
        _wallet_check(desk)
    assert "信任标志已撤销" in capsys.readouterr().err


def test_the_wallet_refuses_when_the_status_cannot_be_had(desk: Desk) -> None:
    desk.attach(desk.grant().token)
    chain, meta = _as_the_wallet_sees_it(desk)
    desk.fed.transport.down.add(YRD)
    with closing(desk.fed.fetcher()) as http:
        widened = _granted_by_marks(
            http, chain, meta, _asked(desk), desk.entity_id, desk.fed.clock.now
        )
    with pytest.raises(DataError, match="id_number"):
        check_against_role(_asked(desk), widened, desk.entity_id)


def test_the_wallet_ignores_a_forged_mark_the_city_publishes(
    desk: Desk, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = sign_trust_mark(
        iss=YRD, sub=desk.entity_id, trust_mark_type=POLICE, iat=desk.fed.clock.now, exp=None,
        key=SigningKey.generate(),
    )  # fmt: skip
    with desk.fed.gateways[HZ].transaction() as session:  # a city that cheats
        session.add(
            VerifierTrustMarkRow(
                verifier_id=desk.id, trust_mark_type=POLICE, role="police-counter",
                token=forged, exp=None, added_at=desk.fed.clock.now,
            )
        )  # fmt: skip
    with pytest.raises(DataError, match="id_number"):
        _wallet_check(desk)
    assert "UntrustedTrustMark" in capsys.readouterr().err
