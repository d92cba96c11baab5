"""``gateway.backup``: a single city's gateway backed up and restored, SQLite and PostgreSQL
either way round; keys stay encrypted; a damaged archive or a wrong passphrase writes nothing."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import tarfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, inspect, select
from stdnum.cn import uscc

from gateway import agencies, auditverify, backup
from gateway.core import Gateway
from gateway.models import AuditRow, SigningKeyRow, StatusListRow
from gateway.settings import Settings
from tests.conftest import PASSPHRASE, PG_ENV, PG_HOW, FakeClock, make_agency, pg_database
from tests.gateway.helpers import auth, client_for, count_credentials
from tests.gateway.holders import fresh_body

KINDS = ["sqlite", "postgres"]


@contextmanager
def _database(kind: str, tmp: Path, name: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'{name}.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(PG_HOW)
    with pg_database(base) as url:
        yield url


@contextmanager
def _gateway(
    url: str, tmp: Path, clock: FakeClock, passphrase: str = PASSPHRASE
) -> Iterator[Gateway]:
    settings = Settings(data_dir=tmp, database_url=url, key_passphrase=passphrase,
                        public_url=None, status_list_size=4096)  # fmt: skip
    gw = Gateway.open(settings, clock=clock)
    try:
        yield gw
    finally:
        gw.close()


def _city(gw: Gateway) -> dict[str, Any]:
    """杭州 with one agency: two licences issued, the second suspended; what a counter saw."""
    agencies.init_city(gw, code="330100", name="杭州市", public_url="https://ecert.hangzhou.gov.cn",
                       actor="test")  # fmt: skip
    code = "11330100MB1958123"
    amr = make_agency(gw, name="杭州市市场监督管理局", uscc=code + uscc.calc_check_digit(code),
                      types=["business-licence"])  # fmt: skip
    with client_for(gw) as client:
        issued = [
            client.post(
                "/api/v1/credentials",
                json=fresh_body(),
                headers=auth(amr.api_key),
            )
            for _ in range(2)
        ]
        assert all(r.status_code == 201 for r in issued), [r.text for r in issued]
        tokens = [r.json()["token"] for r in issued]
        suspended = client.post(f"/api/v1/credentials/{issued[1].json()['id']}/suspend",
                                json={"reason": "经营异常"}, headers=auth(amr.api_key))  # fmt: skip
        assert suspended.status_code == 200, suspended.text
        return {"tokens": tokens, "api_key": amr.api_key, **_seen(gw, tokens)}


def _seen(gw: Gateway, tokens: list[str]) -> dict[str, Any]:
    with client_for(gw) as client:
        reasons = [client.post("/api/v1/verify", json={"qr": t}).json()["reason"] for t in tokens]
        jwks = client.get("/.well-known/jwks.json").json()
    with gw.sessions() as session:
        lists = [(r.id, r.bits, r.size, bytes(r.data)) for r in
                 session.scalars(select(StatusListRow).order_by(StatusListRow.id))]  # fmt: skip
        keys = [(r.kid, r.public_jwk) for r in
                session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.kid))]  # fmt: skip
    return {"reasons": reasons, "jwks": jwks, "lists": lists, "keys": keys}


def _audit(gw: Gateway) -> list[AuditRow]:
    with gw.sessions() as session:
        return list(session.scalars(select(AuditRow).order_by(AuditRow.id)))


def _rows(gw: Gateway) -> int:
    """Rows in all (a fresh database holds its empty audit tree state: one row)."""
    with gw.engine.connect() as conn:
        return sum(
            int(conn.scalar(select(func.count()).select_from(t)) or 0) for t in backup.tables()
        )


@pytest.mark.parametrize(("source", "target"), [(s, t) for s in KINDS for t in KINDS])
def test_a_city_round_trips_and_its_credentials_still_verify(
    tmp_path: Path, clock: FakeClock, source: str, target: str
) -> None:
    archive = tmp_path / "hz.tar.gz"
    with ExitStack() as stack:
        src_url = stack.enter_context(_database(source, tmp_path, "src"))
        dst_url = stack.enter_context(_database(target, tmp_path, "dst"))
        with _gateway(src_url, tmp_path / "src", clock) as gw:
            before = _city(gw)
            made = backup.backup(gw, archive)
            with gw.engine.connect() as conn:
                schema = set(inspect(conn).get_table_names()) - {"alembic_version"}
        assert before["reasons"] == ["VALID", "SUSPENDED"]
        assert {t["name"] for t in made["tables"]} == schema  # every table, from the metadata
        assert not (tmp_path / "hz.tar.gz.partial").exists()
        clock.advance(60)
        with _gateway(dst_url, tmp_path / "dst", clock) as gw:
            done = backup.restore(gw, archive, replace=False, actor="cli:op")
        assert done["manifest_sha256"] == made["manifest_sha256"]
        with _gateway(dst_url, tmp_path / "dst", clock) as gw:  # a fresh process's view
            after = _seen(gw, before["tokens"])
            restored = _audit(gw)[-1]
            with gw.sessions() as session:  # the restored log holds, its new leaf included
                checked = auditverify.verify(session)
            assert checked.ok, checked.problem
            assert checked.size == restored.leaf_index + 1
            with client_for(gw) as client:  # it goes on: serials and ids continue (sequences)
                key = auth(before["api_key"])
                more = client.post("/api/v1/credentials", json=fresh_body(), headers=key)
                assert more.status_code == 201, more.text
                held = client.post(f"/api/v1/credentials/{more.json()['id']}/suspend",
                                   json={"reason": "经营异常"}, headers=key)  # fmt: skip
                assert held.status_code == 200, held.text
            assert count_credentials(gw) == 3
    assert after == {k: v for k, v in before.items() if k not in ("tokens", "api_key")}
    assert after["reasons"] == ["VALID", "SUSPENDED"]
    assert (restored.action, restored.actor, restored.at) == ("gateway.restore", "cli:op",
                                                              clock.now)  # fmt: skip
    assert restored.detail["manifest_sha256"] == made["manifest_sha256"]
    assert restored.detail["replaced"] is False


@pytest.fixture
def made(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Path, dict[str, Any]]]:
    """A backup of 杭州 on SQLite."""
    archive = tmp_path / "hz.tar.gz"
    with _gateway(f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "src", clock) as gw:
        _city(gw)
        yield archive, backup.backup(gw, archive)


def _parts(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def _write(archive: Path, parts: dict[str, bytes]) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for name, body in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))


def test_the_backup_holds_keys_only_encrypted_and_not_the_passphrase(
    made: tuple[Path, dict[str, Any]],
) -> None:
    archive, manifest = made
    parts = _parts(archive)
    everything = b"".join(parts.values())
    assert PASSPHRASE.encode() not in everything
    pems = [
        orjson.loads(line)["private_pem"]
        for table in ("signing_keys", "federation_keys")
        for line in parts[f"tables/{table}.jsonl"].splitlines()
    ]
    assert pems
    for pem in pems:
        decoded = base64.b64decode(pem)
        assert decoded.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert b"BEGIN PRIVATE KEY" not in everything
    listed = orjson.loads(parts["manifest.json"])
    assert listed["format_version"] == 1
    assert listed["schema_revision"] == manifest["schema_revision"]
    assert all(len(t["sha256"]) == 64 and t["rows"] >= 0 for t in listed["tables"])
    assert oct(archive.stat().st_mode & 0o777) == "0o600"


def _refused(tmp: Path, clock: FakeClock, archive: Path, match: str, **kw: Any) -> str:
    """Restore ``archive`` into a fresh SQLite gateway: refused, with zh-CN and English, and
    the database still empty."""
    with _gateway(f"sqlite:///{tmp / 'fresh.db'}", tmp / "fresh", clock, **kw) as gw:
        fresh = _rows(gw)
        with pytest.raises(backup.BackupError, match=match) as refused:
            backup.restore(gw, archive, replace=False, actor="cli:op")
        assert _rows(gw) == fresh
    assert refused.value.message_zh.endswith("未写入任何数据")
    assert refused.value.message_en.endswith("nothing was written")
    return refused.value.message_zh


def _flip_byte(archive: Path, at: float) -> None:
    data = bytearray(archive.read_bytes())
    data[int(len(data) * at)] ^= 0xFF
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("case", "damage", "match"),
    [
        ("a flipped byte", lambda p: _flip_byte(p, 0.5), "gzipped tar|SHA-256|JSON|rows"),
        ("cut in half", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
         "complete gzipped tar"),
        ("not an archive", lambda p: p.write_bytes(b"not a backup"), "complete gzipped tar"),
        ("an empty file", lambda p: p.write_bytes(b""), "complete gzipped tar"),
        ("no manifest", lambda p: _write(p, {}), "manifest.json"),
    ],
)  # fmt: skip
def test_a_corrupted_or_truncated_archive_is_refused_and_writes_nothing(
    tmp_path: Path, clock: FakeClock, made: tuple[Path, dict[str, Any]], case: str,
    damage: Any, match: str,
) -> None:  # fmt: skip
    archive, _ = made
    damage(archive)
    zh = _refused(tmp_path, clock, archive, match)
    assert any("\u4e00" <= c <= "\u9fff" for c in zh), case


def test_a_part_changed_under_its_manifest_is_refused(
    tmp_path: Path, clock: FakeClock, made: tuple[Path, dict[str, Any]]
) -> None:
    archive, _ = made
    parts = _parts(archive)
    parts["tables/credentials.jsonl"] = parts["tables/credentials.jsonl"].replace(b"0", b"1", 1)
    _write(archive, parts)
    _refused(tmp_path, clock, archive, "expected the part tables/credentials.jsonl with SHA-256")


def test_a_manifest_of_another_schema_or_row_count_is_refused(
    tmp_path: Path, clock: FakeClock, made: tuple[Path, dict[str, Any]]
) -> None:
    archive, _ = made
    parts = _parts(archive)
    manifest = orjson.loads(parts["manifest.json"])
    manifest["tables"][0]["rows"] += 1
    _write(archive, {**parts, "manifest.json": orjson.dumps(manifest)})
    _refused(tmp_path, clock, archive, "rows of")
    manifest["schema_revision"] = "0009"
    _write(archive, {**parts, "manifest.json": orjson.dumps(manifest)})
    _refused(tmp_path, clock, archive, "of schema 0009")


def test_a_value_that_does_not_fit_its_column_is_refused_before_writing(
    tmp_path: Path, clock: FakeClock, made: tuple[Path, dict[str, Any]]
) -> None:
    archive, _ = made
    parts = _parts(archive)
    (city,) = [orjson.loads(line) for line in parts["tables/city.jsonl"].splitlines()]
    city["code"] = "3" * 40  # String(6)
    parts["tables/city.jsonl"] = orjson.dumps(city) + b"\n"
    manifest = orjson.loads(parts["manifest.json"])
    entry = next(t for t in manifest["tables"] if t["name"] == "city")
    entry["sha256"] = hashlib.sha256(parts["tables/city.jsonl"]).hexdigest()
    _write(archive, {**parts, "manifest.json": orjson.dumps(manifest)})
    _refused(tmp_path, clock, archive, "city row 1's code")


def test_another_passphrase_cannot_restore_the_keys(
    tmp_path: Path, clock: FakeClock, made: tuple[Path, dict[str, Any]]
) -> None:
    archive, _ = made
    _refused(tmp_path, clock, archive, "passphrase", passphrase="another-passphrase-entirely")


def test_an_archive_over_the_bound_is_refused(
    tmp_path: Path, clock: FakeClock, made: tuple[Path, dict[str, Any]]
) -> None:
    archive, _ = made
    with _gateway(f"sqlite:///{tmp_path / 'fresh.db'}", tmp_path / "fresh", clock) as gw:
        fresh = _rows(gw)
        with pytest.raises(backup.BackupError, match="expected at most 1000 bytes"):
            backup.restore(gw, archive, replace=False, actor="cli:op", limit=1000)
        assert _rows(gw) == fresh


def test_a_non_empty_target_is_refused_unless_replaced_and_replacing_is_one_transaction(
    tmp_path: Path, clock: FakeClock
) -> None:
    archive = tmp_path / "hz.tar.gz"
    with _gateway(f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "src", clock) as gw:
        before = _city(gw)
        backup.backup(gw, archive)
        with client_for(gw) as client:  # after the backup: a third licence
            later = client.post("/api/v1/credentials", json=fresh_body(),
                                headers=auth(before["api_key"]))  # fmt: skip
            assert later.status_code == 201, later.text
        rows_after_backup = _rows(gw)
        with pytest.raises(backup.BackupError, match="expected an empty database"):
            backup.restore(gw, archive, replace=False, actor="cli:op")
        assert _rows(gw) == rows_after_backup
        done = backup.restore(gw, archive, replace=True, actor="cli:op")
        assert done["replaced"] is True
    with _gateway(f"sqlite:///{tmp_path / 'src.db'}", tmp_path / "src", clock) as gw:
        assert _seen(gw, before["tokens"])["reasons"] == ["VALID", "SUSPENDED"]
        assert count_credentials(gw) == 2  # the backup's state: the later licence is gone
        actions = [r.action for r in _audit(gw)]
        assert actions.count("gateway.restore") == 1  # the refused one left no trace
        assert actions[-1] == "gateway.restore"


def test_any_single_byte_damage_is_refused_with_our_error_or_changes_nothing(
    tmp_path: Path, made: tuple[Path, dict[str, Any]]
) -> None:
    """A property over 300 seeded corruptions: reading the archive raises only
    :class:`gateway.backup.BackupError`, or (a byte gzip or tar does not check, such as a
    header's time) gives exactly the rows the intact archive gives."""
    archive, manifest = made
    intact = backup.read_archive(archive)
    data = archive.read_bytes()
    rng = random.Random(11)
    damaged = tmp_path / "damaged.tar.gz"
    outcomes = {"refused": 0, "same": 0}
    for _ in range(300):
        copy = bytearray(data)
        at = rng.randrange(len(copy))
        copy[at] ^= rng.randrange(1, 256)
        cut = rng.random() < 0.2
        damaged.write_bytes(bytes(copy[: rng.randrange(len(copy))] if cut else copy))
        try:
            got = backup.read_archive(damaged)
        except backup.BackupError:
            outcomes["refused"] += 1
            continue
        assert got.rows == intact.rows, at
        outcomes["same"] += 1
    assert outcomes["refused"] > 250, outcomes
    assert intact.manifest_sha256 == manifest["manifest_sha256"]
