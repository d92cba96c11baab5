"""Peers witness each other's audit logs: real ``ecert serve`` processes over real HTTP.

The six demo gateways (two regions) sync every 2 s; each witnesses the gateways it knows from
its verified federation data and co-signs their consistent heads. Then, as someone with the
database but not the federation keys would, one city's log is tampered with on disk while its
process is stopped, the tree state made to match (so its own ``ecert audit verify`` finds
nothing), and the process restarted:

- 杭州 truncated (its newest entries and heads deleted);
- 北京 rewritten (one old entry changed);
- 天津 restored from an old copy of its database (an online SQLite backup taken earlier);
- 苏州 restored by ``ecert restore --replace`` from an ``ecert backup`` archive taken earlier.

Each time the other cities report it at ``/healthz`` and in ``/metrics`` within one sync. Every
wait is a bounded poll; the measured times are printed at the end. 苏州 runs on PostgreSQL when
``ECERT_TEST_DATABASE_URL`` is set.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cli.federation_demo import DEMO_PASSPHRASE
from cli.federation_demo_procs import DemoFederation, DemoGateway, spawn, wait_ready
from tests.cli.helpers import ecert
from tests.federation.helpers import (
    Timings,
    health,
    http_client,
    issue,
    running_federation,
    wait_for,
)
from tests.gateway.holders import fresh_subject
from trust import merkle

pytestmark = pytest.mark.slow

REFRESH = 2  # ECERT_FEDERATION_REFRESH, seconds
SLACK = 5.0  # scheduling and HTTP on a busy 2-core runner
# A sync is due every refresh ±20 % and the loop wakes every 2 s ±20 %: a change made just
# after one started is seen by the next, at most two wake-ups later.
ONE_SYNC = 2 * REFRESH * 1.2 + SLACK
CITIES = ("hangzhou", "suzhou", "beijing", "tianjin")
NODE_STEP = 8  # the audit log's cached subtree levels (gateway.auditlog)


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoFederation]:
    base = tmp_path_factory.mktemp("witness") / "demo"
    with running_federation(base, refresh=REFRESH, status_ttl=30) as running:
        yield running


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with http_client() as client:
        yield client


@pytest.fixture(scope="module")
def timings() -> Timings:
    return Timings()


def _witnesses_of(http: httpx.Client, g: DemoGateway) -> dict[int, set[str]]:
    answer = http.get(f"{g.url}/audit/witnesses")
    assert answer.status_code == 200, answer.text
    return {h["tree_size"]: {w["witness"] for w in h["witnesses"]} for h in answer.json()["heads"]}


def _alarms(http: httpx.Client, g: DemoGateway, peer: DemoGateway) -> list[dict[str, Any]]:
    return [a for a in health(http, g)["audit"]["alarms"] if a["peer"] == peer.url]


def _metric(http: httpx.Client, g: DemoGateway, name: str, peer: DemoGateway) -> float | None:
    answer = http.get(f"{g.url}/metrics")
    assert answer.status_code == 200, answer.text
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("peer") == peer.url:
                return float(sample.value)
    return None


def _seen_by_all(http: httpx.Client, fed: DemoFederation, g: DemoGateway) -> int:
    """Wait until ``g`` has signed a head of its whole log and every other city has verified
    its log at that head; that size."""

    def probe() -> tuple[bool, Any]:
        sizes = {}
        for other in CITIES:
            if fed[other] is not g:
                peers = {p["peer"]: p for p in health(http, fed[other])["audit"]["peers"]}
                sizes[other] = peers.get(g.url, {}).get("tree_size")
        audit = health(http, g)["audit"]
        head = audit["last_checkpoint"]
        signed = head["tree_size"] if head else None
        whole = signed == audit["tree_size"]
        return whole and set(sizes.values()) == {signed}, (audit["tree_size"], signed, sizes)

    wait_for(f"{g.spec.name}'s whole log verified by the other cities", probe, timeout=90)
    size: int = health(http, g)["audit"]["last_checkpoint"]["tree_size"]
    return size


def _in_database(change: Callable[[sqlite3.Connection], None]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with closing(sqlite3.connect(path)) as db:
            change(db)
            db.commit()

    return apply


def _restart(g: DemoGateway, change: Callable[[Path], None]) -> float:
    """Stop ``g``, apply ``change`` to its SQLite database file, start it again; the
    ``time.monotonic()`` when it answers again."""
    assert g.proc is not None
    g.proc.terminate()
    g.proc.wait(timeout=10)
    if g._log_handle is not None:  # spawn opens the log anew
        g._log_handle.close()
    change(g.data_dir / "gateway.db")
    spawn(g)
    wait_ready({g.key: g}, 30)
    return time.monotonic()


def _leaf(row: tuple[Any, ...]) -> bytes:
    index, at, actor, action, subject, detail = row
    data = {"index": index, "at": at, "actor": actor, "action": action, "subject": subject,
            "detail": json.loads(detail)}  # fmt: skip
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return merkle.leaf_hash(canonical.encode())


def _rebuild_tree(db: sqlite3.Connection) -> None:
    """Make the tree state, cached subtrees and heads match the leaves left: what an intruder
    with the database does so that the gateway's own checks find nothing wrong."""
    leaves = [
        bytes(h) for (h,) in db.execute("SELECT leaf_hash FROM audit_log ORDER BY leaf_index")
    ]
    compact = merkle.CompactRange()
    for h in leaves:
        compact.append(h)
    db.execute("UPDATE audit_tree SET size = ?, hashes = ? WHERE id = 1",
               (compact.size, json.dumps([h.hex() for h in compact.hashes])))  # fmt: skip
    db.execute("DELETE FROM audit_nodes")
    level = NODE_STEP
    while 1 << level <= len(leaves):
        width = 1 << level
        for position in range(len(leaves) // width):
            subtree = merkle.root(leaves[position * width : (position + 1) * width])
            db.execute(
                "INSERT INTO audit_nodes (level, position, hash) VALUES (?, ?, ?)",
                (level, position, subtree),
            )
        level += NODE_STEP
    db.execute("DELETE FROM audit_checkpoints WHERE tree_size > ?", (len(leaves),))
    db.execute(
        "DELETE FROM audit_checkpoints WHERE tree_size = ? AND root_hash != ?",
        (len(leaves), compact.root()),
    )


def _reported(
    http: httpx.Client, fed: DemoFederation, victim: DemoGateway, kinds: set[str], since: float,
    timings: Timings, what: str,
) -> None:  # fmt: skip
    """Each other city reports an alarm of one of ``kinds`` about ``victim`` at /healthz and
    in /metrics, within one sync of ``since``."""
    for key in CITIES:
        g = fed[key]
        if g is victim:
            continue

        def probe(g: DemoGateway = g) -> tuple[bool, Any]:
            alarms = _alarms(http, g, victim)
            shown = _metric(http, g, "ecert_audit_witness_alarms", victim)
            found = {a["kind"] for a in alarms} & kinds
            return bool(found) and (shown or 0) >= 1, (alarms, shown)

        seconds = wait_for(f"{g.spec.name} reporting {what}", probe, since=since, timeout=60)
        timings.record(what, key, seconds, ONE_SYNC)
        assert seconds <= ONE_SYNC, f"{g.spec.name}: {seconds:.1f} s"
        assert health(http, g)["status"] == "degraded"


def test_cities_witness_each_other_and_co_sign_every_head(
    fed: DemoFederation, http: httpx.Client, timings: Timings
) -> None:
    started = time.monotonic()
    for key in CITIES:
        issue(http, fed[key], "business-licence", fresh_subject("business-licence"))
    for key in CITIES:
        g = fed[key]
        others = {fed[o].url for o in CITIES if o != key}

        def probe(g: DemoGateway = g, others: set[str] = others) -> tuple[bool, Any]:
            heads = _witnesses_of(http, g)
            newest = health(http, g)["audit"]["last_checkpoint"]
            size = newest["tree_size"] if newest else None
            return size in heads and others <= heads[size], (size, heads)

        seconds = wait_for(f"{g.spec.name}'s newest head co-signed by the other cities", probe,
                           since=started, timeout=90)  # fmt: skip
        timings.record("newest head co-signed by all cities", key, seconds, 90)
    for key in CITIES:
        assert health(http, fed[key])["status"] == "ok", health(http, fed[key])["audit"]


def test_a_city_whose_log_is_truncated_on_disk_is_reported_by_its_peers(
    fed: DemoFederation, http: httpx.Client, timings: Timings
) -> None:
    hz = fed["hangzhou"]
    issue(http, hz, "business-licence", fresh_subject("business-licence"))
    size = _seen_by_all(http, fed, hz)
    keep = size - 2

    def truncate(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM audit_log WHERE leaf_index >= ?", (keep,))
        _rebuild_tree(db)

    since = _restart(hz, _in_database(truncate))
    _reported(http, fed, hz, {"truncated", "rolled_back"}, since, timings, "杭州 truncated")
    # Its own check finds nothing: the log is consistent with itself. Only its witnesses know.
    local = ecert("audit", "verify", "--json", "--data-dir", str(hz.data_dir),
                  env={"ECERT_KEY_PASSPHRASE": DEMO_PASSPHRASE})  # fmt: skip
    assert local.returncode == 0, local
    assert local.json()["leaves"] == keep
    for key in ("suzhou", "beijing"):
        assert _metric(http, fed[key], "ecert_audit_peer_tree_size", hz) == size  # kept


def test_a_city_whose_old_entry_is_rewritten_is_reported_by_its_peers(
    fed: DemoFederation, http: httpx.Client, timings: Timings
) -> None:
    bj = fed["beijing"]
    size = _seen_by_all(http, fed, bj)

    def rewrite(db: sqlite3.Connection) -> None:
        row = db.execute(
            "SELECT id, leaf_index, at, actor, action, subject, detail FROM audit_log "
            "WHERE leaf_index = 1"
        ).fetchone()
        assert row is not None
        changed = (row[1], row[2] - 86_400, *row[3:])  # the act moved to the day before
        db.execute("UPDATE audit_log SET at = ?, leaf_hash = ? WHERE id = ?",
                   (changed[1], _leaf(changed), row[0]))  # fmt: skip
        _rebuild_tree(db)

    since = _restart(bj, _in_database(rewrite))
    _reported(http, fed, bj, {"rewritten"}, since, timings, "北京 rewritten")
    assert size > 1


def test_a_city_restored_from_an_old_backup_is_reported_by_its_peers(
    fed: DemoFederation, http: httpx.Client, timings: Timings
) -> None:
    tj = fed["tianjin"]
    before = _seen_by_all(http, fed, tj)
    backup = tj.data_dir / "backup.db"
    with (
        closing(sqlite3.connect(tj.data_dir / "gateway.db")) as live,
        closing(sqlite3.connect(backup)) as copy,
    ):
        live.backup(copy)  # an online backup, as an operator's nightly job takes it
    for _ in range(3):  # the day goes on: licences issued, the log grows and is witnessed
        issue(http, tj, "business-licence", fresh_subject("business-licence"))
    assert _seen_by_all(http, fed, tj) > before

    def restore(path: Path) -> None:
        for journal in path.parent.glob(path.name + "-*"):  # -wal, -shm of the newer database
            journal.unlink()
        shutil.copyfile(backup, path)

    since = _restart(tj, restore)
    _reported(http, fed, tj, {"rolled_back", "truncated"}, since, timings, "天津 restored")


def test_a_city_restored_by_ecert_restore_from_an_old_backup_is_reported_by_its_peers(
    fed: DemoFederation, http: httpx.Client, timings: Timings, tmp_path: Path
) -> None:
    """苏州 (on PostgreSQL when the suite has one): ``ecert backup``, a day's work witnessed,
    then, stopped, ``ecert restore --replace`` of the old archive (itself an audit event)."""
    sz = fed["suzhou"]
    before = _seen_by_all(http, fed, sz)
    archive = tmp_path / "suzhou-backup.tar.gz"
    done = ecert("backup", str(archive), "--data-dir", str(sz.data_dir), env=sz.env)
    assert done.returncode == 0, done
    for _ in range(3):
        issue(http, sz, "business-licence", fresh_subject("business-licence"))
    assert _seen_by_all(http, fed, sz) > before

    def restore(_: Path) -> None:
        back = ecert("restore", str(archive), "--replace", "--data-dir", str(sz.data_dir),
                     env=sz.env)  # fmt: skip
        assert back.returncode == 0, back

    since = _restart(sz, restore)
    _reported(http, fed, sz, {"rolled_back", "truncated"}, since, timings, "苏州 ecert restore")


def test_witness_times(timings: Timings) -> None:
    print("\n" + timings.table("audit witnesses (real processes)"))
    assert timings.rows
