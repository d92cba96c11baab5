"""``ecert wallet present``: the holder presents a kept credential to a counter (OpenID4VP 1.0,
cross-device, ``direct_post``); what it presented is the wallet's history (``ecert wallet
history``, in :mod:`cli.wallet_code`).

``present`` takes the counter's ``openid4vp://?client_id=…&request_uri=…``, fetches the signed
request object, and resolves the counter (``client_id`` = ``openid_federation:`` + its entity
id) through the federation to the trust anchor the holder names (``--trust-anchor URL
--anchor-kid KID``: the region whose counters this wallet trusts, its key pinned as ``ecert
federation join`` pins it; no trust on first use). Only then does it verify the request's
signature with the counter's federation keys from that chain, check that the request names the
same ``client_id``, that it answers to the counter's own city, and that the fields asked for are
within what the counter's role may request (``ecert_verifier.may_request`` in its resolved
metadata). It shows who asks (name, role, city, chain), for which fields and why, and presents
only with ``--yes`` or a typed confirmation: the chosen Disclosures and a KB-JWT (``aud`` =
``client_id``, the request's nonce). Every presentation, and the counter's answer, goes to the
wallet's history. The decisions themselves are :mod:`trust.oid4vp_wallet`'s, shared with the
gateway's web wallet.

A counter may also ask for what a role granted to it by a trust mark allows: the wallet checks
each mark in the counter's configuration against the anchor the holder pinned (signature,
listed issuer, subject, expiry) and asks the anchor's status endpoint; a mark whose status
cannot be had grants nothing.

When several kept credentials match, the holder chooses (:mod:`cli.wallet_choose`; ``--credential
ID`` in scripts).

Every message is Chinese first, English beside. Deliberately not here: a web wallet.
"""

from __future__ import annotations

import json
import time
from contextlib import closing
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cli.common import JsonOut, emit_json, say
from cli.federation_common import fetch_anchor
from cli.wallet_choose import choose, matching
from cli.wallet_cmd import (
    DEFAULT_WALLET,
    MAX_RESPONSE,
    TIMEOUT,
    Passphrase,
    WalletDir,
    _key,
    _records,
    wallet_app,
)
from gateway import trustmarks
from gateway.peers import HttpFetcher
from trust.errors import DataError, FetchError
from trust.federation import ResolvedChain
from trust.oid4vp import FEDERATION_PREFIX, QUERY_ID, RequestObject
from trust.oid4vp_wallet import (
    check_against_role,
    open_request,
    parse_link,
    resolve_counter,
    type_code,
)
from trust.sdjwt import holder
from trust.sdjwt.core import split
from trust.sdjwt.disclosure import Disclosure
from trust.sdjwt.issue import SdJwt

HISTORY = "history.jsonl"

__all__ = ["_history", "wallet_app"]


def _fetch_request(client: httpx.Client, uri: str) -> str:
    try:
        response = client.get(uri)
    except httpx.HTTPError as exc:
        raise FetchError(f"无法获取出示请求 · cannot fetch the request object: {exc}") from exc
    if response.status_code != 200:
        raise DataError(
            f"出示请求已失效或不存在（{response.status_code}）· the request is gone or unknown"
        )
    if len(response.content) > MAX_RESPONSE:
        raise DataError("出示请求过大 · the request object is too large")
    return response.text.strip()


def _history(wallet_dir: Path) -> list[dict[str, Any]]:
    """The wallet's presentations, oldest first."""
    path = wallet_dir / HISTORY
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return [json.loads(line) for line in lines if line.strip()]


def _append_history(wallet_dir: Path, entry: dict[str, Any]) -> None:
    with (wallet_dir / HISTORY).open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _granted_by_marks(
    http: HttpFetcher,
    chain: ResolvedChain,
    meta: dict[str, Any],
    asked: RequestObject,
    entity: str,
    now: int,
) -> dict[str, Any]:
    """``meta`` with what the roles granted by the counter's valid trust marks may request
    added, when its own role does not cover the request (else unchanged, and nothing fetched).
    Each mark is checked against the anchor the holder pinned (the chain's last statement) and
    its status asked (bounded); a mark whose status cannot be had grants nothing: it would let
    the counter take more from the holder on the word of nobody but itself."""
    widened, checks = trustmarks.widen_by_marks(
        http, chain, meta, subject=entity, credential_type=type_code(asked.vct),
        claims=asked.claims, now=now,
    )  # fmt: skip
    for check in checks:
        if check.mark is None or check.mark.role is None:
            zh, en = trustmarks.reason(check.error)
            say(f"{zh}，不予采信 · trust mark {check.trust_mark_type} ignored: {en}", err=True)
            continue
        role = check.mark.role
        say(f"信任标志授予角色 · role granted by trust mark：{role.name_zh} · {role.name_en}（"
            f"{check.mark.iss}）", err=True)  # fmt: skip
    return widened


def _confirmed() -> bool:
    try:
        return bool(typer.confirm("确认出示以上字段？· present these fields?", default=False))
    except (typer.Abort, EOFError):  # no terminal to answer on: nothing is presented
        return False


@wallet_app.command("present")
def present(
    request: Annotated[str, typer.Argument(help="openid4vp://… 出示请求链接")],
    passphrase: Passphrase,
    trust_anchor: Annotated[
        str,
        typer.Option(
            "--trust-anchor",
            envvar="ECERT_WALLET_TRUST_ANCHOR",
            help="所信任区域的信任锚 · the region trust anchor this wallet trusts (URL)",
        ),
    ],
    anchor_kid: Annotated[
        str,
        typer.Option(
            "--anchor-kid",
            envvar="ECERT_WALLET_ANCHOR_KID",
            help="信任锚的联邦密钥 kid（另行获知）· the anchor's federation key id, pinned",
        ),
    ],
    yes: Annotated[
        bool, typer.Option("--yes", help="不再询问，直接出示 · present without asking")
    ] = False,
    credential: Annotated[
        str | None,
        typer.Option(
            "--credential",
            help="出示哪一张（多张符合时）· the credential id to present, when several match",
        ),
    ] = None,
    wallet_dir: WalletDir = DEFAULT_WALLET,
    as_json: JsonOut = False,
) -> None:
    """Present a kept credential to a counter that asks. 向核验点出示证照"""
    client, request_uri = parse_link(request)
    entity = client[len(FEDERATION_PREFIX) :]
    now = int(time.time())
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as web:
        token = _fetch_request(web, request_uri)
    http = HttpFetcher()
    try:
        fetched = fetch_anchor(http, trust_anchor, kids=[anchor_kid], now=now)
        chain, meta = resolve_counter(
            http, entity, trust_anchors={fetched.entity_id: fetched.pinned}, now=now
        )
    finally:
        http.close()
    asked = open_request(token, chain, client=client, now=now)
    with closing(HttpFetcher()) as marks_http:
        meta = _granted_by_marks(marks_http, chain, meta, asked, entity, now)
    ctype = check_against_role(asked, meta, entity)
    found = matching(_records(wallet_dir), asked.vct, asked.claims)
    who = str(meta.get("organization_name", entity))
    city = str(meta.get("city_name", ""))
    role_name = meta.get("role_name")
    role: dict[str, Any] = role_name if isinstance(role_name, dict) else {}
    fields = list(asked.claims)
    if not as_json:
        say(f"核验点 · counter：{who}（{city}，{role.get('zh', '')} · {role.get('en', '')}）")
        say(f"信任链 · chain：{' → '.join(chain.path)}")
        say(f"索取 · asks for：{ctype} {', '.join(fields)}")
        say(f"用证事由 · reason：{asked.purpose}")
    record = choose(
        found, credential=credential, yes=yes, now=now, show=not as_json,
        history=_history(wallet_dir) if len(found) > 1 else (),
    )  # fmt: skip
    if not yes and not _confirmed():
        raise DataError("未出示 · not presented (declined)")
    holder_key = _key(wallet_dir, passphrase)
    parts = split(str(record["credential"]))
    sd_jwt = SdJwt(parts.issuer_jwt, tuple(Disclosure.parse(d) for d in parts.disclosures))
    presentation = holder.present(
        sd_jwt,
        holder.select(sd_jwt, fields),
        holder=holder_key,
        audience=client,
        nonce=asked.nonce,
        now=int(time.time()),
    )
    form = {"vp_token": json.dumps({QUERY_ID: [presentation]}), "state": asked.state}
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as web:
        try:
            answer = web.post(asked.response_uri, data=form)
        except httpx.HTTPError as exc:
            raise FetchError(f"无法把出示发给核验点 · cannot reach the counter: {exc}") from exc
    try:
        body = answer.json() if len(answer.content) <= MAX_RESPONSE else {}
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    accepted = answer.status_code == 200
    entry = {
        "at": int(time.time()),
        "counter": who,
        "city": city,
        "client_id": client,
        "credential": record["id"],
        "type": ctype,
        "fields": fields,
        "purpose": asked.purpose,
        "accepted": accepted,
        "answer": {
            "status": answer.status_code,
            "error": body.get("error"),
            "message": body.get("message"),
            "message_en": body.get("message_en"),
        },
    }
    _append_history(wallet_dir, entry)
    if as_json:
        emit_json(entry)
    elif accepted:
        say(f"已出示，核验点已接受 · presented, the counter accepted: {', '.join(fields)}")
    if not accepted:
        raise DataError(
            f"核验点拒绝了出示：{body.get('message', answer.status_code)} · the counter "
            f"refused: {body.get('message_en') or body.get('error') or answer.status_code}"
        )
