"""``ecert issue-batch``: issue a register file, each row once, and write a result file.

Two streaming passes over the file (:mod:`cli.batch_register`): the first validates every row
and checks it against the database (a row already issued is fine; one that would give a holder
a second live licence, or reuses a ref for other content, is a problem): a bad row anywhere
issues nothing. The second issues a chunk a transaction (:func:`gateway.batch_rows.issue_chunk`)
and writes each row's line to ``--result`` as its chunk commits.

Issue 12: a re-run was recognised by the file's name only (the same rows under another name
were issued again); it reported "issued 8" with no ids or QR codes; its errors were one English
line, also with ``--json``. A row is now known by its ``ref``, else its type and subject;
``--result`` lists every row's id, 证照标识 and QR text; with ``--json`` a refusal is a JSON
document on stdout with each problem's line, field, zh-CN and English.

Deliberately not here: the rules (:mod:`gateway.batch_rows`), the register format.
"""

from __future__ import annotations

import csv
import gc
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from cli import batch_register
from cli.batch_register import Problem, RegisterError
from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import batch_issue, batch_rows, issuance, presign, sqlite_checkpoints, wallet
from gateway.clock import iso
from gateway.core import Gateway
from gateway.issuance import IssueRequest
from issuers.credential_types import CredentialType
from trust.errors import DataError, EcertError, FieldError

CHUNK = 1000  # rows a transaction
# Registers of this many rows are signed by a second process too (gateway.presign): starting it
# costs ~0.5 s of the other core, overlapping pass 1.
SIGN_AHEAD_FROM = 3 * CHUNK
# The fewest bytes a register row takes (a business licence's takes ~300): a file of
# SIGN_AHEAD_FROM rows' worth has its signer started before pass 1 (it may hold fewer rows).
ROW_BYTES_AT_LEAST = 100
OFFER_COLUMNS = ("ref", "credential_id", "identifier", "offer_uri", "tx_code", "expires_at")


def _label(lines: list[int]) -> batch_rows.Label:
    return lambda n: (f"第 {lines[n]} 行", f"line {lines[n]}")


def _problems(lines: list[int], problems: list[list[dict[str, str]]]) -> list[Problem]:
    return [
        Problem(lines[n], e["field"], e["message"], e["message_en"])
        for n, found in enumerate(problems)
        for e in found
    ]


def issue_batch(
    file: Annotated[Path, typer.Argument(help="CSV (header = field names) or JSON lines")],
    agency: Annotated[str, typer.Option("--agency")],
    type_: Annotated[str, typer.Option("--type")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: by suffix)")
    ] = None,
    batch_id: Annotated[
        str | None,
        typer.Option(
            "--batch-id",
            help="names this run (default: the file name): its credentials are found by it for "
            "--wallet-offers. Rows are known by their ref, else type and subject, whatever the "
            "name 批次名称；行按 ref 或内容识别，与名称无关",
        ),
    ] = None,
    result: Annotated[
        Path | None,
        typer.Option(
            "--result",
            help="write row,id,证照标识,qr_text,error for every row to this new CSV file "
            "结果文件（须为新文件）",
        ),
    ] = None,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size", min=1, max=issuance.MAX_BATCH, help="rows issued per transaction"
        ),
    ] = CHUNK,
    wallet_offers: Annotated[
        Path | None,
        typer.Option(
            "--wallet-offers",
            help="also make a wallet offer and PIN for each credential of the register that has "
            "none yet, written to this new CSV file (readable by its owner only) "
            "同时为每张证照生成钱包领取链接和取证码，写入此新文件",
        ),
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Issue from a register file; re-running skips rows already issued. 批量签发

    Every row is validated first: one bad row issues nothing and names its line.
    A register lists each certificate once, known by its ref column, else by
    its type and subject: two rows known alike are an error naming both lines.
    A row already issued, under any file name or batch id, by an earlier run or
    one running at the same time, is skipped and listed with its id.
    The file is read twice and never held in memory.
    """
    done = {"issued": 0, "skipped": 0}  # so far: a refusal in pass 2 says what went before
    try:
        summary = _run(file, agency, type_, fmt, batch_id, result, chunk_size, wallet_offers,
                       data_dir, as_json, done)  # fmt: skip
    except EcertError as exc:
        if as_json:
            emit_json({**refusal(exc, file=file, result=result), **done})
        raise
    if as_json:
        emit_json(summary)
        return
    issued, skipped = summary["issued"], summary["skipped"]
    say(
        f"{summary['rows']} rows: issued {issued}, skipped {skipped} already issued · "
        f"已签发 {issued}，跳过 {skipped}"
    )
    if result is not None:
        say(
            f"结果文件已写入 {result}（每行的证照 id、证照标识和二维码内容）· "
            f"result file (each row's id, identifier and QR text): {result}"
        )
    if wallet_offers is not None:
        offered = summary["offers"]
        say(
            f"钱包领取链接 {offered} 个，已写入 {wallet_offers}（含取证码，请妥善保管）· "
            f"{offered} wallet offers with their PINs written to {wallet_offers}: keep it safe"
        )


def _run(
    file: Path,
    agency: str,
    type_: str,
    fmt: str | None,
    batch_id: str | None,
    result: Path | None,
    chunk_size: int,
    wallet_offers: Path | None,
    data_dir: Path,
    as_json: bool,
    done: dict[str, int],
) -> dict[str, Any]:
    kind = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
    if kind not in ("csv", "jsonl"):
        raise DataError(
            f"--format 应为 csv 或 jsonl · --format must be csv or jsonl, found {kind!r}"
        )
    if not file.is_file():
        raise DataError(f"找不到文件 · no such file: {file}")
    bid = batch_id or file.name
    batch_register.check_batch_id(bid)
    for option, path in (("--result", result), ("--wallet-offers", wallet_offers)):
        if path is not None and path.exists():
            raise DataError(
                f"{option} 文件已存在，请换一个新文件名 · {option} must name a new file, "
                f"found an existing {path}"
            )
    with gateway_at(data_dir) as gw:
        gw.types.get(type_)  # an unknown type is one error, not one a row
        with _result_file(result) as sheet, _progress(as_json) as bar:
            task: list[TaskID] = []

            def shown(rows: int, issued: int) -> None:
                if not task:
                    task.append(bar.add_task("issue", total=rows))
                bar.update(task[0], completed=issued)

            rows = issue_register(
                gw, file=file, kind=kind, agency=agency, type_=type_, batch_id=bid,
                chunk_size=chunk_size, sheet=sheet, done=done, on_chunk=shown,
            )  # fmt: skip
        offered = _write_offers(gw, wallet_offers, agency, bid) if wallet_offers else 0
    summary: dict[str, Any] = {
        "file": str(file),
        "batch_id": bid,
        "rows": rows,
        **done,
    }
    if result is not None:
        summary["result"] = str(result)
    if wallet_offers is not None:
        summary.update(wallet_offers=str(wallet_offers), offers=offered)
    return summary


def issue_register(
    gw: Gateway,
    *,
    file: Path,
    kind: str,
    agency: str,
    type_: str,
    batch_id: str,
    chunk_size: int,
    sheet: _Sheet | None,
    done: dict[str, int],
    on_chunk: Callable[[int, int], None] | None = None,
    sign_ahead_from: int | None = SIGN_AHEAD_FROM,
) -> int:
    """The two passes over a register; the number of rows. ``on_chunk(rows, done so far)`` is
    called once pass 1 passed and after each chunk commits (the progress bar, the bench).

    Each row is validated once (issue 13: twice before, by each pass). Pass 1 keeps a byte a
    row saying whether it was validated and whether its subject came out as given (the common
    case: nothing to keep); a subject that validation changed (spaces stripped, a code
    upper-cased, a printed date filled in) goes to an anonymous temporary file, read back in
    order by pass 2. Rows found issued already in pass 1 are validated by pass 2 if it has to
    issue them after all. On SQLite the WAL is checkpointed by a thread of its own meanwhile
    (:mod:`gateway.sqlite_checkpoints`), not by each chunk's commit.

    A register of at least ``sign_ahead_from`` rows (None: never) has each chunk signed by a
    second process while the chunk before it is written (:mod:`gateway.presign`). The worker
    takes ~1 s to start: it is started before pass 1 when the file is large enough to hold that
    many rows (:data:`ROW_BYTES_AT_LEAST` a row), else once pass 1 has read them."""
    ctype = gw.types.get(type_)
    marks = bytearray()  # a row in file order: _NOT_VALIDATED, _AS_GIVEN or _SPILLED
    with (
        _long_lived_frozen(),
        sqlite_checkpoints.background_checkpoints(gw.engine),
        presign.second_signer() as ahead,
        tempfile.TemporaryFile("w+", encoding="utf-8") as spill,
    ):
        if sign_ahead_from is not None and (
            file.stat().st_size >= sign_ahead_from * ROW_BYTES_AT_LEAST
        ):
            ahead.start()

        def check(chunk: list[tuple[int, IssueRequest]]) -> list[Problem]:
            lines = [n for n, _ in chunk]
            found = batch_rows.check_rows(
                gw, agency_id=agency, requests=[r for _, r in chunk], label=_label(lines)
            )
            for (line, request), checked in zip(chunk, found, strict=True):
                if checked.subject is None:
                    marks.append(_NOT_VALIDATED)
                elif _as_given(ctype, request.subject, checked.subject):
                    marks.append(_AS_GIVEN)
                else:
                    marks.append(_SPILLED)
                    spill.write(json.dumps([line, checked.subject], ensure_ascii=False) + "\n")
            if sign_ahead_from is not None and len(marks) >= sign_ahead_from:
                ahead.start()
            # Repeated rows are named file-wide by the scan itself (batch_register._same_rows).
            kept = [[e for e in c.problems if e["code"] != "duplicate"] for c in found]
            return _problems(lines, kept)

        # Pass 1: validate everything first, a bad row anywhere issues nothing.
        scanned = batch_register.scan(file, kind, type_, batch_id, lambda _: [], check)
        spill.seek(0)
        spilled = (json.loads(text) for text in spill)
        ordinal = 0
        if on_chunk is not None:
            on_chunk(scanned.rows, 0)

        def write(step: _Step) -> None:
            lines = [n for n, _ in step.chunk]
            outcomes, _ = batch_rows.issue_chunk(
                gw, agency_id=agency, requests=[r for _, r in step.chunk], label=_label(lines),
                all_or_nothing=True, validated=step.validated,
                presigned=None if step.pending is None else step.pending.collect(),
            )  # fmt: skip
            refused = _problems(lines, [o.problems for o in outcomes])
            if refused:  # found by this pass only: the database changed since pass 1
                raise RegisterError(file, refused)
            for outcome in outcomes:
                done["skipped" if outcome.already else "issued"] += 1
                if sheet is not None:
                    sheet.writerow(batch_issue.result_line(_row_result(lines, outcome)))
            _flush(sheet)
            if on_chunk is not None:
                on_chunk(scanned.rows, step.through)

        # Pass 2: the same rows, read again, a chunk at a time; with a second signer, a chunk is
        # handed to it before the one before it is written.
        before: _Step | None = None
        chunks = batch_register.numbered_chunks(scanned, chunk_size)
        while True:
            try:
                chunk = next(chunks, None)
            except RegisterError:  # the file changed: the chunk read before it is issued first
                if before is not None:
                    write(before)
                raise
            if chunk is None:
                break
            validated: list[dict[str, Any] | None] = []
            for line, request in chunk:
                mark = marks[ordinal]
                ordinal += 1
                if mark == _AS_GIVEN:
                    validated.append(_in_type_order(ctype, request.subject))
                elif mark == _SPILLED:
                    at, subject = next(spilled)
                    assert at == line  # written in file order by pass 1
                    validated.append(subject)
                else:
                    validated.append(None)
            pending = ahead.sign_ahead(
                gw, agency_id=agency, requests=[r for _, r in chunk], validated=validated
            )
            if before is not None:
                write(before)
            before = _Step(chunk, validated, pending, ordinal)
        if before is not None:
            write(before)
    return scanned.rows


@dataclass(frozen=True)
class _Step:
    """A chunk of pass 2: its rows, their validated subjects, the worker's signing of it (or
    None) and the rows read through it."""

    chunk: list[tuple[int, IssueRequest]]
    validated: list[dict[str, Any] | None]
    pending: presign.Pending | None
    through: int


_NOT_VALIDATED, _AS_GIVEN, _SPILLED = 0, 1, 2


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """The objects alive when the run starts (the gateway, its types and region table, the
    modules: ~150k objects, ~770k references) left out of the collector's full collections
    until it ends. Issue 13: a 20k-row register made 8 full collections of ~100 ms each, ~30 µs
    a row of 290. Nothing is frozen when something else froze objects already (its own reasons,
    its own unfreeze)."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _in_type_order(ctype: CredentialType, subject: Any) -> dict[str, Any]:
    """The fields of ``subject`` in the type's order, as validation answers them."""
    return {f.name: subject[f.name] for f in ctype.submitted_fields if f.name in subject}


def _as_given(ctype: CredentialType, given: Any, validated: dict[str, Any]) -> bool:
    """Whether validation answered ``given`` unchanged (the same values, of the same types)."""
    if not isinstance(given, dict) or len(given) != len(validated):
        return False
    ordered = _in_type_order(ctype, given)
    return ordered == validated and all(
        type(value) is type(validated[name]) for name, value in ordered.items()
    )


def _row_result(lines: list[int], outcome: batch_rows.Outcome) -> batch_issue.RowResult:
    return batch_issue.RowResult(
        lines[outcome.position], outcome.id, outcome.identifier, outcome.qr_text, None,
        outcome.already,
    )  # fmt: skip


class _Sheet:
    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.writer = csv.writer(handle, lineterminator="\n")

    def writerow(self, values: tuple[str, ...]) -> None:
        self.writer.writerow(values)


def _flush(sheet: _Sheet | None) -> None:
    if sheet is not None:
        sheet.handle.flush()
        os.fsync(sheet.handle.fileno())


@contextmanager
def _result_file(path: Path | None) -> Iterator[_Sheet | None]:
    """The result file, created new (never overwritten), header first; each chunk's lines are
    flushed once the chunk committed, so a run stopped half-way leaves what it issued."""
    if path is None:
        yield None
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        sheet = _Sheet(out)
        sheet.writerow(batch_issue.RESULT_HEADER)
        yield sheet


@contextmanager
def _progress(as_json: bool) -> Iterator[Progress]:
    console = None
    if as_json:
        from rich.console import Console

        console = Console(file=sys.stderr)
    with Progress(
        TextColumn("签发 issuing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=as_json,
    ) as bar:  # fmt: skip
        yield bar


def refusal(exc: EcertError, *, file: Path, result: Path | None) -> dict[str, Any]:
    """What ``--json`` prints when the command fails: each problem structured (line, field,
    zh-CN, English) where the error names rows, else the one message in both languages."""
    from gateway.errors import in_chinese

    errors: list[dict[str, Any]] = []
    more = 0
    if isinstance(exc, RegisterError):
        errors = [{"line": p.line, "field": p.field, "zh": p.zh, "en": p.en} for p in exc.problems]
        more = exc.more
        zh = (
            f"登记表有 {len(errors) + more} 处问题（见 errors），有问题的行未签发；"
            "改正后重新运行即可续签"
        )
        en = (
            f"expected a register without problems, found {len(errors) + more} (see errors); "
            "the rows in error were not issued: fix them and re-run to resume"
        )
    elif isinstance(exc, FieldError):
        errors = [
            {"line": None, "field": e["field"], "zh": e["message"], "en": e["message_en"]}
            for e in exc.errors
        ]
        zh, en = in_chinese(exc), str(exc)
    else:
        text = str(exc)
        zh, sep, en = text.partition(" · ")
        if not sep:
            zh, en = in_chinese(exc), text
    answer: dict[str, Any] = {
        "ok": False,
        "file": str(file),
        "error": {"code": type(exc).__name__, "zh": zh, "en": en},
        "errors": errors,
        "more": more,
    }
    if result is not None and result.exists():
        answer["result"] = str(result)
    return answer


def _write_offers(gw: Gateway, path: Path, agency: str, batch_id: str) -> int:
    """Offers for every credential of the register that has none yet, a chunk a transaction,
    each chunk written and flushed to ``path`` (created new, owner-only) once committed. Only
    this file ever holds the codes and PINs: a credential whose line is lost (the process died
    between a commit and its write) gets a new offer through the API or ``ecert issue``'s
    ``--wallet-offer`` for that credential."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
        sheet = csv.writer(out)
        sheet.writerow(OFFER_COLUMNS)
        while made := wallet.offer_batch(gw, agency_id=agency, batch_id=batch_id, limit=CHUNK):
            for m in made:
                sheet.writerow(
                    (m.ref, m.credential_id, m.identifier, m.offer.offer_uri, m.offer.tx_code,
                     iso(m.offer.expires_at))
                )  # fmt: skip
            out.flush()
            os.fsync(out.fileno())
            written += len(made)
    return written
