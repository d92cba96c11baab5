"""``ecert wallet code``: ask the gateway that issued a kept credential for a reference code
(亮证码), proving the wallet's key (:mod:`trust.holder_proof`); print the code and its expiry
and write its QR as a PNG. The code lives 300 s and resolves once, at a counter of that
gateway (``ecert counter resolve``, ``POST /api/v1/references/resolve``).

Deliberately not here: refreshing the code every 60 s (the web wallet's job), codes across
cities.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer

from cli.common import JsonOut, emit_json, say
from cli.wallet_cmd import (
    DEFAULT_WALLET,
    MAX_RESPONSE,
    TIMEOUT,
    Passphrase,
    WalletDir,
    _get_json,
    _key,
    record_of,
)
from cli.wallet_present import wallet_app
from trust.errors import DataError
from trust.holder_proof import make_holder_proof
from trust.statuslist import StatusReference

AGENCIES = "/agencies/"
QR_FILE = "reference-qr.png"


def _gateway_of(issuer: object) -> str:
    """The issuing gateway's URL: a kept credential's ``iss`` is ``{gateway}/agencies/{id}``."""
    if not isinstance(issuer, str) or AGENCIES not in issuer:
        raise DataError(
            f"无法从签发方确定网关 · expected an issuer …{AGENCIES}<id>, found {issuer!r:.120}"
        )
    return issuer.rsplit(AGENCIES, 1)[0]


@wallet_app.command("code")
def code(
    credential_id: Annotated[str, typer.Argument(help="证照编号 · credential id (from list)")],
    qr_out: Annotated[
        Path | None,
        typer.Option("--qr-out", help=f"二维码图片 · QR PNG path (default: wallet dir/{QR_FILE})"),
    ] = None,
    wallet_dir: WalletDir = DEFAULT_WALLET,
    passphrase: Passphrase = "",
    as_json: JsonOut = False,
) -> None:
    """Ask for a reference code (300 s, one use) for a kept credential. 申请亮证码"""
    record = record_of(wallet_dir, credential_id)
    missing = "证照没有状态引用 · the credential has no status reference"
    try:
        ref = StatusReference.from_claims({"status": record.get("status")})
    except DataError as exc:
        raise DataError(f"{missing}: {exc}") from exc
    if ref is None:
        raise DataError(missing)
    gateway = _gateway_of(record.get("issuer"))
    holder = _key(wallet_dir, passphrase)
    proof = make_holder_proof(holder, audience=gateway, credential=ref, now=int(time.time()))
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        made = _get_json(client, f"{gateway}/api/v1/references", "亮证码 reference code",
                         method="POST", json={"proof": proof})  # fmt: skip
    png = str(made.get("qr_png", ""))
    if not png.startswith("data:image/png;base64,") or len(png) > MAX_RESPONSE:
        raise DataError(f"应答中没有二维码 · expected a PNG data URL, found {png[:40]!r}")
    path = qr_out or wallet_dir / QR_FILE
    path.write_bytes(base64.b64decode(png.split(",", 1)[1]))
    out = {k: made[k] for k in ("code", "display", "expires_at", "expires_in")}
    if as_json:
        emit_json({**out, "qr_file": str(path)})
        return
    say(f"亮证码 · reference code：{out['display']}")
    say(f"有效期至 · valid until：{out['expires_at']}（{out['expires_in']} 秒内核验一次 · "
        f"resolves once within {out['expires_in']} s）")  # fmt: skip
    say(f"二维码 · QR：{path}")
