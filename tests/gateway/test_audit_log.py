"""The audit log as an append-only Merkle tree (issue 11, "A log no one can rewrite").

Before: ``audit_log`` was an insert-only table holding ``agency.add``, ``city.init`` and the like;
issuing, suspending and revoking were not recorded at all, and nothing bound one row to the
next, so a database administrator could rewrite it undetected. Now every ``audit.record`` is a
leaf (dense index, RFC 9162 leaf hash) in the same transaction as its act, and the tree state
is kept beside it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
from jwcrypto import jwk, jws
from sqlalchemy import create_engine, select, text

from gateway import audit, auditheads, auditlog, federation, issuance, keystore, status
from gateway.app import create_app
from gateway.core import Gateway
from gateway.models import AuditRow, AuditTreeRow, CredentialRow
from gateway.settings import Settings
from tests.conftest import PASSPHRASE, Agency, FakeClock
from tests.gateway.helpers import client_for, licence_body
from tests.gateway.holders import fresh_licence
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust import merkle
from trust.encoding import b64url_decode
from trust.errors import FieldError

LICENCE = SAMPLE_SUBJECTS["business-licence"]


def _issue(gw: Gateway, agency: Agency, **subject: Any) -> str:
    row, _ = issuance.issue(
        gw,
        agency_id=agency.id,
        request=issuance.IssueRequest("business-licence", fresh_licence(**subject)),
    )
    return row.id


def _rows(gw: Gateway) -> list[AuditRow]:
    with gw.sessions() as session:
        return list(session.scalars(select(AuditRow).order_by(AuditRow.leaf_index)))


def _tree(gw: Gateway) -> merkle.CompactRange:
    with gw.sessions() as session:
        return auditlog.compact_range(session)


def _recomputed(rows: list[AuditRow]) -> list[bytes]:
    return [merkle.leaf_hash(auditlog.canonical(auditlog.leaf_of(r))) for r in rows]


def test_issuing_suspending_reinstating_and_revoking_are_leaves_of_one_tree(
    gw: Gateway, amr: Agency
) -> None:
    """The finding: issuance and status changes were not in the audit log at all."""
    cid = _issue(gw, amr)
    status.change(gw, credential_id=cid, action="suspend", reason="张三 涉嫌违法", actor="api:t",
                  agency_id=amr.id)  # fmt: skip
    status.change(gw, credential_id=cid, action="reinstate", reason="复核通过", actor="api:t",
                  agency_id=amr.id)  # fmt: skip
    status.change(gw, credential_id=cid, action="revoke", reason="企业申请注销", actor="api:t",
                  agency_id=amr.id, code="07")  # fmt: skip

    rows = _rows(gw)
    mine = [(r.action, r.detail.get("to_code")) for r in rows if r.subject == cid]
    assert mine == [
        ("credential.issue", None),
        ("credential.suspend", "02"),
        ("credential.reinstate", "01"),
        ("credential.revoke", "07"),
    ]
    assert [r.leaf_index for r in rows] == list(range(len(rows)))  # dense from 0
    hashes = _recomputed(rows)
    assert [r.leaf_hash for r in rows] == hashes
    tree = _tree(gw)
    assert tree.size == len(rows)
    assert tree.root() == merkle.root(hashes)
    # No personal data in any leaf: no holder name, no USCC, no free-text reason.
    leaves = "".join(auditlog.canonical(auditlog.leaf_of(r)).decode() for r in rows)
    with gw.sessions() as session:
        holders = list(session.scalars(select(CredentialRow.holder_code)))
    assert holders
    for personal in (LICENCE["name"], *holders, LICENCE["legal_representative"], "张三"):
        assert personal not in leaves
    revoked = next(r for r in rows if r.action == "credential.revoke")
    assert revoked.detail["reason_hash"] == audit.text_hash("企业申请注销")


def test_a_leaf_is_the_canonical_json_the_contract_names(gw: Gateway, amr: Agency) -> None:
    cid = _issue(gw, amr)
    row = next(r for r in _rows(gw) if r.subject == cid)
    data = auditlog.canonical(auditlog.leaf_of(row))
    parsed = json.loads(data)
    assert set(parsed) == {"index", "at", "actor", "action", "subject", "detail"}
    assert data == json.dumps(parsed, sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()  # fmt: skip
    assert row.leaf_hash == merkle.leaf_hash(data)
    assert parsed["actor"] == f"agency:{amr.id}"
    assert set(parsed["detail"]) == {"type", "identifier", "kid", "token_hash"}


def test_a_batch_is_one_leaf_per_credential_and_a_rejected_one_writes_none(
    gw: Gateway, amr: Agency
) -> None:
    before = _tree(gw).size
    requests = [
        issuance.IssueRequest("business-licence", fresh_licence(), batch_ref=f"row-{i}")
        for i in range(40)
    ]
    written, skipped = issuance.issue_many(gw, agency_id=amr.id, requests=requests)
    assert (len(written), skipped) == (40, 0)
    rows = _rows(gw)
    issued = [r.subject for r in rows if r.action == "credential.issue"]
    assert issued == [w["id"] for w in written]
    assert _tree(gw).size == before + 40

    bad = [
        issuance.IssueRequest("business-licence", fresh_licence(), batch_ref=f"n{i}")
        for i in range(3)
    ]
    bad.append(issuance.IssueRequest("business-licence", {**LICENCE, "uscc": "x"}))
    with pytest.raises(FieldError):
        issuance.issue_many(gw, agency_id=amr.id, requests=bad)
    assert _tree(gw).size == before + 40
    assert len(_rows(gw)) == before + 40


def test_key_events_are_leaves_and_a_compromise_reason_is_hashed(gw: Gateway, amr: Agency) -> None:
    with gw.sessions() as session:
        old = keystore.active_key(session, amr.id).kid
    new = keystore.rotate(gw, agency_id=amr.id, actor="cli:t")
    keystore.compromise(gw, kid=old, at=None, reason="私钥泄露 李四", actor="cli:t")
    rows = _rows(gw)
    actions = [(r.action, r.subject) for r in rows if r.action.startswith("key.")]
    assert ("key.create", old) in actions  # when the agency was added
    assert ("key.create", new.kid) in actions
    assert ("key.rotate", new.kid) in actions
    compromised = next(r for r in rows if r.action == "key.compromise")
    assert "李四" not in json.dumps(compromised.detail, ensure_ascii=False)
    assert compromised.detail["reason_hash"] == audit.text_hash("私钥泄露 李四")


def test_leaf_indexes_stay_dense_when_two_processes_write_at_once(
    gw: Gateway, amr: Agency, tmp_path: Any, clock: FakeClock
) -> None:
    """Two gateways (two engines, as two processes) on one database: no index taken twice,
    none skipped, and the stored tree state is the tree of all the leaves."""
    other = Gateway.open(
        Settings(data_dir=tmp_path / "other", database_url=gw.settings.db_url,
                 key_passphrase=PASSPHRASE, public_url=None, status_list_size=4096),
        clock=clock,
    )  # fmt: skip
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=20)

    def run(g: Gateway) -> None:
        try:
            start.wait()
            for _ in range(15):
                _issue(g, amr)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(g,)) for g in (gw, other)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        other.close()
    assert not errors
    assert not any(t.is_alive() for t in threads)
    rows = _rows(gw)
    assert sum(r.action == "credential.issue" for r in rows) == 30
    assert [r.leaf_index for r in rows] == list(range(len(rows)))
    assert _tree(gw).root() == merkle.root(_recomputed(rows))


def test_a_rolled_back_transaction_records_nothing(gw: Gateway) -> None:
    before = _tree(gw).size

    def rolled_back() -> None:
        with gw.transaction() as session:
            audit.record(session, at=1, actor="t", action="test.never", subject="x")
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        rolled_back()
    with gw.transaction() as session:  # the same kind of session afterwards records normally
        audit.record(session, at=1, actor="t", action="test.once", subject="x")
    rows = _rows(gw)
    assert [r.action for r in rows[before:]] == ["test.once"]


def test_a_tree_state_read_before_a_flush_is_not_stale_after_it(gw: Gateway) -> None:
    # The tree state is written back with a Core UPDATE (issue 13): a copy the session held
    # from before must not answer the old size afterwards.
    with gw.transaction() as session:
        held = session.get(AuditTreeRow, 1)
        assert held is not None
        before = held.size
        audit.record(session, at=1, actor="t", action="test.one", subject="x")
        audit.record(session, at=2, actor="t", action="test.two", subject="y")
        session.flush()
        assert held.size == before + 2
        assert session.get(AuditTreeRow, 1) is held
    assert _tree(gw).size == before + 2


# --- proofs and entries over HTTP --------------------------------------------------------------


def _fill(gw: Gateway, count: int) -> None:
    with gw.transaction() as session:
        for i in range(count):
            audit.record(session, at=i, actor="t", action="test.fill", subject=str(i), n=i)


@pytest.mark.parametrize("extra", [0, 1, 300, 700])
def test_proofs_check_out_against_roots_computed_from_the_leaves(gw: Gateway, extra: int) -> None:
    _fill(gw, extra)
    rows = _rows(gw)
    hashes = [r.leaf_hash for r in rows]
    n = len(hashes)
    with client_for(gw) as client:
        for index, size in {(0, 1), (0, n), (n - 1, n), (n // 2, n), (n // 3, max(n // 2, 1))}:
            got = client.get("/audit/proof/inclusion", params={"index": index, "tree_size": size})
            assert got.status_code == 200, got.text
            body = got.json()
            assert body["leaf_hash"]
            assert b64url_decode(body["leaf_hash"]) == hashes[index]
            merkle.verify_inclusion(
                leaf=hashes[index], index=index, tree_size=size,
                proof=[b64url_decode(p) for p in body["proof"]],
                root_hash=merkle.root(hashes[:size]),
            )  # fmt: skip
        for first, second in {(1, n), (n, n), (max(n // 3, 1), n), (max(n // 2, 1), n - 1 or 1)}:
            got = client.get("/audit/proof/consistency", params={"first": first, "second": second})
            assert got.status_code == 200, got.text
            merkle.verify_consistency(
                first_size=first, second_size=second,
                first_root=merkle.root(hashes[:first]), second_root=merkle.root(hashes[:second]),
                proof=[b64url_decode(p) for p in got.json()["proof"]],
            )  # fmt: skip
        listed = client.get("/audit/entries", params={"start": 0, "end": min(n, 1000)}).json()
        assert [e["index"] for e in listed["entries"]] == list(range(min(n, 1000)))
        for entry in listed["entries"]:
            data = auditlog.canonical(entry["leaf"])
            assert b64url_decode(entry["leaf_hash"]) == merkle.leaf_hash(data)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/audit/proof/consistency", {"first": 0, "second": 1}, "first"),  # from size 0: refused
        ("/audit/proof/consistency", {"first": 2, "second": 1}, "first"),
        ("/audit/proof/consistency", {"first": 1, "second": 10**6}, "second"),
        ("/audit/proof/inclusion", {"index": 5, "tree_size": 5}, "index"),
        ("/audit/proof/inclusion", {"index": 0, "tree_size": 0}, "tree_size"),
        ("/audit/proof/inclusion", {"index": 0, "tree_size": 2**62}, "tree_size"),
        ("/audit/entries", {"start": 0, "end": 1001}, "end"),
        ("/audit/entries", {"start": 3, "end": 2}, "end"),
    ],
)
def test_bad_sizes_are_a_field_error_in_both_languages(
    gw: Gateway, path: str, params: dict[str, int], field: str
) -> None:
    _fill(gw, 1100)
    with client_for(gw) as client:
        got = client.get(path, params=params)
    assert got.status_code == 422, got.text
    (error,) = got.json()["detail"]["errors"]
    assert error["field"] == field
    assert "实际为" in error["message"]
    assert "expected" in error["message_en"]


def test_a_proof_at_100k_leaves_reads_a_few_stored_hashes(gw: Gateway) -> None:
    """Proofs are answered from cached subtree roots: at 100,000 leaves an inclusion or a
    consistency proof reads a bounded number of rows, never the whole log."""
    for _ in range(10):
        _fill(gw, 10_000)
    n = _tree(gw).size
    assert n >= 100_000
    with gw.sessions() as session:
        started = time.perf_counter()
        subtrees = auditlog.StoredSubtrees(session, n)
        path = merkle.inclusion_proof(subtrees, 54_321, n)
        inclusion_s = time.perf_counter() - started
        inclusion_reads = subtrees.reads
        started = time.perf_counter()
        subtrees = auditlog.StoredSubtrees(session, n)
        merkle.consistency_proof(subtrees, 77_777, n)
        consistency_s = time.perf_counter() - started
        consistency_reads = subtrees.reads
        root = auditlog.compact_range(session).root()
        leaf = session.scalar(select(AuditRow.leaf_hash).where(AuditRow.leaf_index == 54_321))
    assert leaf is not None
    merkle.verify_inclusion(leaf=leaf, index=54_321, tree_size=n, proof=path, root_hash=root)
    print(f"\n100k leaves: inclusion {inclusion_s * 1000:.1f} ms / {inclusion_reads} reads, "
          f"consistency {consistency_s * 1000:.1f} ms / {consistency_reads} reads")  # fmt: skip
    assert inclusion_reads <= 20
    assert consistency_reads <= 40


# --- checkpoints ---------------------------------------------------------------------------------


def _anchor(gw: Gateway) -> None:
    federation.init(gw, role=federation.ANCHOR, region_id="yrd", region_name="长三角", actor="t")


def _verified(token: str, keys: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keyset = jwk.JWKSet.from_json(json.dumps(keys))
    signed = jws.JWS()
    signed.deserialize(token)
    signed.verify(keyset)
    header = signed.jose_header
    assert isinstance(header, dict)
    return header, json.loads(signed.payload)


def test_the_checkpoint_is_signed_by_a_key_of_the_entity_configuration(
    gw: Gateway, clock: FakeClock
) -> None:
    _anchor(gw)
    _fill(gw, 5)
    with client_for(gw) as client:
        got = client.get("/audit/checkpoint")
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("application/jwt")
        config = client.get("/.well-known/openid-federation").text
    with gw.sessions() as session:
        entity_id = federation.config(session).entity_id
    config_payload = json.loads(b64url_decode(config.split(".")[1]))
    header, payload = _verified(got.text, config_payload["jwks"])
    assert header["typ"] == auditheads.CHECKPOINT_TYP
    tree = _tree(gw)
    assert payload == {
        "iss": entity_id,
        "tree_size": tree.size,
        "root_hash": payload["root_hash"],
        "iat": clock.now,
    }
    assert b64url_decode(payload["root_hash"]) == tree.root()


def test_a_new_checkpoint_only_when_grown_and_at_most_one_a_second(
    gw: Gateway, clock: FakeClock
) -> None:
    _anchor(gw)
    first = auditheads.current(gw)
    assert auditheads.current(gw).jws == first.jws  # not grown: the same head
    _fill(gw, 3)
    assert auditheads.current(gw).jws == first.jws  # grown, but within the same second
    clock.advance(1)
    second = auditheads.current(gw)
    assert second.tree_size == first.tree_size + 3
    with gw.sessions() as session:
        assert [h.tree_size for h in auditheads.history(session)] == [
            first.tree_size,
            second.tree_size,
        ]


def test_a_checkpoint_needs_a_federation_role(gw: Gateway) -> None:
    with client_for(gw) as client:
        got = client.get("/audit/checkpoint")
    assert got.status_code == 404
    assert "联邦" in got.json()["detail"]["message"] + got.json()["detail"]["message_en"]


def test_an_emptied_database_starts_an_empty_tree_and_a_lost_state_is_refused(
    gw: Gateway,
) -> None:
    with gw.transaction() as session:
        session.execute(text("DELETE FROM audit_log"))
        session.execute(text("DELETE FROM audit_tree"))
    _fill(gw, 2)
    assert _tree(gw).size == 2
    with gw.transaction() as session:
        session.execute(text("DELETE FROM audit_tree"))
    with pytest.raises(auditlog.AuditLogDamaged):
        _fill(gw, 1)
    with gw.sessions() as session:
        assert session.get(AuditTreeRow, 1) is None


def test_the_app_serves_the_audit_routes_in_its_openapi(gw: Gateway) -> None:
    paths = create_app(gw).openapi()["paths"]
    assert set(paths["/audit/checkpoint"]["get"]["responses"]) >= {"200"}  # no parameter: no 422
    for path in ("/audit/proof/consistency", "/audit/proof/inclusion", "/audit/entries"):
        assert set(paths[path]["get"]["responses"]) >= {"200", "422"}


def test_licence_body_is_issued_over_the_api_as_a_leaf(gw: Gateway, amr: Agency) -> None:
    with client_for(gw) as client:
        got = client.post("/api/v1/credentials", json=licence_body(),
                          headers={"Authorization": f"Bearer {amr.api_key}"})  # fmt: skip
    assert got.status_code in (200, 201), got.text
    assert any(r.subject == got.json()["id"] and r.action == "credential.issue" for r in _rows(gw))


def test_migration_0012_makes_the_existing_rows_the_first_leaves_in_id_order(
    empty_db_url: str, tmp_path: Any, clock: FakeClock
) -> None:
    from gateway.migrate import upgrade

    upgrade(empty_db_url, "0011")
    engine = create_engine(empty_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO audit_log (at, actor, action, subject, detail) "
                     "VALUES (:at, :actor, :action, :subject, :detail)"),
                [{"at": 1_700_000_000 + i, "actor": "cli:t", "action": "agency.add",
                  "subject": f"a{i}", "detail": json.dumps({"types": ["营业执照"], "n": i})}
                 for i in range(300)],
            )  # fmt: skip
    finally:
        engine.dispose()
    upgrade(empty_db_url, "head")
    migrated = Gateway.open(
        Settings(data_dir=tmp_path / "m", database_url=empty_db_url, key_passphrase=PASSPHRASE,
                 public_url=None),
        clock=clock,
    )  # fmt: skip
    try:
        rows = _rows(migrated)
        assert [r.subject for r in rows] == [f"a{i}" for i in range(300)]  # id order
        assert [r.leaf_index for r in rows] == list(range(300))
        hashes = _recomputed(rows)
        assert [r.leaf_hash for r in rows] == hashes
        assert _tree(migrated).root() == merkle.root(hashes)
        with migrated.sessions() as session:  # the cached subtree of the first 256 is there
            subtrees = auditlog.StoredSubtrees(session, 300)
            assert subtrees(0, 256) == merkle.root(hashes[:256])
            assert subtrees.reads == 1
        with migrated.transaction() as session:
            audit.record(session, at=clock(), actor="t", action="test.after", subject="x")
        after = _rows(migrated)
        assert after[-1].leaf_index == 300
        assert _tree(migrated).root() == merkle.root(_recomputed(after))
    finally:
        migrated.close()


@contextmanager
def _writer_holding_the_lock(gw: Gateway) -> Iterator[None]:
    """Another connection in the middle of a write: SQLite's write lock, or on PostgreSQL the
    audit tree's row lock."""
    if gw.engine.dialect.name == "sqlite":
        path = gw.engine.url.database
        assert path is not None
        with closing(sqlite3.connect(path, isolation_level=None, timeout=1)) as other:
            other.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                other.execute("ROLLBACK")
        return
    with gw.engine.connect() as conn:
        conn.execute(text("SELECT size FROM audit_tree WHERE id = 1 FOR UPDATE"))
        try:
            yield
        finally:
            conn.rollback()


def test_a_checkpoint_request_does_not_queue_behind_a_long_write(
    gw: Gateway, clock: FakeClock
) -> None:
    """A read never waits on a writer: with SQLite's write lock held elsewhere the previous head
    is answered at once; on PostgreSQL storing a head waits on no writer (the tree's row lock
    held elsewhere), so the new one is."""
    _anchor(gw)
    first = auditheads.current(gw)
    _fill(gw, 2)
    clock.advance(5)
    with _writer_holding_the_lock(gw):
        started = time.perf_counter()
        with client_for(gw) as client:
            got = client.get("/audit/checkpoint")
        took = time.perf_counter() - started
    assert got.status_code == 200
    assert took < 3.0
    expected = first.tree_size if gw.engine.dialect.name == "sqlite" else first.tree_size + 2
    assert json.loads(b64url_decode(got.text.split(".")[1]))["tree_size"] == expected
    assert auditheads.current(gw).tree_size == first.tree_size + 2  # once the lock is free


def test_an_entity_id_longer_than_the_column_is_recorded_as_its_hash(gw: Gateway) -> None:
    long_id = "https://" + "a" * 240 + ".example"
    with gw.transaction() as session:
        audit.record(session, at=1, actor=long_id, action="federation.join_request",
                     subject=long_id)  # fmt: skip
    row = _rows(gw)[-1]
    assert row.subject == row.actor == f"sha256:{audit.text_hash(long_id)}"
    assert _tree(gw).root() == merkle.root(_recomputed(_rows(gw)))


@pytest.mark.parametrize(
    ("tamper", "index", "what"),
    [
        ("UPDATE audit_log SET subject = 'x' WHERE leaf_index = 4", 4, "leaf_hash"),
        ("DELETE FROM audit_log WHERE leaf_index = 6", 6, "missing"),
        ("DELETE FROM audit_log WHERE leaf_index >= 8", 8, "missing"),
        ("UPDATE audit_tree SET size = size + 1", 10, "missing"),
    ],
)
def test_verify_names_the_first_bad_entry_on_either_database(
    gw: Gateway, clock: FakeClock, tamper: str, index: int, what: str
) -> None:
    from gateway import auditverify

    with gw.transaction() as session:
        session.execute(text("DELETE FROM audit_log"))
        session.execute(text("DELETE FROM audit_tree"))
    _anchor(gw)  # leaves 0-1: the role taken and its key (then the anchor's)
    _fill(gw, 10 - _tree(gw).size)
    auditheads.current(gw)
    with gw.sessions() as session:
        assert auditverify.verify(session).ok
    with gw.transaction() as session:
        session.execute(text(tamper))
    with gw.sessions() as session:
        report = auditverify.verify(session)
    assert report.problem is not None
    assert (report.problem.index, report.problem.what) == (index, what)
