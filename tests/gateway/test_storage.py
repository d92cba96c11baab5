"""Migrations, settings, batch issuance and the QR budget, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from gateway import issuance
from gateway.core import Gateway
from gateway.models import Base, CredentialRow
from gateway.settings import DEMO_PASSPHRASE, Settings, SettingsError, load_settings
from issuers.qr import qr_text, qr_version
from tests.conftest import PASSPHRASE, Agency, FakeClock
from tests.gateway.holders import fresh_licence
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.encoding import b64url_decode
from trust.errors import FieldError

PUBLIC_URL = "https://ecert.hangzhou.gov.cn"
THIRTY_CHAR_NAME = "浙江省杭州市西湖区龙井村茶叶种植与销售专业合作社联合有限公司"


def test_migrations_match_the_models(gw: Gateway) -> None:
    with gw.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_settings_refuse_the_demo_passphrase_outside_demo(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="demo passphrase"):
        load_settings(data_dir=tmp_path, key_passphrase=DEMO_PASSPHRASE)
    assert load_settings(data_dir=tmp_path, key_passphrase=DEMO_PASSPHRASE, demo=True).demo


def test_settings_refuse_a_short_passphrase(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least 12"):
        load_settings(data_dir=tmp_path, key_passphrase="short")


def test_init_generates_a_private_passphrase_file_when_none_is_set(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    with pytest.raises(SettingsError, match="ECERT_KEY_PASSPHRASE"):
        _ = settings.passphrase
    assert settings.ensure_passphrase() is True
    assert (settings.passphrase_file.stat().st_mode & 0o777) == 0o600
    assert len(settings.passphrase) >= 32
    assert settings.ensure_passphrase() is False  # never overwritten


def test_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ECERT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ECERT_DATABASE_URL", "postgresql+psycopg://x@127.0.0.1/y")
    monkeypatch.setenv("ECERT_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("ECERT_KEY_PASSPHRASE", "a long enough passphrase")
    settings = load_settings()
    assert settings.data_dir == tmp_path
    assert settings.db_url == "postgresql+psycopg://x@127.0.0.1/y"
    assert settings.public_url == PUBLIC_URL


def _requests(n: int, prefix: str = "r") -> list[issuance.IssueRequest]:
    from stdnum.cn import uscc

    out = []
    for i in range(n):
        first17 = f"9133010{i:010d}"
        subject = {
            **SAMPLE_SUBJECTS["business-licence"],
            "name": f"批量测试{i}号有限公司",
            "uscc": first17 + uscc.calc_check_digit(first17),
        }
        out.append(issuance.IssueRequest("business-licence", subject, batch_ref=f"{prefix}:{i}"))
    return out


def _count(gw: Gateway) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CredentialRow)) or 0)


def test_batch_issues_in_one_transaction_and_resumes(gw: Gateway, amr: Agency) -> None:
    written, skipped = issuance.issue_many(gw, agency_id=amr.id, requests=_requests(50))
    assert (len(written), skipped) == (50, 0)
    again, skipped = issuance.issue_many(gw, agency_id=amr.id, requests=_requests(60))
    assert (len(again), skipped) == (10, 50)
    assert _count(gw) == 60
    serials = {r["serial"] for r in written + again}
    assert len(serials) == 60


def test_batch_with_one_bad_row_issues_nothing_and_names_the_row(gw: Gateway, amr: Agency) -> None:
    requests = _requests(5)
    bad = requests[3]
    requests[3] = issuance.IssueRequest(
        bad.type, {**bad.subject, "uscc": "123"}, batch_ref=bad.batch_ref
    )
    with pytest.raises(FieldError) as caught:
        issuance.issue_many(gw, agency_id=amr.id, requests=requests)
    assert caught.value.errors[0]["field"] == "[r:3] uscc"
    assert _count(gw) == 0


def test_status_lists_roll_over_when_full(gw: Gateway) -> None:
    from stdnum.cn import uscc as uscc_check

    from tests.conftest import make_agency

    gw.settings = gw.settings.model_copy(update={"status_list_size": 1024})
    gw.slots.list_size = 1024
    first17 = "11330100MB2468101"
    agency = make_agency(
        gw, name="杭州市滚动测试局", uscc=first17 + uscc_check.calc_check_digit(first17),
        types=["business-licence"],
    )  # fmt: skip
    assert [s.issuer_id for s in gw.state.statuses.values()] == [agency.id]  # made at registration
    issuance.issue_many(gw, agency_id=agency.id, requests=_requests(1500))
    assert [s.issuer_id for s in gw.state.statuses.values()] == [agency.id, agency.id]


def test_validity_defaults_and_bounds(gw: Gateway, amr: Agency, clock: FakeClock) -> None:
    unprinted = {
        k: v for k, v in SAMPLE_SUBJECTS["food-business-permit"].items() if k != "valid_until"
    }  # the request's valid_until is printed on the permit (gateway.validity_window)
    permit = issuance.IssueRequest("food-business-permit", unprinted, valid_until="2030-12-31")
    row, _ = issuance.issue(gw, agency_id=amr.id, request=permit)
    assert row.valid_until is not None
    assert row.subject["valid_until"] == "2030-12-31"
    assert row.valid_until % 86_400 == (86_399 - 8 * 3600) % 86_400  # end of day, China time
    backwards = issuance.IssueRequest(
        "business-licence", SAMPLE_SUBJECTS["business-licence"], valid_until="2020-01-01"
    )
    with pytest.raises(FieldError, match="valid_until"):
        issuance.issue(gw, agency_id=amr.id, request=backwards)
    bad_date = issuance.IssueRequest(
        "business-licence", SAMPLE_SUBJECTS["business-licence"], valid_from="2026-02-30"
    )
    with pytest.raises(FieldError, match="YYYY-MM-DD"):
        issuance.issue(gw, agency_id=amr.id, request=bad_date)


def test_qr_of_a_30_character_company_name_fits_version_17_at_ecc_m(
    gw: Gateway, amr: Agency
) -> None:
    assert len(THIRTY_CHAR_NAME) == 30
    later = time.strftime("%Y-%m-%d", time.gmtime(gw.clock() + 30 * 86_400))

    def version(valid_from: str | None, valid_until: str | None, dates: set[str]) -> int:
        subject = fresh_licence(name=THIRTY_CHAR_NAME)  # a holder each: one live licence each
        request = issuance.IssueRequest("business-licence", subject, valid_from, valid_until)
        row, _ = issuance.issue(gw, agency_id=amr.id, request=request)
        claims = orjson.loads(b64url_decode(row.token.split(".")[1]))
        assert {"nbf", "exp"} & set(claims) == dates
        return qr_version(qr_text(PUBLIC_URL, row.token), "M")

    assert version(None, None, set()) <= 17  # 长期: no end date
    assert version("2020-01-01", "2045-12-31", {"exp"}) <= 17
    assert version(later, None, {"nbf"}) <= 17
    # Known limit: a later start and an end date together add 23 characters to the token, and
    # the QR needs one version more (README, "How a certificate is shown").
    assert version(later, "2045-12-31", {"nbf", "exp"}) == 18


def test_every_shipped_type_fits_version_17(gw: Gateway) -> None:
    from stdnum.cn import uscc

    from tests.conftest import make_agency

    first17 = "11330100MB1234567"
    everything = make_agency(
        gw,
        name="杭州市综合发证中心",
        uscc=first17 + uscc.calc_check_digit(first17),
        types=[t.code for t in gw.types],
    )
    versions = {}
    for ctype in gw.types:
        row, _ = issuance.issue(
            gw,
            agency_id=everything.id,
            request=issuance.IssueRequest(ctype.code, SAMPLE_SUBJECTS[ctype.code]),
        )
        versions[ctype.code] = qr_version(qr_text(PUBLIC_URL, row.token), "M")
    assert set(versions) == {t.code for t in gw.types}
    assert max(versions.values()) <= 17, versions


def test_head_is_alembics_head() -> None:
    """Gateway.open skips Alembic when the database records HEAD: HEAD must be the newest."""
    from alembic.script import ScriptDirectory

    from gateway.migrate import HEAD, MIGRATIONS, alembic_config

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_heads() == [HEAD]
    assert (MIGRATIONS / "versions").is_dir()


def test_a_current_database_opens_without_loading_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'current.db'}"
    settings = Settings(data_dir=tmp_path, database_url=url, key_passphrase=PASSPHRASE)
    Gateway.open(settings).close()  # a new database: migrated to HEAD
    probe = (
        "import sys; from pathlib import Path; from gateway.core import Gateway; "
        "from gateway.settings import Settings; "
        f"Gateway.open(Settings(data_dir=Path({str(tmp_path)!r}), database_url={url!r}, "
        f"key_passphrase={PASSPHRASE!r})).close(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stderr


def test_a_database_of_an_older_version_is_migrated_on_open(tmp_path: Path) -> None:
    from gateway.migrate import needs_upgrade, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002")
    settings = Settings(data_dir=tmp_path, database_url=url, key_passphrase=PASSPHRASE)
    gateway = Gateway.open(settings)
    try:
        assert not needs_upgrade(gateway.engine)
    finally:
        gateway.close()


def test_a_database_newer_than_this_version_is_refused_saying_so(tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    from gateway.migrate import MigrationError

    url = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('9999')"))
    engine.dispose()
    settings = Settings(data_dir=tmp_path, database_url=url, key_passphrase=PASSPHRASE)
    with pytest.raises(MigrationError, match="cannot migrate the database to head"):
        Gateway.open(settings)
