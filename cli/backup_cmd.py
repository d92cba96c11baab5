"""``ecert backup`` and ``ecert restore``: a gateway's database to one checked archive and back.

What it does: write every table of the gateway's database (SQLite or PostgreSQL) to an archive
with a manifest, keys as stored (encrypted), and restore such an archive into an empty database
of either kind, or, with ``--replace``, over a gateway's own data, all or nothing, through
``gateway.backup``; a restore is an audit event (``gateway.restore``, with the manifest's
SHA-256, actor ``cli:<login name>``).

What it deliberately does not do: copy the key passphrase (restoring needs the same one,
``ECERT_KEY_PASSPHRASE`` or the data directory's ``key-passphrase`` file, kept apart from
backups), or restore while that gateway's ``ecert serve`` runs (stop it first: a running
process keeps what it held in memory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from cli.federation_common import actor
from gateway import backup as backups

MAX_MIB = backups.MAX_ARCHIVE >> 20


def _bound(max_mib: int) -> int:
    return max_mib << 20


MaxMib = Annotated[
    int,
    typer.Option("--max-mib", min=1, max=4096, help="refuse an archive larger than this"),
]


def backup(
    out: Annotated[Path, typer.Argument(help="the archive to write (.tar.gz)")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Write this gateway's database to one archive (keys stay encrypted). 备份"""
    with gateway_at(data_dir) as gw:
        manifest = backups.backup(gw, out)
    rows = {t["name"]: t["rows"] for t in manifest["tables"]}
    if as_json:
        emit_json({"path": str(out), "manifest_sha256": manifest["manifest_sha256"],
                   "schema_revision": manifest["schema_revision"], "rows": rows})  # fmt: skip
        return
    say(f"backed up {sum(rows.values())} rows of {len(rows)} tables to {out} · 已备份")
    say(f"manifest SHA-256 {manifest['manifest_sha256']} (schema {manifest['schema_revision']})")


def restore(
    archive: Annotated[Path, typer.Argument(help="an archive `ecert backup` wrote")],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="replace what the database holds (else it must be empty)"),
    ] = False,
    max_mib: MaxMib = MAX_MIB,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Restore a backup into this gateway's database, all or nothing. 恢复"""
    with gateway_at(data_dir, create=True) as gw:  # a fresh data directory is restored into
        done: dict[str, Any] = backups.restore(
            gw, archive, replace=replace, actor=actor(), limit=_bound(max_mib)
        )
    if as_json:
        emit_json(done)
        return
    say(f"restored {done['rows']} rows of {len(done['tables'])} tables from {archive} · 已恢复")
    say(f"manifest SHA-256 {done['manifest_sha256']}")
