"""The trust chains our gateways publish, checked by OpenID Federation code nobody here wrote.

The six gateways of ``make demo-federation`` (长三角: 杭州, 苏州; 京津冀: 北京, 天津) run as real
``ecert serve`` processes on free loopback ports; everything below goes over HTTP.

- PyPI ``pygrindvakt`` 0.2.0 (Rust grindvakt) resolves a 杭州 agency up to the 长三角 anchor
  and a 北京 agency through 京津冀 under the regions' agreement, by the anchor's resolve
  endpoint, validating the resolve response and the ``trust_chain`` it carries. Its metadata
  must equal what our resolver (:func:`trust.federation.resolve_chain`) finds over HTTP, and
  what pygrindvakt's own primitives compute from the statements themselves: each statement
  verified with its superior's keys (``federation.verify_typed``) and every superior's
  ``metadata_policy`` applied (``federation.apply_policy``). It also reads our §8.9 errors.
- node ``jose`` verifies entity statements (configurations and subordinate statements) with
  ``createLocalJWKSet`` over the issuer's ``jwks`` and ``compactVerify``.

Library bugs found and not bent to (see the issue): pygrindvakt's ``apply_policy`` refuses a
value outside ``subset_of`` ("violates subset_of constraint") where OpenID Federation 1.0
§6.1.3.1.5 assigns the intersection, so a chain that narrows cannot be recomputed with it (the
demo's chains do not narrow; its resolver takes the resolve response's metadata and accepts
narrowed ones). ``@openid-federation/core`` 0.2.1 (npm) resolves none of our chains: its
metadata schema drops entity types it does not know (``ecert_issuer``, ``ecert_gateway``), its
``subset_of`` then throws on the absent parameter (§6.1.3.1.5 applies only "if the metadata
parameter is present"), and ``resolveTrustChains`` swallows the error and returns no chain.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pygrindvakt import InternalError
from pygrindvakt import federation as gv
from pygrindvakt.http import ReqwestClient

from cli.federation_demo import SPECS, start_federation
from cli.federation_demo_procs import DemoFederation
from gateway.peers import HttpFetcher
from tests.cli.helpers import free_port
from tests.interop.conftest import NodeRunner
from trust.federation import (
    ENTITY_STATEMENT_TYP,
    URL_PREFIXES,
    ResolvedChain,
    resolve_chain,
    verify_entity_configuration,
)
from trust.federation.statements import unverified_payload

pytestmark = pytest.mark.slow

WAIT = 60.0  # seconds: the bound of every wait
ISSUERS = 5  # the demo's agencies: 杭州 2, 苏州, 北京, 天津 1 each


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFederation]:
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(SPECS):
        ports = {s.key: free_port() for s in SPECS}
    running = start_federation(
        tmp_path_factory.mktemp("interop") / "demo", ports=ports, refresh=30, status_ttl=300,
        postgres=None,
    )  # fmt: skip
    try:
        _wait_until_the_anchor_knows_every_issuer(running)
        yield running
    finally:
        running.stop()


def _wait_until_the_anchor_knows_every_issuer(fed: DemoFederation) -> None:
    """The anchor's resolve endpoint answers only for entities its trust data knows."""
    deadline = time.monotonic() + WAIT
    seen: Any = None
    with httpx.Client(timeout=10.0) as http:
        while time.monotonic() < deadline:
            seen = http.get(f"{fed['yrd'].url}/healthz").json()["federation"]
            if seen["issuers_resolved"] >= ISSUERS:
                return
            time.sleep(0.25)
    raise AssertionError(f"长三角 did not resolve {ISSUERS} issuers within {WAIT:.0f}s: {seen}")


def _agency(fed: DemoFederation, city: str) -> str:
    return f"{fed[city].url}/agencies/{fed[city].agencies[0]['id']}"


def _configuration(url: str) -> str:
    with httpx.Client(timeout=10.0) as http:
        answer = http.get(f"{url}/.well-known/openid-federation")
    assert answer.status_code == 200, answer.text
    return answer.text


def _pinned(anchor: str) -> dict[str, Any]:
    """The anchor's federation keys, as a relying party pins them out of band."""
    jwks: dict[str, Any] = gv.verify_self_signed(_configuration(anchor)).jwks()
    return jwks


def _ours(sub: str, anchor: str) -> ResolvedChain:
    ec = verify_entity_configuration(_configuration(anchor), now=int(time.time()))
    fetcher = HttpFetcher()
    try:
        return resolve_chain(
            sub, fetcher=fetcher, trust_anchors={anchor: ec.jwks}, now=int(time.time())
        )
    finally:
        fetcher.close()


def _recomputed_by_pygrindvakt(chain: ResolvedChain) -> dict[str, Any]:
    """The subject's metadata from its chain's statements, with pygrindvakt's primitives only:
    each statement verified with its superior's keys, then every superior's policy applied."""
    tokens = chain.chain.tokens
    subject = gv.verify_self_signed(tokens[0])
    for j in range(len(tokens) - 1):
        superior = gv.decode_unverified(tokens[j + 1])
        gv.verify_typed(tokens[j], superior.jwks(), ENTITY_STATEMENT_TYP)  # raises if forged
    anchor = gv.verify_self_signed(tokens[-1])
    assert anchor.iss() == anchor.sub() == chain.anchor_id
    metadata: dict[str, Any] = subject.claims["metadata"]
    for token in reversed(tokens[1:-1]):  # the anchor's statement first, §6.1.4.1
        policy = gv.decode_unverified(token).claims.get("metadata_policy")
        if policy:
            metadata = gv.apply_policy(metadata, policy)
    return metadata


@pytest.mark.parametrize(
    ("city", "anchor", "path"),
    [
        ("hangzhou", "yrd", ["hangzhou", "yrd"]),
        ("beijing", "yrd", ["beijing", "jjj", "yrd"]),  # across the regions' agreement
    ],
    ids=["hangzhou-agency-up-to-yrd", "beijing-agency-through-jjj-to-yrd"],
)
def test_pygrindvakt_resolves_our_chains_to_the_metadata_we_resolve(
    fed: DemoFederation, city: str, anchor: str, path: list[str]
) -> None:
    sub, anchor_id = _agency(fed, city), fed[anchor].url
    theirs = gv.resolve_via_trust_anchors(
        ReqwestClient(connect_timeout=5, read_timeout=10, request_timeout=20),
        sub,
        {anchor_id: _pinned(anchor_id)},
    )
    ours = _ours(sub, anchor_id)

    assert ours.path == (sub, *(fed[p].url for p in path))
    assert theirs.subject == sub
    assert theirs.issuer == anchor_id  # the anchor's resolve endpoint answered
    assert theirs.metadata == ours.metadata
    assert theirs.metadata == _recomputed_by_pygrindvakt(ours)
    assert theirs.metadata["ecert_issuer"]["credential_types"] == sorted(ours.credential_types)
    assert theirs.exp is not None
    assert abs(theirs.exp - ours.exp) <= 60  # statements are signed per request: seconds apart
    # The constraints they carry are the spec's (§6.2.2: domain names, never URLs) plus ours.
    for token in ours.chain.tokens[1:-1]:
        naming = unverified_payload(token).get("constraints", {}).get("naming_constraints", {})
        for entry in (*naming.get("permitted", []), *naming.get("excluded", [])):
            assert "://" not in entry, f"naming_constraints entry {entry!r} is not a domain name"
    about_city = unverified_payload(ours.chain.tokens[2])  # the region's statement
    assert about_city["constraints"][URL_PREFIXES] == {"permitted": [fed[city].url]}


def test_pygrindvakt_reads_our_federation_errors(fed: DemoFederation) -> None:
    anchor_id = fed["yrd"].url
    stranger = f"{fed['hangzhou'].url}/agencies/nobody"
    with pytest.raises(InternalError) as info:
        gv.resolve_via_trust_anchors(
            ReqwestClient(connect_timeout=5, read_timeout=10, request_timeout=20),
            stranger,
            {anchor_id: _pinned(anchor_id)},
        )
    error: Any = info.value
    assert error.upstream_status == 404
    assert error.upstream_error == "invalid_subject"  # §8.9, parsed from our JSON body
    assert stranger in error.upstream_error_description


def test_jose_verifies_entity_statements_with_the_issuers_jwks(
    fed: DemoFederation, node: NodeRunner
) -> None:
    hz, yrd, agency = fed["hangzhou"].url, fed["yrd"].url, _agency(fed, "hangzhou")
    with httpx.Client(timeout=10.0) as http:
        statements = {
            "杭州's configuration": (_configuration(hz), _configuration(hz)),
            "an agency's configuration": (_configuration(agency), _configuration(agency)),
            "长三角 about 杭州": (
                http.get(f"{yrd}/federation/fetch", params={"sub": hz}).text,
                _configuration(yrd),
            ),
            "杭州 about its agency": (
                http.get(f"{hz}/federation/fetch", params={"sub": agency}).text,
                _configuration(hz),
            ),
        }
    for what, (token, issuer) in statements.items():
        jwks = unverified_payload(issuer)["jwks"]
        (answer,) = node("jose_verify", {"tokens": [token], "jwks": jwks})
        assert answer["ok"], f"{what}: {answer}"
        assert answer["header"]["typ"] == ENTITY_STATEMENT_TYP, what
        assert answer["payload"] == unverified_payload(token), what
