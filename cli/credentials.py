"""``ecert issue``, ``ecert suspend|reinstate|revoke``, ``ecert paper-reference``.

``ecert issue-batch`` is :mod:`cli.issue_batch`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.common import DEFAULT_DATA_DIR, DataDir, JsonOut, emit_json, gateway_at, say
from gateway import issuance, wallet
from gateway import status as status_service
from issuers.status_rules import STATUS_NAMES
from trust.errors import DataError

ACTOR = "cli"


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
    str | None,
    typer.Option(
        "--code",
        help="the GB/T status code set: suspend 02, reinstate 01, revoke 03 撤销 (default), 04, "
        "05, 06, 07, 99; any other is refused 状态码",
    ),
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
