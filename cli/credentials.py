"""``ecert issue``, ``ecert issue-batch``, ``ecert suspend|reinstate|revoke``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli import batch_register
from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import issuance, wallet
from gateway import status as status_service
from issuers.status_rules import STATUS_NAMES
from trust.errors import DataError, FieldError

ACTOR = "cli"
CHUNK = 1000  # rows a transaction


def issue(
    agency: Annotated[str, typer.Option("--agency", help="agency id")],
    type_: Annotated[str, typer.Option("--type", help="credential type code")],
    subject: Annotated[str, typer.Option("--subject", help="JSON object, or @file.json")],
    valid_from: Annotated[str | None, typer.Option("--valid-from")] = None,
    valid_until: Annotated[str | None, typer.Option("--valid-until")] = None,
    wallet_offer: Annotated[
        bool,
        typer.Option(
            "--wallet-offer",
            help="also make an OpenID4VCI offer and its PIN 同时生成钱包领取链接和取证码",
        ),
    ] = False,
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
        if wallet_offer:
            out["wallet_offer"] = wallet.create_offer(
                gw, credential_id=row.id, agency_id=agency
            ).as_dict()
    if as_json:
        emit_json(out)
    else:
        say(f"issued {out['identifier']} (id {out['id']})\n{out['qr_text']}")
        if wallet_offer:
            offer = out["wallet_offer"]
            say(
                f"钱包领取链接 wallet offer: {offer['offer_uri']}\n"
                f"取证码（请另行告知持证人）PIN, give it by another channel: {offer['tx_code']}"
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
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size", min=1, max=issuance.MAX_BATCH, help="rows issued per transaction"
        ),
    ] = CHUNK,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """Issue from a register file; re-running skips rows already issued. 批量签发

    Every row is validated first: one bad row issues nothing and names its line.
    A register lists each certificate once, known by its ref column, else by
    its type and subject: two rows known alike are an error naming both lines.
    A row already issued under the same batch id (the file name or --batch-id),
    by an earlier run or one running at the same time, is skipped.
    The file is read twice and never held in memory.
    """
    kind = fmt or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
    if kind not in ("csv", "jsonl"):
        raise DataError(
            f"--format 应为 csv 或 jsonl · --format must be csv or jsonl, found {kind!r}"
        )
    if not file.is_file():
        raise DataError(f"找不到文件 · no such file: {file}")
    bid = batch_id or file.name
    batch_register.check_batch_id(bid)
    issued = skipped = 0
    with gateway_at(data_dir) as gw:
        with gw.sessions() as session:
            agency_row = issuance.load_agency(session, agency)
        now = gw.clock()

        def validate(request: issuance.IssueRequest) -> batch_register.Problems:
            try:
                issuance.prepare(gw, agency_row, request, now)
            except FieldError as exc:
                return [(e["field"], e["message"], e["message_en"]) for e in exc.errors]
            return []

        # Pass 1: validate everything first, a bad row anywhere issues nothing.
        scanned = batch_register.scan(file, kind, type_, bid, validate)
        with Progress(
            TextColumn("签发 issuing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=None if not as_json else _stderr_console(),
            transient=as_json,
        ) as bar:
            task = bar.add_task("issue", total=scanned.rows)
            # Pass 2: the same rows, read again, a chunk at a time.
            for chunk in batch_register.chunks(scanned, chunk_size):
                written, already = issuance.issue_many(gw, agency_id=agency, requests=chunk)
                issued += len(written)
                skipped += already
                bar.advance(task, len(chunk))
    result = {
        "file": str(file),
        "batch_id": bid,
        "rows": scanned.rows,
        "issued": issued,
        "skipped": skipped,
    }
    if as_json:
        emit_json(result)
    else:
        say(
            f"{scanned.rows} rows: issued {issued}, skipped {skipped} already issued · "
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
        say(f"{row.identifier}: {row.status_code} {STATUS_NAMES[row.status_code][0]}")


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
