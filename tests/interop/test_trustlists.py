"""Our signed trust lists, a trust list delta, entity configurations and status lists, verified
by node ``jose`` with nothing but keys the federation publishes: the federation keys in a
gateway's entity configuration (``jwks``) and an agency's credential keys in its leaf
configuration's ``ecert_issuer`` metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from stdnum.cn import uscc

from gateway import agencies, issuance, trustsync
from gateway.core import Gateway
from gateway.models import TrustListRow
from gateway.state import stored_trust_list
from tests.conftest import FakeClock
from tests.gateway.federation_helpers import Federation, federation_of
from tests.gateway.holders import fresh_subject
from tests.interop.conftest import NodeRunner
from trust.encoding import b64url_decode
from trust.keys import PublicKey
from trust.trustlist.delta import apply_delta

YRD, HZ = "http://127.0.0.1:9100", "http://127.0.0.1:9101"
LICENCE = "business-licence"


def _claims(token: str) -> dict[str, Any]:
    """A compact JWS's payload, unverified (jose verifies it below)."""
    payload: dict[str, Any] = orjson.loads(b64url_decode(token.split(".")[1]))
    return payload


def _agency(gw: Gateway, first17: str, name: str) -> str:
    row, _ = agencies.add_agency(
        gw, name=name, uscc=first17 + uscc.calc_check_digit(first17), types=[LICENCE], actor="t"
    )
    issuance.issue(
        gw, agency_id=row.id, request=issuance.IssueRequest(LICENCE, fresh_subject(LICENCE))
    )
    return row.id


def _region(fed: Federation) -> Gateway:
    fed.anchor(YRD, region_id="yrd", region_name="长三角", code="310000", name="上海市")
    return fed.city(HZ, anchor=YRD, code="330100", name="杭州市", types=[LICENCE])


def _get(fed: Federation, origin: str, path: str) -> str:
    answer = fed.client(origin).get(path)
    assert answer.status_code == 200, (path, answer.text)
    return answer.text


def test_a_trust_list_and_its_delta_verify_in_jose_with_the_entity_configurations_keys(
    tmp_path: Path, clock: FakeClock, node: NodeRunner
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz = _region(fed)
        _agency(hz, "11330100MB1958123", "杭州市市场监督管理局")
        assert trustsync.sync_once(hz, fed.fetcher(), lifetime=3600, refresh=60).version == 1
        clock.advance(10)
        _agency(hz, "11330100MB1958140", "杭州市数据资源管理局")
        assert trustsync.sync_once(hz, fed.fetcher(), lifetime=3600, refresh=60).version == 2
        configuration = _get(fed, HZ, "/.well-known/openid-federation")
        whole = _get(fed, HZ, "/trust/list")
        since_v1 = _get(fed, HZ, "/trust/list?since=1")
        with hz.sessions() as session:
            first = session.get(TrustListRow, 1)
            assert first is not None
            v1 = stored_trust_list(first.token)
        anchor_keys = _claims(_get(fed, YRD, "/.well-known/openid-federation"))["jwks"]

    keys = _claims(configuration)["jwks"]  # the federation keys this gateway publishes
    verdicts = node("jose_verify", {"tokens": [configuration, whole, since_v1], "jwks": keys})
    for verdict, token, typ in zip(
        verdicts,
        (configuration, whole, since_v1),
        ("entity-statement+jwt", "trustlist+jwt", "trustlist-delta+jwt"),
        strict=True,
    ):
        assert verdict["ok"], verdict
        assert verdict["header"]["typ"] == typ
        assert verdict["payload"] == _claims(token)
    # what jose verified is what our own code reads: version 2, and v1 + the delta = v2
    v2 = stored_trust_list(whole)
    assert verdicts[1]["payload"]["version"] == v2.version == 2
    federation_keys = [PublicKey.from_jwk(k) for k in keys["keys"]]
    assert apply_delta(v1, since_v1, keys=federation_keys, now=clock.now) == v2
    # a control: the anchor's federation keys do not verify the city's list
    refused = node("jose_verify", {"tokens": [whole], "jwks": anchor_keys})
    assert refused[0]["code"] == "ERR_JWKS_NO_MATCHING_KEY"


def test_a_status_list_verifies_in_jose_with_the_keys_its_agency_publishes_in_the_federation(
    tmp_path: Path, clock: FakeClock, node: NodeRunner
) -> None:
    with federation_of(tmp_path, clock) as fed:
        hz = _region(fed)
        agency = _agency(hz, "11330100MB1958123", "杭州市市场监督管理局")
        leaf = _get(fed, HZ, f"/agencies/{agency}/.well-known/openid-federation")
        issuer = _claims(leaf)["metadata"]["ecert_issuer"]
        status_lists = [_get(fed, HZ, uri.removeprefix(HZ)) for uri in issuer["status_lists"]]

    assert len(status_lists) == 1
    # the leaf configuration is self-signed with the agency's federation keys (jwks) ...
    signed_leaf = node("jose_verify", {"tokens": [leaf], "jwks": _claims(leaf)["jwks"]})
    assert signed_leaf[0]["ok"], signed_leaf
    # ... and names its credential keys in its metadata: they verify its status list
    verdicts = node("jose_verify", {"tokens": status_lists, "jwks": issuer["jwks"]})
    assert verdicts[0]["ok"], verdicts
    assert verdicts[0]["header"]["typ"] == "statuslist+jwt"
    assert verdicts[0]["payload"]["sub"] == issuer["status_lists"][0]
