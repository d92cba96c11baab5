"""Batch issuance is exactly-once per row, enforced by the database (issue 8, "one city").

A unique key on ``(agency_id, batch_ref)`` (NULL for credentials not issued from a register)
holds however the service is called; migration 0003 adds it to a database that may already
hold rows issued twice by the old race, keeping every credential.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from gateway import agencies, issuance
from gateway.core import Gateway
from gateway.migrate import upgrade
from gateway.models import AuditRow, CredentialRow
from gateway.settings import Settings
from tests.conftest import PASSPHRASE, Agency, FakeClock, make_agency
from tests.gateway.test_storage import _requests
from trust.errors import FieldError


def _open(db_url: str, tmp_path: Path, clock: FakeClock, *, migrate: bool) -> Gateway:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=db_url,
        key_passphrase=PASSPHRASE,
        status_list_size=4096,
    )
    return Gateway.open(settings, clock=clock, migrate=migrate)


def _by_ref(gw: Gateway) -> dict[str | None, list[str]]:
    out: dict[str | None, list[str]] = {}
    with gw.sessions() as session:
        for ref, cid in session.execute(
            select(CredentialRow.batch_ref, CredentialRow.id).order_by(CredentialRow.serial)
        ):
            out.setdefault(ref, []).append(cid)
    return out


def test_the_database_refuses_a_second_credential_for_one_batch_row(
    gw: Gateway, amr: Agency
) -> None:
    written, _ = issuance.issue_many(gw, agency_id=amr.id, requests=_requests(3))
    copy = {**written[0], "id": "dup", "identifier": "x", "token_hash": "y", "status_idx": 4000}
    with pytest.raises(IntegrityError), gw.transaction() as session:
        session.execute(insert(CredentialRow), [copy])
    # NULL is no batch row: credentials issued one by one never collide on the key (two
    # holders: one holder may hold one live licence, issue 12).
    for request in _requests(5)[3:]:  # holders not among the batch's three
        issuance.issue(
            gw, agency_id=amr.id, request=issuance.IssueRequest(request.type, request.subject)
        )
    with gw.sessions() as session:
        unbatched = select(func.count()).where(CredentialRow.batch_ref.is_(None))
        assert session.scalar(unbatched) == 2


def test_one_chunk_naming_a_row_twice_is_refused_naming_both(gw: Gateway, amr: Agency) -> None:
    requests = _requests(5)
    requests[4] = issuance.IssueRequest(
        requests[4].type, requests[4].subject, batch_ref=requests[1].batch_ref
    )
    with pytest.raises(FieldError) as caught:
        issuance.issue_many(gw, agency_id=amr.id, requests=requests)
    (error,) = caught.value.errors
    assert error["field"] == "[4] batch_ref"
    assert "[1]" in error["message_en"]
    assert "[1]" in error["message"]
    assert _by_ref(gw) == {}


def test_migration_keeps_every_credential_and_detaches_the_later_duplicates(
    empty_db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    upgrade(empty_db_url, "0002")  # the schema without the key, as the race found it
    old = _open(empty_db_url, tmp_path, clock, migrate=False)
    try:
        agencies.init_city(
            old, code="330100", name="杭州市", public_url="https://ecert.hz.example", actor="t"
        )
        amr = make_agency(
            old, name="杭州市市场监督管理局", uscc="11330100MB1958123M", types=["business-licence"]
        )
        requests = _requests(4, prefix="register.csv")
        # What two racing runs wrote: rows 0-2 twice, row 1 three times, row 3 once.
        for chunk in (requests[:3], requests[:3], requests[1:2], requests[3:]):
            with old.transaction() as session:
                signer = issuance.load_signer(session, amr.id, lock=True)
                prepared = [issuance.prepare(old, signer.agency, r, clock()) for r in chunk]
                issuance._write(old, session, signer, prepared, clock())
            clock.advance(1)
        before = _by_ref(old)
        assert sum(len(ids) for ids in before.values()) == 8
    finally:
        old.close()

    gw = _open(empty_db_url, tmp_path, clock, migrate=True)
    try:
        after = _by_ref(gw)
        refs = [r.batch_ref for r in requests]
        # The first issued of each row keeps its place in the register ...
        assert {ref: after[ref] for ref in refs} == {ref: before[ref][:1] for ref in refs}
        # ... the others are kept too, detached from it (their tokens stay as signed) ...
        detached = sorted(cid for ref in refs for cid in before[ref][1:])
        assert sorted(after[None]) == detached
        assert len(detached) == 4
        # ... and each detachment is in the audit log with the row it was issued for.
        with gw.sessions() as session:
            logged = {
                a.subject: a.detail
                for a in session.scalars(
                    select(AuditRow).where(AuditRow.action == "credential.batch_duplicate")
                )
            }
        assert sorted(logged) == detached
        for ref in refs:
            for cid in before[ref][1:]:
                assert logged[cid] == {"batch_ref": ref, "kept": before[ref][0]}
        # A re-run of the register now skips every row: nothing more is issued.
        written, skipped = issuance.issue_many(gw, agency_id=amr.id, requests=requests)
        assert (len(written), skipped) == (0, 4)
    finally:
        gw.close()
