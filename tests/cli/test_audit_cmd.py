"""``ecert audit verify``: a database administrator's rewrite is found at its index.

Before (issue 11): the audit table was insert-only by convention; an UPDATE or DELETE run in the
database left nothing to notice. Now each row is a leaf of a Merkle tree whose heads are signed:
``verify`` recomputes the leaves, the roots and the signatures and names the first bad entry.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from cli.common import open_gateway
from cli.main import main
from gateway import agencies, auditheads, federation, issuance, status
from gateway.core import Gateway
from tests.conftest import PASSPHRASE
from tests.gateway.holders import fresh_licence


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A city gateway (anchor role, so it signs heads) with a few acts, two signed heads."""
    monkeypatch.setenv("ECERT_KEY_PASSPHRASE", PASSPHRASE)
    data = tmp_path / "hz"
    gw = open_gateway(data, create=True)
    try:
        agencies.init_city(gw, code="330100", name="杭州市",
                           public_url="https://ecert.hangzhou.gov.cn", actor="t")  # fmt: skip
        federation.init(gw, role=federation.ANCHOR, region_id="yrd", region_name="长三角",
                        actor="t")  # fmt: skip
        agency, _ = agencies.add_agency(gw, name="杭州市市场监督管理局", uscc="11330100MB1958123M",
                                        types=["business-licence"], actor="t")  # fmt: skip
        _acts(gw, agency.id, 3)
        _head(gw, 0)
        _acts(gw, agency.id, 3)
        _head(gw, 1)
    finally:
        gw.close()
    return data


def _acts(gw: Gateway, agency_id: str, count: int) -> None:
    for _ in range(count):
        row, _ = issuance.issue(
            gw,
            agency_id=agency_id,
            request=issuance.IssueRequest("business-licence", fresh_licence()),
        )
        status.change(gw, credential_id=row.id, action="suspend", reason="核查", actor="t",
                      agency_id=agency_id)  # fmt: skip


def _head(gw: Gateway, seconds: int) -> None:
    gw.clock = lambda: 1_790_000_000 + seconds  # one head a second at most
    auditheads.current(gw)


def _verify(data: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["audit", "verify", "--json", "--data-dir", str(data)])
    report = json.loads(capsys.readouterr().out)
    with pytest.raises(SystemExit) as again:
        main(["audit", "verify", "--data-dir", str(data)])
    text = capsys.readouterr()
    assert again.value.code == exited.value.code
    return int(exited.value.code or 0), report, text.out + text.err


def _sql(data: Path, statement: str, *params: object) -> None:
    """What a database administrator could run behind the gateway's back."""
    with closing(sqlite3.connect(data / "gateway.db")) as db:
        db.execute(statement, params)
        db.commit()


def _size(data: Path) -> int:
    with closing(sqlite3.connect(data / "gateway.db")) as db:
        (n,) = db.execute("SELECT count(*) FROM audit_log").fetchone()
    return int(n)


def test_an_untouched_log_verifies(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, text = _verify(data_dir, capsys)
    assert code == 0, text
    assert report["ok"] is True
    assert report["leaves"] == report["tree_size"] == _size(data_dir)
    assert report["checkpoints"] == 2
    assert "审计日志完好" in text
    assert "the audit log holds" in text


def test_an_updated_row_is_reported_at_its_index(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sql(data_dir, "UPDATE audit_log SET actor = 'someone-else' WHERE leaf_index = 7")
    code, report, text = _verify(data_dir, capsys)
    assert code == 1
    bad = report["first_bad"]
    assert (bad["index"], bad["what"]) == (7, "leaf_hash")
    assert bad["expected"] != bad["found"]
    assert "第 7 条" in text
    assert "leaf 7" in text


def test_a_row_rewritten_with_its_hash_is_caught_by_the_signed_head(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rewrite that also recomputes the stored hash still differs from the signed roots."""
    from gateway import auditlog
    from gateway.models import AuditRow
    from trust import merkle

    gw = open_gateway(data_dir)
    try:
        with gw.sessions() as session:
            row = session.query(AuditRow).filter(AuditRow.leaf_index == 2).one()
            leaf = {**auditlog.leaf_of(row), "actor": "forged"}
            forged = merkle.leaf_hash(auditlog.canonical(leaf))
    finally:
        gw.close()
    _sql(data_dir, "UPDATE audit_log SET actor = 'forged', leaf_hash = ? WHERE leaf_index = 2",
         forged)  # fmt: skip
    code, report, text = _verify(data_dir, capsys)
    assert code == 1, text
    bad = report["first_bad"]
    assert bad["what"] == "checkpoint_root"
    assert "between 0 and" in bad["message_en"]


def test_deleted_last_rows_are_reported_from_the_first_missing_index(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    n = _size(data_dir)
    _sql(data_dir, "DELETE FROM audit_log WHERE leaf_index >= ?", n - 3)
    code, report, _ = _verify(data_dir, capsys)
    assert code == 1
    bad = report["first_bad"]
    assert (bad["index"], bad["what"]) == (n - 3, "missing")
    assert str(n) in bad["expected"]


def test_a_deleted_middle_row_is_reported_at_its_index(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sql(data_dir, "DELETE FROM audit_log WHERE leaf_index = 5")
    code, report, text = _verify(data_dir, capsys)
    assert code == 1
    bad = report["first_bad"]
    assert (bad["index"], bad["what"]) == (5, "missing")
    assert "第 5 条缺失" in text


def test_a_forged_checkpoint_signature_is_reported(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sql(data_dir, "UPDATE audit_checkpoints SET jws = substr(jws, 1, length(jws) - 6) || 'AAAAAA' "
         "WHERE tree_size = (SELECT min(tree_size) FROM audit_checkpoints)")  # fmt: skip
    code, report, _ = _verify(data_dir, capsys)
    assert code == 1
    assert report["first_bad"]["what"] == "checkpoint_signature"


def test_checkpoint_prints_the_newest_signed_head(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["audit", "checkpoint", "--json", "--data-dir", str(data_dir)])
    assert exited.value.code == 0
    head = json.loads(capsys.readouterr().out)
    assert head["tree_size"] == _size(data_dir)
    assert head["checkpoint"].count(".") == 2
