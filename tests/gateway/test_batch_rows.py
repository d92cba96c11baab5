"""Register rows issued once by their content or ref, and one live licence per holder (issue 12).

Issue 12: "``issue-batch`` recognises a re-run by the file's name: the same rows under another
name were issued again (one company ended with 3 live licences)." A row is now known by its
``ref``, else its type and subject, whatever the batch is called; and a holder with a live
credential of a type that allows one is refused another, however it is issued.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from stdnum.cn import uscc

from gateway import agencies, batch_issue, batch_rows, issuance
from gateway import status as status_service
from gateway.migrate import upgrade
from gateway.models import AuditRow, CredentialRow
from tests.conftest import Agency, FakeClock, make_agency
from tests.gateway.test_batch_identity import _open
from tests.issuers.samples import SAMPLE_SUBJECTS
from trust.errors import FieldError

TYPE = "business-licence"


def licence(n: int, **changes: str) -> dict[str, Any]:
    first17 = f"9133010{n:010d}"
    return {
        **SAMPLE_SUBJECTS[TYPE],
        "name": f"批量测试{n}号有限公司",
        "uscc": first17 + uscc.calc_check_digit(first17),
        **changes,
    }


def rows_of(n: int, prefix: str, *, ref: bool = False) -> list[issuance.IssueRequest]:
    """``n`` register rows as ``cli.batch_register`` makes them, under batch id ``prefix``."""
    out = []
    for i in range(n):
        subject = licence(i)
        key = batch_rows.row_key(TYPE, subject, f"R-{i}" if ref else None)
        out.append(issuance.IssueRequest(TYPE, subject, batch_ref=f"{prefix}:{i}", row_key=key))
    return out


def count(gw: Any) -> int:
    with gw.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CredentialRow)) or 0)


@pytest.mark.parametrize("ref", [False, True], ids=["by content", "by ref"])
def test_the_same_rows_under_another_batch_id_issue_nothing_new(
    gw: Any, amr: Agency, ref: bool
) -> None:
    written, skipped = issuance.issue_many(
        gw, agency_id=amr.id, requests=rows_of(4, "营业执照-2026-11.csv", ref=ref)
    )
    assert (len(written), skipped) == (4, 0)
    # The same file renamed, and again under an explicit --batch-id.
    for name in ("营业执照-2026-11 (1).csv", "november"):
        again, skipped = issuance.issue_many(
            gw, agency_id=amr.id, requests=rows_of(4, name, ref=ref)
        )
        assert (len(again), skipped) == (0, 4)
    assert count(gw) == 4


def test_a_ref_reused_for_another_certificate_is_refused_naming_the_issued_one(
    gw: Any, amr: Agency
) -> None:
    (first,), _ = issuance.issue_many(gw, agency_id=amr.id, requests=rows_of(1, "a", ref=True))
    other = licence(7)
    reused = issuance.IssueRequest(
        TYPE, other, batch_ref="b:0", row_key=batch_rows.row_key(TYPE, other, "R-0")
    )
    with pytest.raises(FieldError) as refused:
        issuance.issue_many(gw, agency_id=amr.id, requests=[reused])
    (error,) = refused.value.errors
    assert error["field"] == "[b:0] ref"
    assert first["id"] in error["message"]
    assert first["id"] in error["message_en"]
    assert count(gw) == 1


def test_issue_rows_answers_each_row_and_again_the_same_ids(gw: Any, amr: Agency) -> None:
    rows = [
        {"ref": "HZ-1", **licence(1)},
        {**licence(2), "uscc": "91330106MA2H0XK7P0"},  # a wrong check character
        licence(3),
    ]
    first = batch_issue.issue_rows(
        gw, agency_id=amr.id, type_code=TYPE, rows=rows, first_row=2, actor="console:王芳"
    )
    assert [r.row for r in first] == [2, 3, 4]
    good = [first[0], first[2]]
    assert all(r.id and r.identifier and r.qr_text and not r.already for r in good)
    assert all(r.error is None for r in good)
    bad = first[1]
    assert bad.id is None
    assert bad.error is not None
    assert bad.error.field == "uscc"
    assert bad.error.zh
    assert bad.error.en
    assert bad.error.zh != bad.error.en
    again = batch_issue.issue_rows(
        gw, agency_id=amr.id, type_code=TYPE, rows=rows, first_row=2, actor="console:王芳"
    )
    assert [(r.id, r.already) for r in again] == [(first[0].id, True), (None, False),
                                                   (first[2].id, True)]  # fmt: skip
    assert [r.qr_text for r in again] == [r.qr_text for r in first]
    assert count(gw) == 2
    with gw.sessions() as session:
        actors = set(session.scalars(
            select(AuditRow.actor).where(AuditRow.action == "credential.issue")
        ))  # fmt: skip
    assert actors == {"console:王芳"}


def test_issue_rows_is_bounded(gw: Any, amr: Agency) -> None:
    rows = [licence(i) for i in range(batch_issue.MAX_ROWS + 1)]
    with pytest.raises(FieldError) as refused:
        batch_issue.issue_rows(gw, agency_id=amr.id, type_code=TYPE, rows=rows, first_row=1,
                               actor="t")  # fmt: skip
    assert refused.value.errors[0]["field"] == "rows"
    assert str(batch_issue.MAX_ROWS + 1) in refused.value.errors[0]["message_en"]
    assert count(gw) == 0


def test_result_csv_has_the_exact_header_and_one_line_a_row(gw: Any, amr: Agency) -> None:
    rows = [licence(1), {**licence(2), "uscc": "x"}]
    results = batch_issue.issue_rows(
        gw, agency_id=amr.id, type_code=TYPE, rows=rows, first_row=1, actor="t"
    )
    text = batch_issue.result_csv(results)
    assert text.splitlines()[0] == "row,id,证照标识,qr_text,error"
    lines = list(csv.reader(io.StringIO(text)))[1:]
    assert lines[0] == ["1", results[0].id, results[0].identifier, results[0].qr_text, ""]
    assert lines[1][:4] == ["2", "", "", ""]
    assert "uscc" in lines[1][4]
    assert " · " in lines[1][4]


def test_a_holder_with_a_live_licence_is_refused_another_naming_it(
    gw: Any, amr: Agency, clock: FakeClock
) -> None:
    subject = licence(5)
    live, _ = issuance.issue(gw, agency_id=amr.id, request=issuance.IssueRequest(TYPE, subject))
    renamed = {**subject, "name": "批量测试5号（更名）有限公司"}
    for attempt in ({"valid_until": None}, {"valid_until": "2099-12-31"}):
        with pytest.raises(FieldError) as refused:
            issuance.issue(
                gw, agency_id=amr.id,
                request=issuance.IssueRequest(TYPE, renamed, valid_until=attempt["valid_until"]),
            )  # fmt: skip
        (error,) = refused.value.errors
        assert error["field"] == "subject.uscc"
        assert live.id in error["message"]
        assert live.id in error["message_en"]
    # Suspended still counts (it may be reinstated); revoked does not.
    for action, allowed in (("suspend", False), ("revoke", True)):
        status_service.change(gw, credential_id=live.id, action=action, reason="核查",
                              actor="t", agency_id=None, code=None)  # fmt: skip
        request = issuance.IssueRequest(TYPE, renamed)
        if allowed:
            issuance.issue(gw, agency_id=amr.id, request=request)
        else:
            with pytest.raises(FieldError):
                issuance.issue(gw, agency_id=amr.id, request=request)
    assert count(gw) == 2


def test_an_expired_licence_is_not_live(gw: Any, amr: Agency, clock: FakeClock) -> None:
    subject = licence(6)
    issuance.issue(
        gw, agency_id=amr.id,
        request=issuance.IssueRequest(TYPE, subject, valid_until="2026-10-01"),
    )  # fmt: skip
    clock.advance(366 * 86_400)
    issuance.issue(gw, agency_id=amr.id, request=issuance.IssueRequest(TYPE, subject))
    assert count(gw) == 2


def test_a_type_that_allows_several_issues_them(gw: Any, amr: Agency) -> None:
    assert gw.types.get("food-business-permit").several_live_per_holder
    permit = dict(SAMPLE_SUBJECTS["food-business-permit"])
    for premises in ("一号店", "二号店"):
        issuance.issue(
            gw, agency_id=amr.id,
            request=issuance.IssueRequest("food-business-permit", {**permit, "premises": premises}),
        )  # fmt: skip
    assert count(gw) == 2


def test_two_rows_for_one_holder_in_a_batch_refuse_the_second(gw: Any, amr: Agency) -> None:
    rows = [licence(8), licence(8, name="同一主体的另一名称有限公司")]
    results = batch_issue.issue_rows(
        gw, agency_id=amr.id, type_code=TYPE, rows=rows, first_row=10, actor="t"
    )
    assert results[0].id is not None
    assert results[0].error is None
    assert results[1].id is None
    assert results[1].error is not None
    assert "row 10" in results[1].error.en
    assert "第 10 行" in results[1].error.zh


def test_rows_from_before_0015_are_still_recognised_by_their_batch_id(
    empty_db_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    upgrade(empty_db_url, "0014")
    old = _open(empty_db_url, tmp_path, clock, migrate=False)
    try:
        agencies.init_city(
            old, code="330100", name="杭州市", public_url="https://ecert.hz.example", actor="t"
        )
        amr = make_agency(old, name="杭州市市场监督管理局", uscc="11330100MB1958123M",
                          types=[TYPE])  # fmt: skip
        # What a version before 0015 wrote: rows known by their batch_ref only.
        legacy = [issuance.IssueRequest(r.type, r.subject, batch_ref=r.batch_ref)
                  for r in rows_of(3, "register.csv")]  # fmt: skip
        with old.transaction() as session:
            signer = issuance.load_signer(session, amr.id, lock=True)
            prepared = [issuance.prepare(old, signer.agency, r, clock()) for r in legacy]
            issuance._write(old, session, signer, prepared, clock())
    finally:
        old.close()
    gw = _open(empty_db_url, tmp_path, clock, migrate=True)
    try:
        written, skipped = issuance.issue_many(
            gw, agency_id=amr.id, requests=rows_of(3, "register.csv")
        )
        assert (len(written), skipped) == (0, 3)
        # Under another name they are refused by the holder rule, not issued again.
        with pytest.raises(FieldError) as refused:
            issuance.issue_many(gw, agency_id=amr.id, requests=rows_of(3, "renamed.csv"))
        assert {e["code"] for e in refused.value.errors} == {"holder_has_live"}
        assert count(gw) == 3
    finally:
        gw.close()


def test_rows_another_run_issues_after_the_first_look_are_found_issued_not_refused(
    gw: Any, amr: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CI: a second `issue-batch` of one register, 1.5 s behind the first, refused the first's
    # rows ("the holder holds a live licence"): its first pass looked for the rows before the
    # first run committed them and for the holders' live licences after. They are the rows
    # themselves, issued: found issued, not refused.
    requests = rows_of(3, "营业执照-2026-12.csv")
    issuance.issue_many(gw, agency_id=amr.id, requests=rows_of(3, "营业执照-2026-12.csv"))
    # The look for issued rows found none: it ran before the other run committed them.
    monkeypatch.setattr(batch_rows, "_existing", lambda *args: None)
    problems = batch_rows.check_chunk(gw, agency_id=amr.id, requests=requests, label=str)
    assert problems == [[], [], []]
    assert count(gw) == 3


def test_a_chunk_draws_each_credential_its_own_id_as_one_issuance_does(
    gw: Any, amr: Agency
) -> None:
    """Issue 13: a chunk draws its ids from one read of the random source, each 10 bytes (20
    hex characters) as :func:`issuance.mint` draws one."""
    written, _ = issuance.issue_many(gw, agency_id=amr.id, requests=rows_of(120, "ids"))
    ids = [row["id"] for row in written]
    assert len(set(ids)) == len(ids) == 120
    assert all(len(i) == 20 and int(i, 16) >= 0 for i in ids)
    one, _ = issuance.issue(gw, agency_id=amr.id, request=issuance.IssueRequest(TYPE, licence(999)))
    assert len(one.id) == 20
