"""``ecert issue``, ``ecert issue-batch``, ``ecert suspend|reinstate|revoke``."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import issuance
from gateway import status as status_service
from trust.errors import DataError, FieldError

ACTOR = "cli"
MAX_BATCH_ROWS = 2_000_000
MAX_LINE = 64 * 1024
CHUNK = 1000
META_COLUMNS = ("valid_from", "valid_until", "ref")


def issue(
    agency: Annotated[str, typer.Option("--agency", help="agency id")],
    type_: Annotated[str, typer.Option("--type", help="credential type code")],
    subject: Annotated[str, typer.Option("--subject", help="JSON object, or @file.json")],
    valid_from: Annotated[str | None, typer.Option("--valid-from")] = None,
    valid_until: Annotated[str | None, typer.Option("--valid-until")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Issue one credential. 签发证照"""
    text = Path(subject[1:]).read_text(encoding="utf-8") if subject.startswith("@") else subject
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise DataError(f"--subject must be a JSON object: {exc}") from exc
    with gateway_at(data_dir) as gw:
        row, _ = issuance.issue(
            gw,
            agency_id=agency,
            request=issuance.IssueRequest(type_, body, valid_from, valid_until),
        )
        out = issuance.credential_summary(gw, row)
    if as_json:
        emit_json(out)
    else:
        say(f"issued {out['identifier']} (id {out['id']})\n{out['qr_text']}")


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) from CSV with a header, or JSON lines; bounded and strict."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        if fmt == "csv":
            reader = csv.DictReader(handle)
            if not reader.fieldnames:
                raise DataError(f"{path}: expected a CSV header row naming the subject fields")
            for n, record in enumerate(reader, start=2):
                if None in record:
                    raise DataError(f"{path}:{n}: more values than header columns")
                yield n, {k: v for k, v in record.items() if v not in ("", None)}
        else:
            for n, line in enumerate(handle, start=1):
                if len(line) > MAX_LINE:
                    raise DataError(f"{path}:{n}: line longer than {MAX_LINE} characters")
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise DataError(f"{path}:{n}: not JSON: {exc}") from exc
                if not isinstance(record, dict):
                    raise DataError(f"{path}:{n}: expected a JSON object per line")
                yield n, record


def _request(type_: str, batch_id: str, n: int, record: dict[str, Any]) -> issuance.IssueRequest:
    record = dict(record)
    meta = {k: record.pop(k, None) for k in META_COLUMNS}
    subject = record.pop("subject", record)
    ref = (
        meta["ref"]
        or hashlib.sha256(
            json.dumps([type_, subject], sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()[:32]
    )
    return issuance.IssueRequest(
        type=type_,
        subject=subject,
        valid_from=meta["valid_from"],
        valid_until=meta["valid_until"],
        batch_ref=f"{batch_id}:{ref}",
    )


def issue_batch(
    file: Annotated[Path, typer.Argument(help="CSV (header = field names) or JSON lines")],
    agency: Annotated[str, typer.Option("--agency")],
    type_: Annotated[str, typer.Option("--type")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: by suffix)")
    ] = None,
    batch_id: Annotated[
        str | None, typer.Option("--batch-id", help="resume key (default: the file name)")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Issue from a register file; re-running skips rows already issued. 批量签发"""
    kind = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
    if kind not in ("csv", "jsonl"):
        raise DataError(f"--format must be csv or jsonl, found {kind!r}")
    if not file.is_file():
        raise DataError(f"no such file: {file}")
    bid = batch_id or file.name
    requests: list[issuance.IssueRequest] = []
    lines: list[int] = []
    for n, record in _rows(file, kind):
        if len(requests) >= MAX_BATCH_ROWS:
            raise DataError(f"{file}: more than {MAX_BATCH_ROWS} rows; split the file")
        requests.append(_request(type_, bid, n, record))
        lines.append(n)
    issued = skipped = 0
    with gateway_at(data_dir) as gw:
        # Validate everything first: a bad row anywhere issues nothing.
        with gw.sessions() as session:
            agency_row = issuance.load_agency(session, agency)
        problems: list[dict[str, str]] = []
        now = gw.clock()
        for n, request in zip(lines, requests, strict=True):
            try:
                issuance.prepare(gw, agency_row, request, now)
            except FieldError as exc:
                problems.extend({**e, "field": f"line {n}: {e['field']}"} for e in exc.errors)
        if problems:
            raise FieldError(problems)
        with Progress(
            TextColumn("签发 issuing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=None if not as_json else _stderr_console(),
            transient=as_json,
        ) as bar:
            task = bar.add_task("issue", total=len(requests))
            for start in range(0, len(requests), CHUNK):
                chunk = requests[start : start + CHUNK]
                written, already = issuance.issue_many(gw, agency_id=agency, requests=chunk)
                issued += len(written)
                skipped += already
                bar.advance(task, len(chunk))
    result = {
        "file": str(file),
        "batch_id": bid,
        "rows": len(requests),
        "issued": issued,
        "skipped": skipped,
    }
    if as_json:
        emit_json(result)
    else:
        say(
            f"{len(requests)} rows: issued {issued}, skipped {skipped} already issued · "
            f"已签发 {issued}，跳过 {skipped}"
        )


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)


def _status(
    action: str, credential_id: str, reason: str, code: str | None, data_dir: Path, as_json: bool
) -> None:
    with gateway_at(data_dir) as gw:
        row = status_service.change(
            gw,
            credential_id=credential_id,
            action=action,
            reason=reason,
            actor=ACTOR,
            agency_id=None,
            code=code,
        )
        out = issuance.credential_summary(gw, row)
    if as_json:
        emit_json(out)
    else:
        say(
            f"{row.identifier}: {row.status_code} {status_service.STATUS_NAMES[row.status_code][0]}"
        )


Reason = Annotated[str, typer.Option("--reason", help="why (recorded) 原因")]
CredId = Annotated[str, typer.Argument(help="credential id")]
Code = Annotated[
    str | None, typer.Option("--code", help="revoke only: 03 撤销 (default), 04, 05, 06, 07, 99")
]


def _status_command(action: str, doc: str) -> Callable[..., None]:
    def command(
        credential_id: CredId,
        reason: Reason,
        code: Code = None,
        data_dir: DataDir = DEFAULT_DATA_DIR,
        as_json: JsonOut = False,
    ) -> None:
        _status(action, credential_id, reason, code, data_dir, as_json)

    command.__doc__ = doc
    command.__name__ = action
    return command


suspend = _status_command("suspend", "Suspend (暂扣); can be reinstated.")
reinstate = _status_command("reinstate", "Reinstate a suspended credential (恢复).")
revoke = _status_command("revoke", "Revoke (撤销); final.")
