"""``ecert backup`` and ``ecert restore``: a gateway's whole database in one checked archive.

The archive is a gzipped tar holding ``manifest.json`` and one ``tables/<name>.jsonl`` part a
table: one JSON object a row, by primary key, binary columns in base64. The manifest names the
format and its version, the schema revision (``gateway.migrate.HEAD``), when it was made, and
each table's row count and the SHA-256 of its part. Every table of the schema is taken,
generically, from the table metadata (a table added by a later migration comes along with no
change here); a database holding a table the metadata does not know is refused, not half-saved.

Keys stay as they are stored: encrypted with the key passphrase (``gateway.keyring``). The
archive never holds a decrypted private key nor the passphrase, and a restore first checks that
the passphrase configured where it restores opens the backup's keys.

A restore checks everything before it writes anything (:func:`read_archive`: the size bound,
the manifest, each part's hash and row count, each value against its column), refuses a target
that holds any row unless told to replace it, and writes in one transaction: all of the backup
and its audit event (``gateway.restore``, with the manifest's SHA-256), or nothing. A backup
made on SQLite restores into PostgreSQL and back. Deliberately not here: the key passphrase
itself (keep it apart from the backups) and witnessing (peers notice a log rolled back by a
restore from what they saw of it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import tarfile
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Integer,
    LargeBinary,
    String,
    Table,
    func,
    inspect,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from gateway import audit
from gateway.core import Gateway
from gateway.errors import Unprocessable
from gateway.migrate import HEAD
from gateway.models import AuditTreeRow, Base, FederationKeyRow, SigningKeyRow
from trust.errors import EcertError

FORMAT = "ecert-gateway-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_ARCHIVE = 1 << 30  # bytes: the archive file and the sum of its parts, decompressed
MAX_MANIFEST = 1 << 20
CHUNK = 1000  # rows a statement inserts


class BackupError(Unprocessable):
    """A backup that cannot be made or restored; zh-CN and English, nothing written."""


def _refuse(zh: str, en: str) -> BackupError:
    return BackupError(f"{zh}，未写入任何数据", f"{en}; nothing was written")


def tables() -> list[Table]:
    """Every table of the schema, parents before children."""
    return list(Base.metadata.sorted_tables)


@dataclass(frozen=True)
class Archive:
    """A checked archive: its manifest, the manifest's SHA-256 and every table's rows."""

    manifest: dict[str, Any]
    manifest_sha256: str
    rows: dict[str, list[dict[str, Any]]]

    @property
    def total_rows(self) -> int:
        return sum(len(r) for r in self.rows.values())


# --- making one -------------------------------------------------------------------------


def _encode(table: Table, row: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in table.columns:
        value = row[column.name]
        if isinstance(column.type, LargeBinary) and value is not None:
            value = base64.b64encode(bytes(value)).decode()
        out[column.name] = value
    return out


def _check_schema(conn: Connection) -> None:
    held = set(inspect(conn).get_table_names()) - {"alembic_version"}
    unknown = sorted(held - {t.name for t in tables()})
    if unknown:
        raise BackupError(
            f"数据库中有本版本不认识的表 {unknown}，无法完整备份",
            f"expected only the tables of schema {HEAD}; found also {unknown}: this version "
            "cannot back them up",
        )


def backup(gw: Gateway, path: Path) -> dict[str, Any]:
    """Write ``gw``'s database to ``path`` (through ``path.partial``, renamed when complete);
    the manifest, with its SHA-256 under ``manifest_sha256``."""
    parts: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    with gw.engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # one snapshot of every table
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            _check_schema(conn)
            for table in tables():
                order = list(table.primary_key.columns) or list(table.columns)
                rows = conn.execute(select(table).order_by(*order)).mappings()
                body = b"".join(orjson.dumps(_encode(table, r)) + b"\n" for r in rows)
                name = f"tables/{table.name}.jsonl"
                parts[name] = body
                entries.append({"name": table.name, "part": name, "rows": body.count(b"\n"),
                                "sha256": hashlib.sha256(body).hexdigest()})  # fmt: skip
    size = sum(len(b) for b in parts.values())
    if size > MAX_ARCHIVE:
        raise _refuse(
            f"备份超过上限 {MAX_ARCHIVE} 字节",
            f"expected at most {MAX_ARCHIVE} bytes, found {size}",
        )
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "schema_revision": HEAD,
                "created_at": gw.clock(), "dialect": gw.engine.dialect.name,
                "tables": entries}  # fmt: skip
    encoded = orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
    partial = path.with_name(path.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        for name, body in [(MANIFEST, encoded), *parts.items()]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(body), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(body))
    os.chmod(partial, 0o600)
    partial.replace(path)
    return {**manifest, "manifest_sha256": hashlib.sha256(encoded).hexdigest()}


# --- reading and checking one -----------------------------------------------------------


def _members(path: Path, limit: int) -> dict[str, bytes]:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BackupError(
            f"无法读取备份文件 {path}", f"cannot read the backup {path}: {exc}"
        ) from exc
    if size > limit:
        raise _refuse(
            f"备份文件超过上限 {limit} 字节", f"expected at most {limit} bytes, found {size}"
        )
    out: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(path, "r:gz") as tar:
            for info in tar:
                if not info.isfile() or info.name in out or len(out) > len(tables()):
                    raise _refuse(
                        f"备份中有多余或异常的条目 {info.name!r}",
                        f"expected {MANIFEST} and one part a table; found {info.name!r} besides",
                    )
                total += info.size
                if total > limit:
                    raise _refuse(
                        f"备份内容超过上限 {limit} 字节",
                        f"expected at most {limit} bytes unpacked, found more",
                    )
                handle = tar.extractfile(info)
                body = handle.read(info.size + 1) if handle is not None else b""
                if len(body) != info.size:
                    raise _refuse("备份条目不完整", f"{info.name} is shorter than its header says")
                out[info.name] = body
    except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error) as exc:
        raise _refuse(
            "备份文件已损坏或不完整", f"expected a complete gzipped tar archive: {exc}"
        ) from exc
    return out


def _manifest(members: Mapping[str, bytes]) -> dict[str, Any]:
    raw = members.get(MANIFEST, b"")
    try:
        manifest = orjson.loads(raw) if 0 < len(raw) <= MAX_MANIFEST else None
    except orjson.JSONDecodeError:
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _refuse("备份缺少有效的清单", f"expected a {FORMAT} {MANIFEST}; found none")
    found = (manifest.get("format_version"), manifest.get("schema_revision"))
    if found != (FORMAT_VERSION, HEAD):
        raise _refuse(
            f"备份的格式版本或数据库结构版本与本版本不符（{found[0]}，{found[1]}）",
            f"expected format version {FORMAT_VERSION} of schema {HEAD}; found format version "
            f"{found[0]} of schema {found[1]}",
        )
    entries: Any = manifest.get("tables")
    ok = isinstance(entries, list) and all(isinstance(e, dict) for e in entries)
    names = sorted(str(e.get("name")) for e in entries) if ok else None
    expected = sorted(t.name for t in tables())
    if names != expected:
        raise _refuse(
            "备份清单所列的表与本版本不符",
            f"expected the tables {expected}; found {names}",
        )
    return manifest


def _decode(table: Table, line: bytes, n: int) -> dict[str, Any]:
    where = f"{table.name} row {n}"
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise _refuse(f"表 {table.name} 第 {n} 行不是 JSON", f"{where} is not JSON") from exc
    columns = {c.name: c for c in table.columns}
    if not isinstance(row, dict) or set(row) != set(columns):
        found = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise _refuse(
            f"表 {table.name} 第 {n} 行的列与本版本不符",
            f"expected {where} to have the columns {sorted(columns)}; found {found}",
        )
    for name, value in row.items():
        column = columns[name]
        kind = column.type
        if value is None:
            ok = bool(column.nullable) or isinstance(kind, JSON)
        elif isinstance(kind, LargeBinary):
            try:
                row[name] = base64.b64decode(value, validate=True)
                ok = True
            except (binascii.Error, TypeError, ValueError):
                ok = False
        elif isinstance(kind, Boolean):
            ok = isinstance(value, bool)
        elif isinstance(kind, Integer):
            ok = (
                isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
            )
        elif isinstance(kind, String):
            ok = isinstance(value, str) and (kind.length is None or len(value) <= kind.length)
        else:
            ok = True  # JSON: any value JSON holds
        if not ok:
            raise _refuse(
                f"表 {table.name} 第 {n} 行的 {name} 列取值无效",
                f"expected {where}'s {name} to be a {kind} value; found {str(value)[:40]!r}",
            )
    return row


def read_archive(path: Path, *, limit: int = MAX_ARCHIVE) -> Archive:
    """The archive at ``path``, every part checked against the manifest and the schema."""
    members = _members(path, limit)
    manifest = _manifest(members)
    rows: dict[str, list[dict[str, Any]]] = {}
    by_name = {str(e["name"]): e for e in manifest["tables"]}
    for table in tables():
        entry = by_name[table.name]
        body = members.get(str(entry.get("part")))
        if body is None or hashlib.sha256(body).hexdigest() != entry.get("sha256"):
            raise _refuse(
                f"表 {table.name} 的数据缺失或校验值不符",
                f"expected the part {entry.get('part')} with SHA-256 {entry.get('sha256')}; "
                f"found {'none' if body is None else hashlib.sha256(body).hexdigest()}",
            )
        lines = body.splitlines()
        if len(lines) != entry.get("rows"):
            raise _refuse(
                f"表 {table.name} 的行数与清单不符",
                f"expected {entry.get('rows')} rows of {table.name}; found {len(lines)}",
            )
        rows[table.name] = [_decode(table, line, n) for n, line in enumerate(lines, 1)]
    if set(members) != {MANIFEST, *(str(e["part"]) for e in manifest["tables"])}:
        raise _refuse("备份中有清单未列出的条目", "found parts the manifest does not name")
    digest = hashlib.sha256(members[MANIFEST]).hexdigest()
    return Archive(manifest=manifest, manifest_sha256=digest, rows=rows)


# --- restoring one ----------------------------------------------------------------------


def _check_passphrase(gw: Gateway, archive: Archive) -> None:
    """The passphrase configured here opens the backup's keys (one of each kind is tried)."""
    for model in (SigningKeyRow, FederationKeyRow):
        held = archive.rows[str(model.__tablename__)]
        if not held:
            continue
        try:
            gw.keyring.unseal(held[0]["private_pem"])
        except (EcertError, ValueError, TypeError) as exc:
            raise _refuse(
                "此处配置的密钥口令无法打开备份中的密钥（须与备份时相同）",
                "expected the key passphrase configured here (ECERT_KEY_PASSPHRASE or the data "
                f"directory's key-passphrase file) to open the backup's keys; it does not ({exc})",
            ) from exc


# What a freshly migrated database holds before any act (migration 0012's empty audit tree
# state): not data, so it does not make a database non-empty (a restore replaces it).
_SEEDED = {AuditTreeRow.__tablename__: AuditTreeRow.size == 0}


def _row_counts(conn: Connection) -> dict[str, int]:
    """Rows each table holds, besides a fresh database's seeds; only tables with some."""
    counts: dict[str, int] = {}
    for table in tables():
        query = select(func.count()).select_from(table)
        seed = _SEEDED.get(table.name)
        if seed is not None:
            query = query.where(~seed)
        counts[table.name] = int(conn.scalar(query) or 0)
    return {name: n for name, n in counts.items() if n}


def _reset_sequences(conn: Connection) -> None:
    """PostgreSQL: serial columns continue after the restored ids."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables():
        for column in table.primary_key.columns:
            if column.autoincrement is True:
                highest = func.max(column)
                sequence = func.pg_get_serial_sequence(table.name, column.name)
                conn.execute(
                    select(func.setval(sequence, func.coalesce(highest, 1), highest.isnot(None)))
                )


def restore(
    gw: Gateway, path: Path, *, replace: bool, actor: str, limit: int = MAX_ARCHIVE
) -> dict[str, Any]:
    """Restore the archive at ``path`` into ``gw``'s database, all or nothing; what was done."""
    archive = read_archive(path, limit=limit)
    _check_passphrase(gw, archive)
    now = gw.clock()
    try:
        with gw.transaction() as session:
            conn = session.connection()
            held = _row_counts(conn)
            if held and not replace:
                raise _refuse(
                    f"目标数据库不是空的（{sum(held.values())} 行）；如确要替换，请加 --replace",
                    f"expected an empty database; found {sum(held.values())} rows in "
                    f"{sorted(held)}: restore into a fresh one, or pass --replace",
                )
            for table in reversed(tables()):
                conn.execute(table.delete())
            for table in tables():
                rows = archive.rows[table.name]
                for start in range(0, len(rows), CHUNK):
                    conn.execute(table.insert(), rows[start : start + CHUNK])
            _reset_sequences(conn)
            audit.record(
                session, at=now, actor=actor, action="gateway.restore",
                subject=archive.manifest_sha256, manifest_sha256=archive.manifest_sha256,
                schema_revision=HEAD, rows=archive.total_rows,
                backup_created_at=archive.manifest.get("created_at"), replaced=bool(held),
            )  # fmt: skip
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise _refuse(
            "数据库拒绝了备份中的数据", f"the database refused the backup: {reason}"
        ) from exc
    return {"manifest_sha256": archive.manifest_sha256, "rows": archive.total_rows,
            "tables": {t: len(r) for t, r in archive.rows.items()}, "replaced": bool(held),
            "schema_revision": archive.manifest["schema_revision"]}  # fmt: skip
