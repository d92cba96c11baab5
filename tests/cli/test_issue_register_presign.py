"""A register's chunks signed by a second process while the chunk before is written (issue 13,
:mod:`gateway.presign`): the rows stored are those signed here would be; a chunk whose plan
changed after it was signed, or whose worker died, is signed here; the worker ends with the
run however it ends. On SQLite, and on PostgreSQL when ``ECERT_TEST_DATABASE_URL`` is set."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cli.batch_register import RegisterError
from cli.issue_batch import issue_register
from gateway import batch_rows, presign
from gateway.core import Gateway
from gateway.presign import Pending, Presigned, SecondSigner
from loadtests.bench_issue import local_gateway, write_register
from verify.reasons import Reason
from verify.verifier import verify_scanned

ROWS, CHUNK = 14, 4  # chunks of 4, 4, 4 and 2
FIRST = 700


@pytest.fixture
def city(empty_db_url: str, tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    """A city on SQLite, or on a new PostgreSQL database when ``ECERT_TEST_DATABASE_URL`` is
    set (:func:`tests.conftest.empty_db_url`)."""
    with local_gateway(tmp_path / "city", empty_db_url) as opened:
        yield opened


@pytest.fixture
def matched(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each chunk's answer to "were these rows signed as planned?", in order; and the worker
    waited for once started (bounded), so that every chunk is offered to it."""
    answers: list[bool] = []
    matches, start = Presigned.matches, SecondSigner.start

    def recorded(self: Presigned, *args: Any) -> bool:
        answers.append(matches(self, *args))
        return answers[-1]

    def started(self: SecondSigner) -> None:
        start(self)
        assert self.wait_ready(120)

    monkeypatch.setattr(Presigned, "matches", recorded)
    monkeypatch.setattr(SecondSigner, "start", started)
    return answers


def run(gw: Gateway, agency: str, register: Path, **options: Any) -> dict[str, int]:
    done = {"issued": 0, "skipped": 0}
    issue_register(
        gw, file=register, kind="csv", agency=agency, type_="business-licence",
        batch_id="presign", chunk_size=CHUNK, sheet=None, done=done, **options,
    )  # fmt: skip
    return done


def stored(gw: Gateway) -> list[tuple[Any, ...]]:
    """(serial, subject as stored, token, row_key, row_content) of every credential, by
    serial."""
    subject = "subject::text" if gw.engine.dialect.name == "postgresql" else "subject"
    with gw.engine.connect() as conn:
        found = conn.execute(
            text(
                f"SELECT serial, {subject}, token, row_key, row_content FROM credentials "  # noqa: S608
                "ORDER BY serial"
            )
        )
        return [tuple(r) for r in found]


def audit_issues(gw: Gateway) -> int:
    with gw.engine.connect() as conn:
        found = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'credential.issue'")
        ).scalar()
    return int(found or 0)


def assert_all_valid(gw: Gateway, tokens: list[str]) -> list[tuple[Any, ...]]:
    """Each token verified VALID by ``gw``: what a counter is shown of each (identifier, type,
    fields, window)."""
    state, now = gw.state, gw.clock()
    shown = []
    for token in tokens:
        result = verify_scanned(token, trust=state.trust, statuses=state.statuses, now=now)
        assert result.reason is Reason.VALID, result.detail
        view = result.credential
        assert view is not None
        shown.append(
            (view.identifier, view.type_info.code, view.values, view.valid_from, view.valid_until)
        )
    return shown


def test_rows_signed_ahead_are_stored_as_rows_signed_here(
    city: tuple[Gateway, str], matched: list[bool], tmp_path: Path, empty_db_url: str
) -> None:
    gw, agency = city
    register = write_register(tmp_path / "r.csv", ROWS, FIRST)
    assert run(gw, agency, register, sign_ahead_from=1) == {"issued": ROWS, "skipped": 0}
    assert matched == [True] * 4  # every chunk's signed rows were the ones inserted
    assert multiprocessing.active_children() == []  # the worker ended with the run
    ahead = stored(gw)
    assert [int(r[0][-7:]) for r in ahead] == list(range(1, ROWS + 1))  # no serial skipped
    assert len({r[3] for r in ahead}) == ROWS
    assert audit_issues(gw) == ROWS
    shown_ahead = assert_all_valid(gw, [r[2] for r in ahead])
    assert run(gw, agency, register, sign_ahead_from=1) == {"issued": 0, "skipped": ROWS}

    # The same register signed in this process, in another city: the same subjects' text.
    with local_gateway(tmp_path / "here", None) as (here, here_agency):
        assert run(here, here_agency, register, sign_ahead_from=None) == {
            "issued": ROWS,
            "skipped": 0,
        }
        signed_here = stored(here)
        shown_here = assert_all_valid(here, [r[2] for r in signed_here])
    # What a counter is shown: the same 证照标识, type and fields, and the same window but for
    # the seconds between the two runs.
    assert [s[:3] for s in shown_ahead] == [s[:3] for s in shown_here]
    for ahead_view, here_view in zip(shown_ahead, shown_here, strict=True):
        assert abs(ahead_view[3] - here_view[3]) <= 5  # valid from
        assert (ahead_view[4] is None) == (here_view[4] is None)
        assert ahead_view[4] is None or abs(ahead_view[4] - here_view[4]) <= 5  # valid until
    if empty_db_url.startswith("sqlite"):  # the same text, byte for byte (PostgreSQL: its own)
        assert [r[1] for r in ahead] == [r[1] for r in signed_here]
    assert [r[3:] for r in ahead] == [r[3:] for r in signed_here]  # identity and content


def test_a_chunk_issued_elsewhere_after_it_was_signed_is_signed_here(
    city: tuple[Gateway, str],
    matched: list[bool],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another run issues a row of the second chunk between its signing and its write: the
    chunk's plan (under the lock, as always) skips that row, the signed rows are dropped and
    the rest are signed here; every row is issued once, the dropped reservation is a gap."""
    gw, agency = city
    register = write_register(tmp_path / "r.csv", ROWS, FIRST)
    collect = Pending.collect
    chunks: list[int] = []

    def issued_meanwhile(self: Pending, wait: float | None = None) -> Presigned | None:
        signed = collect(self, wait)
        chunks.append(len(chunks))
        if len(chunks) == 2 and signed is not None:
            request = signed.of.items[1].request  # as another run of the register would
            outcomes, _ = batch_rows.issue_chunk(
                gw, agency_id=agency, requests=[request], label=lambda n: ("", ""),
                all_or_nothing=True,
            )  # fmt: skip
            assert outcomes[0].id is not None
            assert not outcomes[0].already
        return signed

    monkeypatch.setattr(Pending, "collect", issued_meanwhile)
    assert run(gw, agency, register, sign_ahead_from=1) == {"issued": ROWS - 1, "skipped": 1}
    assert matched == [True, False, True, True]
    rows = stored(gw)
    assert len(rows) == ROWS
    assert len({r[3] for r in rows}) == ROWS  # each row once
    serials = [int(r[0][-7:]) for r in rows]
    assert len(set(serials)) == ROWS
    assert max(serials) > ROWS
    assert audit_issues(gw) == ROWS
    assert_all_valid(gw, [r[2] for r in rows])


def test_a_chunk_whose_worker_died_is_signed_here(
    city: tuple[Gateway, str],
    matched: list[bool],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker is killed once it was handed the second chunk: a chunk it had not answered
    is signed here as soon as the worker is seen gone (not after the whole ``WAIT_SECONDS``),
    and so is every later one."""
    gw, agency = city
    register = write_register(tmp_path / "r.csv", ROWS, FIRST)
    monkeypatch.setattr(presign, "WAIT_SECONDS", 600.0)  # a wait this long would fail the run
    sign_ahead = SecondSigner.sign_ahead
    calls: list[int] = []

    def killed_once(self: SecondSigner, *args: Any, **kwargs: Any) -> Pending | None:
        pending = sign_ahead(self, *args, **kwargs)
        calls.append(len(calls))
        if len(calls) == 2:
            assert pending is not None
            for child in multiprocessing.active_children():
                child.kill()
                child.join(timeout=30)
        return pending

    monkeypatch.setattr(SecondSigner, "sign_ahead", killed_once)
    started = time.monotonic()
    assert run(gw, agency, register, sign_ahead_from=1) == {"issued": ROWS, "skipped": 0}
    assert time.monotonic() - started < 60
    # The chunks the worker answered before it was killed (none, the first, or the first two:
    # it may have sent the second's rows already); none handed over after the kill.
    assert matched in ([], [True], [True, True])
    assert multiprocessing.active_children() == []
    rows = stored(gw)
    assert len({r[3] for r in rows}) == ROWS
    assert_all_valid(gw, [r[2] for r in rows])


def test_a_run_that_fails_ends_its_worker_and_keeps_what_it_committed(
    city: tuple[Gateway, str],
    matched: list[bool],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gw, agency = city
    register = write_register(tmp_path / "r.csv", ROWS, FIRST)
    collect = Pending.collect
    seen: list[int] = []

    def fails_third(self: Pending, wait: float | None = None) -> Presigned | None:
        seen.append(1)
        if len(seen) == 3:
            raise RegisterError(register, [])
        return collect(self, wait)

    monkeypatch.setattr(Pending, "collect", fails_third)
    with pytest.raises(RegisterError):
        run(gw, agency, register, sign_ahead_from=1)
    assert multiprocessing.active_children() == []
    rows = stored(gw)
    assert len(rows) == 2 * CHUNK  # the two chunks committed before it, nothing of the third
    assert_all_valid(gw, [r[2] for r in rows])


@pytest.mark.parametrize("sign_ahead_from", [1, None])
def test_a_file_changed_in_pass_2_has_every_chunk_before_the_change_issued(
    city: tuple[Gateway, str], tmp_path: Path, sign_ahead_from: int | None
) -> None:
    """Pass 2 reads a chunk ahead of the one it writes: when the file changed under it, the
    chunk read before the change is still issued, as the refusal says ("the chunks before this
    row were issued: re-run to resume")."""
    gw, agency = city
    register = write_register(tmp_path / "r.csv", ROWS, FIRST)

    def edit_row_10(_rows: int, done: int) -> None:
        if done == 0:  # pass 1 has just ended
            lines = register.read_text(encoding="utf-8").splitlines(keepends=True)
            lines[10] = lines[10].replace("有限公司", "股份有限公司", 1)
            register.write_text("".join(lines), encoding="utf-8")

    with pytest.raises(RegisterError, match="line 11: file: expected the file as it was"):
        run(gw, agency, register, sign_ahead_from=sign_ahead_from, on_chunk=edit_row_10)
    assert len(stored(gw)) == 2 * CHUNK  # rows 1-8; row 10 is in the third chunk
    assert multiprocessing.active_children() == []
