"""``ecert wallet``: a holder's wallet on the command line. ``init`` makes the holder key
(kept encrypted under a passphrase), ``receive`` takes a credential through an OpenID4VCI 1.0
offer (pre-authorised code + PIN) and checks it against the issuer's published keys before
keeping it, ``list`` and ``show`` read what is kept.

Every message is Chinese first, English beside. Deliberately not here: presenting (OpenID4VP,
:mod:`cli.wallet_present`), the authorization code flow, several holder keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import typer

from cli.common import JsonOut, emit_json, say
from trust.errors import DataError, EcertError, FetchError
from trust.jws import KeyIndex
from trust.keys import PublicKey, SigningKey
from trust.oid4vci import PRE_AUTHORIZED_GRANT, make_proof
from trust.sdjwt.holder import receive as receive_sd_jwt

wallet_app = typer.Typer(
    help="A holder's wallet 证照钱包 (OpenID4VCI, OpenID4VP)", no_args_is_help=True
)

KEY_FILE = "holder-key.pem"
CREDENTIALS = "credentials"
TIMEOUT = 10.0
MAX_RESPONSE = 256 * 1024
MAX_OFFER_LENGTH = 4096

WalletDir = Annotated[
    Path,
    typer.Option("--wallet-dir", envvar="ECERT_WALLET_DIR", help="钱包目录 · wallet directory"),
]
Passphrase = Annotated[
    str,
    typer.Option(
        "--passphrase",
        envvar="ECERT_WALLET_PASSPHRASE",
        prompt="钱包口令 · wallet passphrase",
        hide_input=True,
        help="保护持有人密钥的口令 · passphrase protecting the holder key",
    ),
]
DEFAULT_WALLET = Path(".ecert-wallet")


def _key(wallet_dir: Path, passphrase: str) -> SigningKey:
    path = wallet_dir / KEY_FILE
    if not path.is_file():
        raise DataError(f"钱包未初始化，请先运行 ecert wallet init · no wallet in {wallet_dir}")
    try:
        return SigningKey.from_encrypted_pem(path.read_bytes(), passphrase)
    except EcertError as exc:
        raise DataError(
            f"无法打开持有人密钥（口令错误？）· cannot open the holder key: {exc}"
        ) from exc


@wallet_app.command("init")
def init(
    passphrase: Passphrase,
    wallet_dir: WalletDir = DEFAULT_WALLET,
    as_json: JsonOut = False,
) -> None:
    """Make the holder key, encrypted under the passphrase. 初始化钱包"""
    path = wallet_dir / KEY_FILE
    if path.exists():
        raise DataError(f"钱包已存在，不会覆盖 · a wallet exists already in {wallet_dir}")
    if len(passphrase) < 8:
        raise DataError("口令至少 8 个字符 · the passphrase needs at least 8 characters")
    key = SigningKey.generate()
    (wallet_dir / CREDENTIALS).mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.to_encrypted_pem(passphrase))
    if as_json:
        emit_json({"wallet_dir": str(wallet_dir), "holder_kid": key.kid})
    else:
        say(f"钱包已创建 · wallet created: {wallet_dir} (持有人密钥 holder key {key.kid})")


def _get_json(client: httpx.Client, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
    method = kwargs.pop("method", "GET")
    try:
        response = client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise FetchError(
            f"无法连接签发方（{what}）· cannot reach the issuer for {what}: {exc}"
        ) from exc
    if len(response.content) > MAX_RESPONSE:
        raise DataError(f"{what} 的应答过大 · the {what} answer is over {MAX_RESPONSE} bytes")
    try:
        body = response.json()
    except ValueError as exc:
        raise DataError(f"{what} 的应答不是 JSON · the {what} answer is not JSON") from exc
    if response.status_code >= 400 or not isinstance(body, dict):
        message = body.get("message", "") if isinstance(body, dict) else ""
        detail = (
            body.get("error_description") or body.get("message_en") or body.get("detail")
            if isinstance(body, dict)
            else body
        )
        error = body.get("error", response.status_code) if isinstance(body, dict) else ""
        raise DataError(
            f"签发方拒绝了{what}请求：{message or error} · the issuer refused the {what} "
            f"request: {error} {detail}"
        )
    return body


def _offer(client: httpx.Client, offer: str) -> dict[str, Any]:
    if len(offer) > MAX_OFFER_LENGTH:
        raise DataError(f"领取链接过长 · the offer is over {MAX_OFFER_LENGTH} characters")
    query = parse_qs(urlsplit(offer).query)
    if "credential_offer" in query:
        try:
            document = json.loads(query["credential_offer"][0])
        except ValueError as exc:
            raise DataError(
                f"领取链接中的内容不是 JSON · the credential_offer is not JSON: {exc}"
            ) from exc
    elif "credential_offer_uri" in query:
        document = _get_json(client, query["credential_offer_uri"][0], "领取链接 offer")
    else:
        raise DataError(
            "不是钱包领取链接 · expected openid-credential-offer://?credential_offer_uri=…"
        )
    if not isinstance(document, dict):
        raise DataError("领取链接内容无效 · the credential offer is not a JSON object")
    return document


def _issuer_keys(client: httpx.Client, iss: str) -> KeyIndex:
    """SD-JWT VC draft §5: ``/.well-known/jwt-vc-issuer`` inserted between host and path."""
    parts = urlsplit(iss)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise DataError(f"签发方标识不是 URL · the credential's iss is not a URL: {iss!r}")
    url = f"{parts.scheme}://{parts.netloc}/.well-known/jwt-vc-issuer{parts.path}"
    meta = _get_json(client, url, "签发方密钥 issuer keys")
    if meta.get("issuer") != iss:
        raise DataError(
            f"签发方元数据不符 · expected issuer {iss!r} in its metadata, "
            f"found {meta.get('issuer')!r}"
        )
    jwks = meta.get("jwks")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise DataError("签发方没有公布密钥 · the issuer publishes no keys")
    return KeyIndex([PublicKey.from_jwk(k) for k in keys[:64] if isinstance(k, dict)])


@wallet_app.command("receive")
def receive(
    offer: Annotated[str, typer.Argument(help="openid-credential-offer://… 领取链接")],
    pin: Annotated[str, typer.Option("--pin", help="签发机关另行告知的取证码 · the tx_code PIN")],
    passphrase: Passphrase,
    wallet_dir: WalletDir = DEFAULT_WALLET,
    as_json: JsonOut = False,
) -> None:
    """Receive a credential from an offer and keep it. 领取证照"""
    holder = _key(wallet_dir, passphrase)
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
        document = _offer(client, offer)
        issuer = document.get("credential_issuer")
        ids = document.get("credential_configuration_ids")
        grant = (document.get("grants") or {}).get(PRE_AUTHORIZED_GRANT)
        if not isinstance(issuer, str) or not isinstance(ids, list) or len(ids) != 1:
            raise DataError("领取链接应指明签发方和一种证照 · expected one credential in the offer")
        if not isinstance(grant, dict) or not isinstance(grant.get("pre-authorized_code"), str):
            raise DataError("领取链接没有预授权码 · expected a pre-authorized_code grant")
        issuer = issuer.rstrip("/")
        meta = _get_json(
            client, f"{issuer}/.well-known/openid-credential-issuer", "签发方元数据 metadata"
        )
        if meta.get("credential_issuer", "").rstrip("/") != issuer:
            raise DataError(f"签发方元数据不符 · metadata names another issuer than {issuer}")
        servers = meta.get("authorization_servers") or [issuer]
        server = _get_json(
            client,
            f"{servers[0].rstrip('/')}/.well-known/oauth-authorization-server",
            "授权服务 AS",
        )
        token = _get_json(
            client,
            str(server["token_endpoint"]),
            "令牌 token",
            method="POST",
            data={
                "grant_type": PRE_AUTHORIZED_GRANT,
                "pre-authorized_code": grant["pre-authorized_code"],
                "tx_code": pin,
            },
        )
        nonce = _get_json(client, str(meta["nonce_endpoint"]), "nonce", method="POST")
        proof = make_proof(
            holder, audience=issuer, nonce=str(nonce["c_nonce"]), now=int(time.time())
        )
        answer = _get_json(
            client,
            str(meta["credential_endpoint"]),
            "证照 credential",
            method="POST",
            json={"credential_configuration_id": ids[0], "proofs": {"jwt": [proof]}},
            headers={"Authorization": f"Bearer {token['access_token']}"},
        )
        try:
            serialized = answer["credentials"][0]["credential"]
        except (KeyError, IndexError, TypeError) as exc:
            raise DataError("签发方应答中没有证照 · no credential in the answer") from exc
        from trust.sdjwt.issue import SdJwt

        iss = SdJwt(str(serialized).split("~")[0], ()).unverified_payload().get("iss", "")
        keys = _issuer_keys(client, str(iss))
    _, verified = receive_sd_jwt(str(serialized), issuer_keys=keys, now=int(time.time()))
    if verified.holder_key is None or verified.holder_key.kid != holder.kid:
        raise DataError(
            "证照没有绑定本钱包的密钥 · the credential is not bound to this wallet's key"
        )
    record = {
        "id": hashlib.sha256(str(serialized).encode()).hexdigest()[:12],
        "type": ids[0],
        "issuer": verified.issuer,
        "vct": verified.vct,
        "issued_at": verified.issued_at,
        "expires": verified.expires,
        "status": verified.status.to_claim()["status"] if verified.status else None,
        "claims": verified.claims,
        "credential": serialized,
    }
    store = wallet_dir / CREDENTIALS
    store.mkdir(parents=True, exist_ok=True)
    (store / f"{record['id']}.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    if as_json:
        emit_json({k: v for k, v in record.items() if k != "credential"})
    else:
        say(
            f"已领取并验证 · received and verified: {record['type']} ({record['id']}), "
            f"签发方 issuer {record['issuer']}"
        )


def _records(wallet_dir: Path) -> list[dict[str, Any]]:
    store = wallet_dir / CREDENTIALS
    if not store.is_dir():
        raise DataError(f"钱包未初始化，请先运行 ecert wallet init · no wallet in {wallet_dir}")
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(store.glob("*.json"))]


def record_of(wallet_dir: Path, credential_id: str) -> dict[str, Any]:
    """The kept credential ``credential_id`` (an id ``list`` prints)."""
    found = [r for r in _records(wallet_dir) if r["id"] == credential_id]
    if not found:
        raise DataError(f"钱包里没有这张证照 · no credential {credential_id!r} in the wallet")
    return found[0]


@wallet_app.command("list")
def list_(wallet_dir: WalletDir = DEFAULT_WALLET, as_json: JsonOut = False) -> None:
    """List the kept credentials. 证照列表"""
    rows = [
        {k: r[k] for k in ("id", "type", "issuer", "issued_at", "expires")}
        for r in _records(wallet_dir)
    ]
    if as_json:
        emit_json(rows)
    elif not rows:
        say("钱包里还没有证照 · no credentials yet")
    else:
        for r in rows:
            say(f"{r['id']}  {r['type']}  {r['issuer']}")


@wallet_app.command("show")
def show(
    credential_id: Annotated[str, typer.Argument(help="证照编号 · credential id (from list)")],
    wallet_dir: WalletDir = DEFAULT_WALLET,
    as_json: JsonOut = False,
) -> None:
    """Show one kept credential: its claims, issuer and status reference. 查看证照"""
    record = {k: v for k, v in record_of(wallet_dir, credential_id).items() if k != "credential"}
    if as_json:
        emit_json(record)
    else:
        say(json.dumps(record, ensure_ascii=False, indent=2))
