"""``ecert backup`` and ``ecert restore`` end to end: real processes, a data directory made
with the CLI itself (``tests.cli.conftest``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import City
from tests.cli.helpers import ecert, ecert_many

pytestmark = pytest.mark.slow


def test_a_backup_restores_into_a_fresh_data_directory_and_refuses_what_it_must(
    city: City, tmp_path: Path
) -> None:
    archive = tmp_path / "hz.tar.gz"
    made = ecert("backup", *city.args(), str(archive), "--json")
    assert made.returncode == 0, made
    manifest = made.json()
    assert manifest["rows"]["credentials"] == 1
    assert len(manifest["manifest_sha256"]) == 64

    fresh, bare, other = tmp_path / "fresh", tmp_path / "bare", tmp_path / "other"
    fresh.mkdir()
    other.mkdir()
    shutil.copy(city.data_dir / "key-passphrase", fresh / "key-passphrase")  # kept apart
    shutil.copy(city.data_dir / "key-passphrase", other / "key-passphrase")
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(archive.read_bytes()[:-200])
    restored, no_passphrase, broken = ecert_many(
        [
            ["restore", "--data-dir", str(fresh), str(archive), "--json"],
            ["restore", "--data-dir", str(bare), str(archive)],
            ["restore", "--data-dir", str(other), str(damaged)],
        ]
    )
    assert restored.returncode == 0, restored
    assert restored.json()["manifest_sha256"] == manifest["manifest_sha256"]
    assert restored.json()["tables"] == manifest["rows"]

    line = no_passphrase.one_error_line()
    assert "密钥口令" in line
    assert "passphrase" in line
    assert "nothing was written" in line
    line = broken.one_error_line()
    assert "备份文件已损坏或不完整" in line
    assert "nothing was written" in line

    verified, again = ecert_many(
        [
            ["verify", "--data-dir", str(fresh), "--qr-text", city.credential["qr_text"],
             "--json"],
            ["restore", "--data-dir", str(fresh), str(archive)],
        ]
    )  # fmt: skip
    assert verified.returncode == 0, verified
    assert verified.json()["reason"] == "VALID"
    line = again.one_error_line()
    assert "--replace" in line
    assert "expected an empty database" in line
