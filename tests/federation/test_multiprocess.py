"""Two regions, six gateways, six processes: the federation as a counter clerk meets it.

长三角 (杭州, 苏州) and 京津冀 (北京, 天津) run as separate ``ecert serve`` processes on free
loopback ports, each with its own database (苏州 on PostgreSQL when ``ECERT_TEST_DATABASE_URL``
is set), set up by ``cli.federation_demo`` exactly as ``make demo-federation`` does. Everything
below goes over real HTTP; the trust syncs run every 2 s and status lists live 3 s, and every
wait is a bounded poll whose duration is recorded and printed as a table at the end.

The tests share one federation and run in file order: each step builds on the state the
previous ones left (a revocation, a compromised key, a killed process, a rotated anchor key).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from cli.federation_demo import DEMO_PASSPHRASE
from cli.federation_demo_procs import DemoFederation, DemoGateway
from tests.cli.helpers import ecert, ecert_many
from tests.cli.wallet_helpers import PASSPHRASE, another_nonce_and_a_replay_are_refused
from tests.conftest import PG_ENV, PG_HOW
from tests.federation.helpers import (
    Timings,
    forge,
    health,
    http_client,
    issue,
    payload,
    reason_is,
    revoke,
    running_federation,
    stolen_key,
    verify,
    wait_for,
)
from tests.gateway.holders import fresh_subject
from trust.federation import (
    ENTITY_STATEMENT_TYP,
    ChainError,
    UntrustedStatement,
    validate_chain,
    verify_entity_configuration,
)
from trust.jws import _unverified_header, sign_compact
from trust.keys import SigningKey
from trust.trustlist.document import TrustList, verify_trust_list
from trust.trustlist.errors import RollbackError, TrustListExpired

pytestmark = pytest.mark.slow

REFRESH = 2  # ECERT_FEDERATION_REFRESH for every gateway, seconds
TTL = 3  # ECERT_STATUS_TTL, seconds
SLACK = 5.0  # seconds of scheduling and HTTP on a busy 2-core runner
# The sync loop wakes every min(refresh, 2 s) ±20 % and syncs once a refresh is due (±20 %):
# a change made just after a sync started is in the next one, up to two wake-ups later.
ONE_REFRESH = 2 * REFRESH * 1.2 + SLACK
ASKED = ("name", "id_number_masked")  # what a hotel desk asks of a resident e-ID
LICENCES = {"business-licence", "food-business-permit", "industrial-production-permit"}


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFederation]:
    base = tmp_path_factory.mktemp("federation") / "demo"
    with running_federation(base, refresh=REFRESH, status_ttl=TTL) as running:
        yield running


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with http_client() as client:
        yield client


@pytest.fixture(scope="module")
def timings() -> Timings:
    return Timings()


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    """What one step hands to a later one (tokens, trust lists)."""
    return {}


@pytest.fixture(scope="module")
def licence(fed: DemoFederation, http: httpx.Client) -> dict[str, Any]:
    """A 杭州 business licence, issued over HTTP by the 市场监督管理局 before anything else."""
    issued: dict[str, Any] = issue(
        http, fed["hangzhou"], "business-licence", fresh_subject("business-licence")
    )
    return {**issued, "issued_monotonic": time.monotonic()}


def _suzhou_trust_list(fed: DemoFederation, http: httpx.Client) -> str:
    answer = http.get(f"{fed['suzhou'].url}/trust/list")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/trustlist+jwt"
    return answer.text


def test_a_hangzhou_licence_verifies_at_suzhou_and_beijing_counters(
    fed: DemoFederation,
    http: httpx.Client,
    licence: dict[str, Any],
    timings: Timings,
    seen: dict[str, Any],
) -> None:
    for city in ("suzhou", "beijing"):
        seconds = reason_is(
            http, fed[city], licence["qr_text"], "VALID", since=licence["issued_monotonic"]
        )
        timings.record("杭州 licence VALID after issuance (first sync)", city, seconds, 60)
    answer = verify(http, fed["beijing"], licence["qr_text"])
    assert answer["credential"]["identifier"] == licence["identifier"]
    chain = [(link["role"], link["id"]) for link in answer["issuer"]["chain"]]
    assert [role for role, _ in chain] == ["agency", "city", "region", "region"], chain
    assert [i for _, i in chain[1:]] == [fed["hangzhou"].url, fed["yrd"].url, fed["jjj"].url]
    seen["trust_list_before"] = _suzhou_trust_list(fed, http)


def test_a_hangzhou_eid_is_refused_in_beijing_by_policy_with_its_name(
    fed: DemoFederation, http: httpx.Client
) -> None:
    eid = issue(http, fed["hangzhou"], "resident-eid", fresh_subject("resident-eid"))
    reason_is(http, fed["suzhou"], eid["qr_text"], "VALID")  # the same region accepts it
    answer = verify(http, fed["beijing"], eid["qr_text"])
    assert answer["reason"] == "NOT_ACCEPTED_BY_POLICY", answer
    assert answer["valid"] is False
    assert "jjj-accepts-yrd-licences" in answer["detail"], answer["detail"]


def _anchor_kid(http: httpx.Client, anchor: DemoGateway) -> str:
    """The anchor's federation key id, as its region hands it to holders out of band."""
    configuration = http.get(f"{anchor.url}/.well-known/openid-federation")
    assert configuration.status_code == 200, configuration.text
    (kid,) = [k["kid"] for k in payload(configuration.text)["jwks"]["keys"]]
    return str(kid)


def _hotel_desk(g: DemoGateway, name: str) -> dict[str, Any]:
    """A hotel desk registered with ``ecert verifier add`` on ``g``'s data, while it serves."""
    added = ecert("verifier", "add", "--data-dir", str(g.data_dir), "--name", name,
                  "--role", "hotel-desk", "--json", env=g.env)  # fmt: skip
    assert added.returncode == 0, added
    desk: dict[str, Any] = added.json()
    return desk


def _ask(http: httpx.Client, g: DemoGateway, desk: dict[str, Any]) -> dict[str, Any]:
    made = http.post(
        f"{g.url}/api/v1/presentation-requests",
        headers={"Authorization": f"Bearer {desk['api_key']}"},
        json={"type": "resident-eid", "fields": list(ASKED), "reason": "旅馆住宿登记"},
    )
    assert made.status_code == 201, made.text
    asked: dict[str, Any] = made.json()
    return asked


def _result(http: httpx.Client, g: DemoGateway, desk: dict[str, Any], request_id: str) -> Any:
    shown = http.get(
        f"{g.url}/api/v1/presentation-requests/{request_id}",
        headers={"Authorization": f"Bearer {desk['api_key']}"},
    )
    assert shown.status_code == 200, shown.text
    return shown.json()["result"]


def test_a_hangzhou_eid_in_a_wallet_is_presented_at_suzhou_and_refused_in_beijing(
    fed: DemoFederation, http: httpx.Client, tmp_path: Path, timings: Timings
) -> None:
    """杭州 issues a resident e-ID to a CLI wallet through the offer; a 苏州 hotel desk (its
    data on PostgreSQL when the suite has one) asks for the name and the masked ID number with
    a reason and sees them with holder binding confirmed, never the full number; a replay and
    another request's nonce are refused; a 北京 desk gets NOT_ACCEPTED_BY_POLICY; after 杭州
    revokes, 苏州's next answer is REVOKED."""
    hz, sz, bj = fed["hangzhou"], fed["suzhou"], fed["beijing"]
    wallet_dir = tmp_path / "wallet"
    walleted = ["--wallet-dir", str(wallet_dir), "--passphrase", PASSPHRASE]
    subject = {**fresh_subject("resident-eid"), "name": "钱塘"}
    eid = issue(http, hz, "resident-eid", subject, wallet_offer=True)
    offer = eid["wallet_offer"]
    assert ecert("wallet", "init", *walleted).returncode == 0
    received = ecert("wallet", "receive", offer["offer_uri"], "--pin", offer["tx_code"],
                     *walleted)  # fmt: skip
    assert received.returncode == 0, received
    sz_desk, bj_desk = _hotel_desk(sz, "苏州站旅馆前台"), _hotel_desk(bj, "北京站旅馆前台")

    def present(asked: dict[str, Any], anchor: DemoGateway) -> Any:
        pinned = ["--trust-anchor", anchor.url, "--anchor-kid", _anchor_kid(http, anchor)]
        return ecert("wallet", "present", asked["uri"], *walleted, *pinned, "--yes")

    first = _ask(http, sz, sz_desk)
    started = time.monotonic()
    presented = present(first, fed["yrd"])
    assert presented.returncode == 0, presented
    assert "苏州站旅馆前台" in presented.stdout
    assert "苏州市" in presented.stdout
    result = _result(http, sz, sz_desk, first["id"])
    timings.record("wallet presentation answered (CLI wallet)", "suzhou",
                   time.monotonic() - started, 30)  # fmt: skip
    assert result["reason"] == "VALID", result
    assert result["holder_binding"] is True
    full = subject["id_number"]
    assert {f["name"]: f["value"] for f in result["fields"]} == {
        "name": "钱塘",
        "id_number_masked": f"{full[:6]}********{full[-4:]}",
    }
    assert result["issuer"]["id"] == f"{hz.url}/agencies/{hz.agency_for('resident-eid')['id']}"
    assert full not in str(result)
    assert full not in presented.stdout

    # The answer a wallet sent, replayed, and a presentation for another request's nonce.
    second, third = _ask(http, sz, sz_desk), _ask(http, sz, sz_desk)
    another_nonce_and_a_replay_are_refused(
        wallet_dir, second["request_uri"], third["request_uri"], ASKED
    )
    assert _result(http, sz, sz_desk, third["id"])["reason"] == "VALID"

    # 京津冀 accepts 长三角's licences, not its e-IDs: the 北京 desk's gateway says so.
    asked_in_beijing = _ask(http, bj, bj_desk)
    refused = present(asked_in_beijing, fed["jjj"])
    assert refused.returncode != 0, refused
    assert "北京站旅馆前台" in refused.stdout
    result = _result(http, bj, bj_desk, asked_in_beijing["id"])
    assert result["reason"] == "NOT_ACCEPTED_BY_POLICY", result
    assert "jjj-accepts-yrd-licences" in result["detail"]
    assert result["fields"] == []

    # 杭州 revokes; once 苏州 holds the new status list, the next presentation is REVOKED.
    revoke(http, hz, "resident-eid", eid["id"])
    reason_is(http, sz, eid["qr_text"], "REVOKED")
    fourth = _ask(http, sz, sz_desk)
    assert "证照已被撤销" in present(fourth, fed["yrd"]).one_error_line()
    after = _result(http, sz, sz_desk, fourth["id"])
    assert after["reason"] == "REVOKED", after
    assert after["fields"] == []


def _synced_twice(http: httpx.Client, g: DemoGateway) -> None:
    """Wait until ``g`` finished two more trust syncs (``last_sync_at`` moved twice)."""
    marks = {health(http, g)["federation"]["last_sync_at"]}

    def probe() -> tuple[bool, Any]:
        marks.add(health(http, g)["federation"]["last_sync_at"])
        return len(marks) >= 3, sorted(marks)

    wait_for(f"two more syncs at {g.spec.name}", probe)


def test_a_sync_with_nothing_changed_keeps_the_trust_list_version(
    fed: DemoFederation, http: httpx.Client
) -> None:
    before = payload(_suzhou_trust_list(fed, http))
    _synced_twice(http, fed["suzhou"])
    after = payload(_suzhou_trust_list(fed, http))
    assert after["version"] == before["version"], (before["version"], after["version"])


def test_a_revocation_in_hangzhou_is_seen_in_suzhou_within_the_ttl(
    fed: DemoFederation, http: httpx.Client, timings: Timings
) -> None:
    subject = {**fresh_subject("business-licence"), "name": "杭州拱墅运河贸易有限公司"}
    doomed = issue(http, fed["hangzhou"], "business-licence", subject)
    for city in ("suzhou", "beijing"):
        reason_is(http, fed[city], doomed["qr_text"], "VALID")
    revoke(http, fed["hangzhou"], "business-licence", doomed["id"])
    revoked_at = time.monotonic()
    assert verify(http, fed["hangzhou"], doomed["qr_text"])["reason"] == "REVOKED"
    bound = TTL + REFRESH * 1.2 + SLACK
    for city in ("suzhou", "beijing"):
        seconds = reason_is(http, fed[city], doomed["qr_text"], "REVOKED", since=revoked_at)
        timings.record("revocation in 杭州 seen (after its POST …/revoke)", city, seconds, bound)
        assert seconds <= bound, f"{city} saw the revocation after {seconds:.1f}s"


def test_suzhou_keeps_its_data_in_postgresql(fed: DemoFederation) -> None:
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_HOW)
    sz = fed["suzhou"]
    assert sz.database_url.startswith("postgresql"), sz.database_url
    assert not (sz.data_dir / "gateway.db").exists()
    engine = create_engine(sz.database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT public_url FROM city")).scalar_one() == sz.url
            newest = conn.execute(text("SELECT max(version) FROM trust_lists")).scalar_one()
            assert int(newest) >= 1
            fetched = conn.execute(text("SELECT count(*) FROM peer_documents")).scalar_one()
            assert int(fetched) >= 1  # 杭州's status lists, fetched and kept by 苏州
    finally:
        engine.dispose()


def _export_suzhou_bundle(fed: DemoFederation, out: Path) -> None:
    """``ecert trust export`` for 苏州, as an operator preparing a kiosk runs it."""
    sz = fed["suzhou"]
    env = {k: v for k, v in sz.env.items() if k.startswith("ECERT_")}
    done = ecert("trust", "export", "--data-dir", str(sz.data_dir), "--out", str(out), env=env)
    assert done.returncode == 0, done


def test_a_compromised_hangzhou_key_is_refused_everywhere_after_one_refresh(
    fed: DemoFederation,
    http: httpx.Client,
    licence: dict[str, Any],
    timings: Timings,
    seen: dict[str, Any],
    tmp_path: Path,
) -> None:
    hz = fed["hangzhou"]
    env = {"ECERT_KEY_PASSPHRASE": DEMO_PASSPHRASE}
    where = ["--data-dir", str(hz.data_dir)]
    listed = ecert("key", "list", "--json", *where, env=env)
    assert listed.returncode == 0, listed
    amr = hz.agency_for("business-licence")["id"]
    (kid,) = [k["kid"] for k in listed.json() if k["agency_id"] == amr and k["state"] == "active"]
    key, created_at = stolen_key(hz, kid, DEMO_PASSPHRASE)
    forged = forge(licence["token"], key, not_before=created_at)
    for city in ("suzhou", "beijing"):  # before the compromise the forgery is indistinguishable
        assert verify(http, fed[city], forged)["reason"] == "VALID"

    done = ecert("key", "compromise", "--kid", kid, "--reason", "密钥泄露演练 key leaked",
                 "--no-reissue", "--json", *where, env=env)  # fmt: skip
    assert done.returncode == 0, done
    # Timed from the compromise as 杭州 recorded it (whole seconds: at most 1 s too long).
    at = datetime.fromisoformat(done.json()["compromised_at"]).timestamp()
    compromised = time.monotonic() - (time.time() - at)
    for city in ("hangzhou", "suzhou", "beijing", "tianjin"):
        seconds = reason_is(http, fed[city], forged, "KEY_NOT_VALID_AT_ISSUANCE", since=compromised)
        timings.record("key compromise: forgery refused (since compromised_at)", city,
                       seconds, ONE_REFRESH)  # fmt: skip
        assert seconds <= ONE_REFRESH, f"{city} refused the forgery after {seconds:.1f}s"

    # Online, 苏州 asks 杭州's issuance record (a signed confirmation) and caches the answer.
    # 杭州's status list is signed again by its fresh key; until 苏州 holds that copy (within
    # one refresh) it answers STATUS_UNAVAILABLE: a list signed by the compromised key is out.
    seconds = reason_is(http, fed["suzhou"], licence["qr_text"], "VALID", since=compromised)
    timings.record("key compromise: genuine licence VALID again", "suzhou", seconds, ONE_REFRESH)
    assert seconds <= ONE_REFRESH
    for _ in range(2):
        online = verify(http, fed["suzhou"], licence["qr_text"])
        assert online["reason"] == "VALID", online["detail"]
    seen["trust_list_after"] = _suzhou_trust_list(fed, http)

    # Offline, a kiosk has only the bundle: no one to ask, so it fails closed.
    bundle = tmp_path / "suzhou-kiosk.bundle"
    _export_suzhou_bundle(fed, bundle)
    kiosk = ["verify", "--offline", "--trust-file", str(bundle), "--json", "--qr-text"]
    genuine_offline, forged_offline = ecert_many(
        [[*kiosk, licence["qr_text"]], [*kiosk, forged]], cwd=tmp_path
    )
    for result in (genuine_offline, forged_offline):
        assert result.returncode == 1, result
        assert result.json()["reason"] == "KEY_NOT_VALID_AT_ISSUANCE", result


def test_beijing_confirms_a_pre_compromise_hangzhou_licence_online(
    fed: DemoFederation, http: httpx.Client, licence: dict[str, Any]
) -> None:
    reason_is(http, fed["beijing"], licence["qr_text"], "VALID")
    online = verify(http, fed["beijing"], licence["qr_text"])
    assert online["reason"] == "VALID", online["detail"]


def test_killing_a_city_mid_sync_leaves_the_others_answering(
    fed: DemoFederation, http: httpx.Client, licence: dict[str, Any], timings: Timings
) -> None:
    tj, bj = fed["tianjin"], fed["beijing"]
    assert tj.proc is not None

    # Mid-sync: 天津 is being walked by its peers' syncs every couple of seconds.
    def synced() -> tuple[bool, Any]:
        sync = health(http, tj)["federation"]
        return sync["last_sync_at"] is not None, sync

    wait_for("天津's own sync", synced)
    tj.proc.send_signal(signal.SIGKILL)
    tj.proc.wait(timeout=10)
    killed = time.monotonic()

    def failing() -> tuple[bool, Any]:
        sync = health(http, bj)["federation"]
        return any(tj.url in k or tj.url in v for k, v in sync["chain_failures"].items()), sync

    seconds = wait_for("北京's /healthz reporting 天津", failing, since=killed)
    timings.record("天津 killed: failure shown at /healthz", "beijing", seconds, ONE_REFRESH)
    assert seconds <= ONE_REFRESH
    sync = health(http, bj)["federation"]
    assert sync["last_error"] is None, sync  # the sync went on: only 天津's path failed
    assert sync["issuers_resolved"] >= 4, sync
    for city in ("suzhou", "beijing"):
        assert verify(http, fed[city], licence["qr_text"])["reason"] == "VALID"
    for key in ("yrd", "hangzhou", "suzhou", "jjj", "beijing"):
        assert health(http, fed[key])["status"] == "ok"
    assert fed.dead() == ["tianjin"]


def _statement(http: httpx.Client, url: str) -> str:
    answer = http.get(url)
    assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text}"
    assert answer.headers["content-type"].startswith("application/entity-statement+jwt")
    return answer.text


def test_a_forged_subordinate_statement_is_refused(fed: DemoFederation, http: httpx.Client) -> None:
    yrd, hz = fed["yrd"], fed["hangzhou"]
    leaf = f"{hz.url}/agencies/{hz.agency_for('business-licence')['id']}"
    anchor_ec = _statement(http, f"{yrd.url}/.well-known/openid-federation")
    about_hz = _statement(http, f"{yrd.url}/federation/fetch?sub={hz.url}")
    chain = [
        _statement(http, f"{leaf}/.well-known/openid-federation"),
        _statement(http, f"{hz.url}/federation/fetch?sub={leaf}"),
        about_hz,
        anchor_ec,
    ]
    # Checked at the time they were fetched: a statement served from a gateway's cache is
    # older than one signed just now (the anchor's own iat was once used here, and a leaf
    # statement signed 77 s after it read as "issued in the future" under load).
    now = int(time.time())
    pinned = {yrd.url: list(verify_entity_configuration(anchor_ec, now=now).jwks)}
    resolved = validate_chain(chain, trust_anchors=pinned, now=now)  # the genuine chain holds
    assert resolved.path == (leaf, hz.url, yrd.url)
    assert resolved.credential_types == LICENCES

    attacker = SigningKey.generate()
    claims = payload(about_hz)
    claims["jwks"] = {"keys": [dict(attacker.public.jwk)]}  # 杭州 "re-keyed" by the attacker
    real_kid = str(_unverified_header(about_hz.split(".")[0])["kid"])
    for kid in (attacker.kid, real_kid):  # an unknown key, and the anchor's kid as a disguise
        forged = sign_compact(claims, attacker, typ=ENTITY_STATEMENT_TYP, kid=kid)
        with pytest.raises(
            UntrustedStatement, match=re.escape(f"not signed by a key of {yrd.url}")
        ):
            validate_chain([chain[0], chain[1], forged, anchor_ec], trust_anchors=pinned, now=now)
    assert issubclass(UntrustedStatement, ChainError)


def test_a_rolled_back_or_expired_trust_list_is_refused(
    fed: DemoFederation, http: httpx.Client, seen: dict[str, Any]
) -> None:
    older, newer = seen["trust_list_before"], seen["trust_list_after"]
    ec = _statement(http, f"{fed['suzhou'].url}/.well-known/openid-federation")
    keys = list(verify_entity_configuration(ec, now=int(payload(ec)["iat"])).jwks)
    now = int(payload(newer)["iat"])
    held: TrustList = verify_trust_list(newer, keys=keys, now=now, previous=None)
    assert verify_trust_list(older, keys=keys, now=now, previous=None).version < held.version
    with pytest.raises(RollbackError, match=f"version {held.version} or later"):
        verify_trust_list(older, keys=keys, now=now, previous=held)
    with pytest.raises(TrustListExpired):
        verify_trust_list(newer, keys=keys, now=held.exp + 1, previous=None)


def test_a_region_anchor_rotating_its_key_stays_trusted_in_the_other_region(
    fed: DemoFederation, http: httpx.Client, timings: Timings
) -> None:
    jjj, yrd, bj, sz = fed["jjj"], fed["yrd"], fed["beijing"], fed["suzhou"]
    bj_licence = issue(http, bj, "business-licence", fresh_subject("business-licence"))
    reason_is(http, sz, bj_licence["qr_text"], "VALID")

    # The operator rotates 京津冀's federation key while it serves (another process, same DB).
    done = ecert("federation", "rotate-key", "--json", "--data-dir", str(jjj.data_dir),
                 env={"ECERT_KEY_PASSPHRASE": DEMO_PASSPHRASE})  # fmt: skip
    assert done.returncode == 0, done
    (new_kid,) = done.json()["kids"]
    rotated = time.monotonic()

    answers: set[str] = set()  # what 苏州's counter says meanwhile: never anything but VALID

    def pinned_by_yrd() -> tuple[bool, Any]:
        answers.add(verify(http, sz, bj_licence["qr_text"])["reason"])
        about_jjj = _statement(http, f"{yrd.url}/federation/fetch?sub={jjj.url}")
        kids = [k["kid"] for k in payload(about_jjj)["jwks"]["keys"]]
        return kids == [new_kid], kids

    seconds = wait_for("长三角 pinning 京津冀's new key", pinned_by_yrd, since=rotated)
    timings.record("federation key rotated: new key pinned", "yrd", seconds, ONE_REFRESH)
    assert seconds <= ONE_REFRESH

    def resolved_again() -> tuple[bool, Any]:  # 苏州 walks 北京's chain through the new key
        sync = health(http, sz)["federation"]
        failing = {k: v for k, v in sync["chain_failures"].items() if bj.url in k}
        return sync["last_sync_at"] is not None and not failing, failing

    wait_for("苏州 resolving 北京 again", resolved_again, since=rotated)
    assert answers == {"VALID"}
    for city in ("suzhou", "beijing"):
        assert verify(http, fed[city], bj_licence["qr_text"])["reason"] == "VALID"
    assert "anchor root" not in health(http, bj)["federation"]["chain_failures"]


def test_propagation_times(timings: Timings) -> None:
    """The measured numbers (visible with ``-s``; kept in the test's captured log)."""
    table = timings.table(
        f"propagation over real HTTP between processes (refresh {REFRESH}s, status ttl {TTL}s)"
    )
    print("\n" + table)
    kinds = {r.what for r in timings.rows}
    assert any("revocation" in k for k in kinds), table
    assert any("compromise" in k for k in kinds), table
    assert all(r.seconds <= r.bound for r in timings.rows), table
