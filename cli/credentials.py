"""``ecert issue``, ``ecert issue-batch``, ``ecert suspend|reinstate|revoke``."""

from __future__ import annotations

import base64
import csv
import json
import os
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
from gateway.clock import iso
from gateway.core import Gateway
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
    if wallet_offers is not None and wallet_offers.exists():
        raise DataError(
            f"钱包领取文件已存在，请换一个新文件名 · --wallet-offers must name a new file, "
            f"found an existing {wallet_offers}"
        )
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
        offered = _write_offers(gw, wallet_offers, agency, bid) if wallet_offers else 0
    result: dict[str, Any] = {
        "file": str(file),
        "batch_id": bid,
        "rows": scanned.rows,
        "issued": issued,
        "skipped": skipped,
    }
    if wallet_offers is not None:
        result.update(wallet_offers=str(wallet_offers), offers=offered)
    if as_json:
        emit_json(result)
    else:
        say(
            f"{scanned.rows} rows: issued {issued}, skipped {skipped} already issued · "
            f"已签发 {issued}，跳过 {skipped}"
        )
        if wallet_offers is not None:
            say(
                f"钱包领取链接 {offered} 个，已写入 {wallet_offers}（含取证码，请妥善保管）· "
                f"{offered} wallet offers with their PINs written to {wallet_offers}: keep it safe"
            )


OFFER_COLUMNS = ("ref", "credential_id", "identifier", "offer_uri", "tx_code", "expires_at")


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


def paper_reference(
    credential_id: CredId,
    days: Annotated[
        int, typer.Option("--days", help="有效天数（1–366，不超过证照有效期）· days it lives")
    ] = 90,
    qr_out: Annotated[
        Path | None, typer.Option("--qr-out", help="二维码图片 · write the QR PNG here")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    as_json: JsonOut = False,
) -> None:
    """A paper reference code (纸质亮证码) to print on a certificate in place of its data:
    long-lived, resolved only by authenticated counters, each resolution a use."""
    from gateway import references

    with gateway_at(data_dir) as gw:
        made = references.create_paper(gw, credential_id=credential_id, agency_id=None, days=days)
    png = made.pop("qr_png")
    if qr_out is not None:
        qr_out.write_bytes(base64.b64decode(png.split(",", 1)[1]))
        made["qr_file"] = str(qr_out)
    if as_json:
        emit_json(made)
        return
    say(f"纸质亮证码 · paper reference code：{made['display']}")
    say(f"有效期至 · valid until：{made['expires_at']}")
    say("仅限已登记的核验点核验，每次核验都记入用证记录 · resolved by registered counters only, "
        "each resolution recorded as a use")  # fmt: skip
    if qr_out is not None:
        say(f"二维码 · QR：{qr_out}")
