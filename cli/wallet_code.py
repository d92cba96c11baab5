"""``ecert wallet code``: ask the gateway that issued a kept credential for a reference code
(亮证码), proving the wallet's key (:mod:`trust.holder_proof`); print the code and its expiry
and write its QR as a PNG (the routable form, ``330100-ABCD-…``). The code lives 300 s and
resolves once, at a counter of any city in the federation (``ecert counter resolve``,
``POST /api/v1/references/resolve``; another city's gateway asks the issuing one).

Deliberately not here: refreshing the code every 60 s (the web wallet's job).

``ecert wallet history --credential ID`` (and ``ecert wallet uses ID``) reads the credential's
use records (用证记录) from the same gateway with the same holder proof, and checks their
signature against the federation keys of the gateway's entity configuration
(``/.well-known/openid-federation``); ``ecert wallet history`` alone lists what this wallet
presented.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Annotated, Any

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
    _records,
    record_of,
)
from cli.wallet_present import _history, wallet_app
from trust.errors import DataError, FetchError, SignatureError
from trust.federation import (
    MAX_STATEMENT_LENGTH,
    FederationError,
    entity_configuration_url,
    verify_entity_configuration,
)
from trust.holder_proof import USES_TYP, make_holder_proof
from trust.jws import KeyIndex, verify_compact
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


def _proof(wallet_dir: Path, credential_id: str, passphrase: str) -> tuple[str, str]:
    """The issuing gateway of a kept credential and a fresh holder proof naming it."""
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
    return gateway, proof


def _ask(
    wallet_dir: Path, credential_id: str, passphrase: str, path: str, what: str
) -> tuple[str, dict[str, Any]]:
    """POST a holder proof to ``{gateway}/api/v1/references{path}``: the gateway and answer."""
    gateway, proof = _proof(wallet_dir, credential_id, passphrase)
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        answer = _get_json(client, f"{gateway}/api/v1/references{path}", what,
                           method="POST", json={"proof": proof})  # fmt: skip
    return gateway, answer


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
    _gateway, made = _ask(wallet_dir, credential_id, passphrase, "", "亮证码 reference code")
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


def _gateway_keys(client: httpx.Client, gateway: str) -> KeyIndex:
    """The federation keys of the gateway's own, self-signed entity configuration."""
    url = entity_configuration_url(gateway)
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise FetchError(f"无法连接网关 · cannot reach {url}: {exc}") from exc
    try:
        token = response.content[: MAX_STATEMENT_LENGTH + 1].decode("ascii").strip()
        statement = verify_entity_configuration(token, now=int(time.time()), expected_sub=gateway)
    except (UnicodeDecodeError, FederationError, SignatureError) as exc:
        raise DataError(
            f"网关的实体配置无效 · expected a valid entity configuration of {gateway} at {url}, "
            f"found: {exc}"
        ) from exc
    return KeyIndex(statement.jwks)


def signed_uses(
    wallet_dir: Path, credential_id: str, passphrase: str
) -> tuple[str, list[dict[str, Any]]]:
    """The credential's use records from its issuing gateway, their signature checked against
    the federation keys of that gateway's entity configuration: ``(gateway, records)``."""
    gateway, answer = _ask(wallet_dir, credential_id, passphrase, "/uses", "用证记录 use records")
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        keys = _gateway_keys(client, gateway)
    try:
        signed = verify_compact(str(answer.get("records", "")), keys, typ=USES_TYP)
    except SignatureError as exc:
        raise DataError(
            f"用证记录的签名无效 · expected records signed by {gateway}'s federation key: {exc}"
        ) from exc
    if signed.payload.get("iss") != gateway:
        raise DataError(
            f"用证记录的签发方不符 · expected iss {gateway}, found {signed.payload.get('iss')!r}"
        )
    records = signed.payload.get("uses")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataError(f"应答中没有用证记录 · expected a list of uses, found {records!r:.80}")
    return gateway, records


CHANNELS = {
    "code": "亮证码 code",
    "paper": "纸质亮证码 paper code",
    "presentation": "钱包出示 wallet presentation",
}


def say_uses(gateway: str, records: list[dict[str, Any]]) -> None:
    say(f"用证记录（由 {gateway} 签名，已核验）· use records, signed by {gateway}, verified")
    if not records:
        say("尚无用证记录 · no use records yet")
    for r in records:
        fields = ", ".join(map(str, r.get("fields") or []))
        by = r.get("shown_by") or {}
        if by.get("kind") == "delegate":  # 委托用证
            say(f"{r.get('at')}  由代理人 {by.get('name')} 出示 · shown by delegate "
                f"{by.get('name')}（{by.get('delegation_id')}）")  # fmt: skip
        how = CHANNELS.get(str(r.get("channel")), str(r.get("channel") or ""))
        say(f"{r.get('at')}  {r.get('counter')}（{r.get('city')}）· {how} · 事由 reason："
            f"{r.get('reason')} · 字段 fields：{fields} · {r.get('reason_code')}")  # fmt: skip


@wallet_app.command("uses")
def uses(
    credential_id: Annotated[str, typer.Argument(help="证照编号 · credential id (from list)")],
    wallet_dir: WalletDir = DEFAULT_WALLET,
    passphrase: Passphrase = "",
    as_json: JsonOut = False,
) -> None:
    """Read a kept credential's use records, newest first, signed by its gateway. 查看用证记录"""
    gateway, records = signed_uses(wallet_dir, credential_id, passphrase)
    if as_json:
        emit_json({"gateway": gateway, "uses": records})
        return
    say_uses(gateway, records)


@wallet_app.command("history")
def history(
    credential_id: Annotated[
        str | None,
        typer.Option(
            "--credential",
            help="证照编号：改为读取其签发网关签名的用证记录（谁在何时为何使用）· credential id: "
            "read instead its use records, signed by its issuing gateway (who used it, when, why)",
        ),
    ] = None,
    wallet_dir: WalletDir = DEFAULT_WALLET,
    passphrase: Annotated[
        str | None,
        typer.Option(
            "--passphrase",
            envvar="ECERT_WALLET_PASSPHRASE",
            help="保护持有人密钥的口令（仅 --credential 需要）· passphrase of the holder key "
            "(--credential only)",
        ),
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """What this wallet presented, to whom, when and why; with --credential, every use of that
    credential (codes, paper codes, presentations), signed by its issuing gateway. 出示与用证记录"""
    if credential_id is not None:
        if passphrase is None:
            passphrase = typer.prompt("钱包口令 · wallet passphrase", hide_input=True)
        gateway, records = signed_uses(wallet_dir, credential_id, passphrase)
        if as_json:
            emit_json({"gateway": gateway, "credential": credential_id, "uses": records})
        else:
            say_uses(gateway, records)
        return
    _records(wallet_dir)  # the wallet must exist
    entries = _history(wallet_dir)
    if as_json:
        emit_json(entries)
        return
    if not entries:
        say("还没有出示记录 · nothing presented yet")
    for e in entries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["at"]))
        outcome = "接受 accepted" if e["accepted"] else f"拒绝 refused ({e['answer']['error']})"
        say(
            f"{when}  {e['counter']}（{e['city']}）  {e['type']} {','.join(e['fields'])}  "
            f"事由 reason：{e['purpose']}  {outcome}"
        )
    say("每张证照的全部用证记录 · every use of a credential: ecert wallet history --credential ID")
