"""``ecert wallet delegate``, ``delegations`` and ``revoke-delegation``: delegated use (委托用证)
from the CLI wallet. The holder of a kept credential (a company's business licence) delegates it
to an agent by name, for purposes, until a date, proving its wallet key to the gateway that
issued it (:mod:`trust.holder_proof`); the gateway answers an offer link and PIN that the holder
hands to the agent, whose own wallet takes the delegated copy with ``ecert wallet receive``. The
holder lists its delegations with their state and revokes one; every counter then refuses the
agent's codes and presentations with DELEGATION_REVOKED.

The wallet keeps which credential each delegation it made is of (``delegations.json``), so
``revoke-delegation`` needs only the delegation's id. Every message is Chinese first, English
beside. Deliberately not here: the delegate's side (``ecert wallet receive``, ``code``,
``present`` work on a delegated copy as on any credential).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cli.common import JsonOut, emit_json, say
from cli.wallet_cmd import (
    DEFAULT_WALLET,
    TIMEOUT,
    Passphrase,
    WalletDir,
    _get_json,
    _records,
)
from cli.wallet_code import _proof
from cli.wallet_present import wallet_app
from trust.errors import DataError
from verify.result_json import iso

DELEGATIONS = "delegations.json"
MAX_KEPT = 1000  # delegations the wallet remembers

CredentialOpt = Annotated[
    str | None,
    typer.Option("--credential", help="证照编号 · credential id (from ecert wallet list)"),
]


def _post(
    wallet_dir: Path, credential_id: str, passphrase: str, path: str, what: str, **body: Any
) -> dict[str, Any]:
    """POST a holder proof of a kept credential (and ``body``) to its gateway's
    ``/api/v1/delegations{path}``."""
    gateway, proof = _proof(wallet_dir, credential_id, passphrase)
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        return _get_json(client, f"{gateway}/api/v1/delegations{path}", what, method="POST",
                         json={"proof": proof, **body})  # fmt: skip


def _kept(wallet_dir: Path) -> dict[str, str]:
    path = wallet_dir / DELEGATIONS
    if not path.is_file():
        return {}
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DataError(f"委托记录已损坏 · {path} is not JSON: {exc}") from exc
    return {str(k): str(v) for k, v in kept.items()} if isinstance(kept, dict) else {}


def _keep(wallet_dir: Path, delegation_id: str, credential_id: str) -> None:
    kept = _kept(wallet_dir)
    kept[delegation_id] = credential_id
    kept = dict(list(kept.items())[-MAX_KEPT:])
    (wallet_dir / DELEGATIONS).write_text(json.dumps(kept, indent=2), encoding="utf-8")


def _purposes(purposes: list[str]) -> str:
    return "、".join(purposes)


@wallet_app.command("delegate")
def delegate(
    credential: Annotated[
        str, typer.Option("--credential", help="证照编号 · credential id (from ecert wallet list)")
    ],
    name: Annotated[str, typer.Option("--name", help="代理人姓名 · the delegate's name")],
    purpose: Annotated[
        list[str],
        typer.Option("--purpose", help="委托事项（1–5 项）· a purpose, 1 to 5 times"),
    ],
    until: Annotated[
        str, typer.Option("--until", help="委托期限 · until YYYY-MM-DD (end of that day)")
    ],
    wallet_dir: WalletDir = DEFAULT_WALLET,
    passphrase: Passphrase = "",
    as_json: JsonOut = False,
) -> None:
    """Delegate a kept credential to an agent; print the offer and PIN for the agent. 委托用证"""
    made = _post(wallet_dir, credential, passphrase, "", "委托 delegation",
                 name=name, purposes=purpose, until=until)  # fmt: skip
    offer = made.get("offer")
    if not isinstance(offer, dict) or not {"offer_uri", "tx_code"} <= set(offer):
        raise DataError(
            f"应答中没有领取链接 · expected an offer in the answer, found {offer!r:.80}"
        )
    _keep(wallet_dir, str(made["id"]), credential)
    if as_json:
        emit_json(made)
        return
    say(f"已委托 · delegated：{made['id']} 给代理人 to {made['delegate']}（"
        f"{_purposes(made['purposes'])}；至 until {made['until']}）")  # fmt: skip
    say("请将领取链接和取证码交给代理人 · hand the offer link and PIN to the agent:")
    say(f"领取链接 · offer：{offer['offer_uri']}")
    say(f"取证码 · PIN：{offer['tx_code']}（领取链接有效至 · offer valid until "
        f"{iso(offer.get('expires_at'))}）")  # fmt: skip
    say(f"代理人运行 · the agent runs：ecert wallet receive '{offer['offer_uri']}' "
        f"--pin {offer['tx_code']}")  # fmt: skip


def _delegable(wallet_dir: Path) -> list[str]:
    """The kept credentials that are no delegated copy."""
    return [
        str(r["id"])
        for r in _records(wallet_dir)
        if not isinstance(r.get("claims"), dict) or "delegation" not in r["claims"]
    ]


@wallet_app.command("delegations")
def delegations(
    credential: CredentialOpt = None,
    wallet_dir: WalletDir = DEFAULT_WALLET,
    passphrase: Passphrase = "",
    as_json: JsonOut = False,
) -> None:
    """List the delegations of a kept credential (or of every one), with state. 查看委托"""
    ids = [credential] if credential else _delegable(wallet_dir)
    listed = [_post(wallet_dir, cid, passphrase, "/list", "委托列表 delegations") for cid in ids]
    rows = [d for answer in listed for d in answer.get("delegations", [])]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        say("尚无委托 · no delegations yet")
    for d in rows:
        text = d.get("state_text") or {}
        received = "已领取 · received" if d.get("received") else "未领取 · not received yet"
        say(f"{d['id']}  {d['delegate']}  {_purposes(d['purposes'])}  至 until {d['until']}  "
            f"{text.get('zh')} · {text.get('en')}  {received}  "
            f"（证照 credential {d['credential_id']}）")  # fmt: skip


@wallet_app.command("revoke-delegation")
def revoke_delegation(
    delegation_id: Annotated[str, typer.Argument(help="委托编号 · delegation id (dl-…)")],
    credential: CredentialOpt = None,
    wallet_dir: WalletDir = DEFAULT_WALLET,
    passphrase: Passphrase = "",
    as_json: JsonOut = False,
) -> None:
    """Revoke a delegation: the agent's codes and presentations are refused from now. 撤销委托"""
    credential_id = credential or _kept(wallet_dir).get(delegation_id)
    if credential_id is None:
        raise DataError(
            f"本钱包没有建立过委托 {delegation_id[:64]!r}，请用 --credential 指明证照 · expected "
            "--credential ID: this wallet did not make that delegation"
        )
    done = _post(wallet_dir, credential_id, passphrase, "/revoke", "撤销委托 revoke",
                 delegation_id=delegation_id)  # fmt: skip
    if as_json:
        emit_json(done)
        return
    say(f"已撤销委托 · delegation revoked：{done['id']}（代理人 delegate {done['delegate']}）")
