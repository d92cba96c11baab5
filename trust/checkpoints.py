"""Signed tree heads (checkpoints) and cosignatures as tokens: reading them strictly, and
writing a cosignature.

A checkpoint (``typ: ecert-checkpoint+jwt``) is a log's signed head ``{"iss", "tree_size",
"root_hash", "iat"}``; a cosignature (``typ: ecert-cosignature+jwt``) is a witness's signature
over one, ``{"iss": <witness>, "sub": <log>, "tree_size", "root_hash", "iat"}``. Both are read
with keys the caller takes from its trusted federation data (the ``kid`` is a hint), bounded in
size, with one spelling only (canonical base64url in every part and in ``root_hash``), the
issuer the caller expects, and no time past ``now`` plus :data:`MAX_SKEW`.

Pure. Deliberately not here: deciding what a head means for a witness (:mod:`trust.witness`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from trust import merkle
from trust.encoding import b64url_decode, b64url_encode
from trust.errors import DataError, SignatureError
from trust.jws import KeyIndex, UnknownKey, sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey

CHECKPOINT_TYP = "ecert-checkpoint+jwt"
COSIGNATURE_TYP = "ecert-cosignature+jwt"
MAX_TOKEN = 2048  # a checkpoint or cosignature is about 400 characters
MAX_PROOF_BODY = 16 * 1024  # 2 * 64 hashes of 43 characters, with the JSON around them
MAX_ENTITY_ID = 256
MAX_SKEW = 300  # seconds a peer's clock may run ahead of ours
COSIGNATURE_MAX_AGE = 86_400  # a cosignature older than this is not stored


class WitnessError(DataError):
    """A checkpoint, proof or cosignature refused, in zh-CN and English."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


class UnknownSigningKey(WitnessError):
    """The token's ``kid`` names none of the keys trusted for its signer (yet)."""


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head as its log signed it (verified)."""

    iss: str
    tree_size: int
    root_hash: bytes
    iat: int
    token: str


def _refuse(zh: str, en: str) -> WitnessError:
    return WitnessError(zh, en)


def canonical_b64url(value: object, what: str, *, size: int | None = None) -> bytes:
    """Decode base64url that has exactly one spelling: no padding, no other alphabet, zero
    unused bits (a decoder that accepts others gives one hash several spellings)."""
    if not isinstance(value, str) or len(value) > 4 * MAX_TOKEN:
        raise _refuse(f"{what} 应为 base64url 文本", f"{what}: expected base64url text")
    try:
        raw = b64url_decode(value)
    except DataError as exc:
        raise _refuse(f"{what} 不是 base64url", f"{what}: not base64url: {exc}") from exc
    if b64url_encode(raw) != value:
        raise _refuse(
            f"{what} 的 base64url 写法不规范",
            f"{what}: expected canonical base64url (no padding, zero unused bits), found {value!r}",
        )
    if size is not None and len(raw) != size:
        raise _refuse(
            f"{what} 应为 {size} 字节", f"{what}: expected {size} bytes, found {len(raw)}"
        )
    return raw


def _int(claims: dict[str, Any], name: str, low: int, high: int) -> int:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(
            f"声明 {name} 应为 {low} 至 {high} 的整数",
            f"claim {name}: expected an integer {low}..{high}, found {value!r}",
        )
    return value


def _text(claims: dict[str, Any], name: str, expected: str) -> str:
    value = claims.get(name)
    if value != expected:
        raise _refuse(
            f"声明 {name} 应为 {expected}",
            f"claim {name}: expected {expected!r}, found {str(value)[:300]!r}",
        )
    return expected


def _verified(token: object, keys: Sequence[PublicKey], typ: str) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN:
        size = len(token) if isinstance(token, str) else type(token).__name__
        raise _refuse(
            f"应为不超过 {MAX_TOKEN} 字符的 JWS",
            f"expected a compact JWS of at most {MAX_TOKEN} characters, found {size}",
        )
    for i, part in enumerate(token.split(".")[:3]):  # one spelling per token (issue 11)
        canonical_b64url(part, f"JWS part {i + 1}")
    try:
        verified = verify_compact(token, KeyIndex(keys), typ=typ, max_length=MAX_TOKEN)
    except UnknownKey as exc:
        raise UnknownSigningKey(
            f"签名密钥不在该节点受信任的联邦密钥中（{typ}）", f"{typ}: {exc}"
        ) from exc
    except SignatureError as exc:
        raise _refuse(f"签名无效（{typ}）", f"{typ}: {exc}") from exc
    return verified.payload


def _head(claims: dict[str, Any], now: int) -> tuple[int, bytes, int]:
    size = _int(claims, "tree_size", 0, merkle.MAX_TREE_SIZE)
    root = canonical_b64url(claims.get("root_hash"), "root_hash", size=merkle.HASH_SIZE)
    iat = _int(claims, "iat", 0, now + MAX_SKEW)
    if size == 0 and root != merkle.empty_root():
        raise _refuse(
            "空日志的根哈希应为空树的哈希",
            f"an empty log's root_hash must be SHA-256 of nothing, found {root.hex()}",
        )
    return size, root, iat


def read_checkpoint(token: object, keys: Sequence[PublicKey], *, peer: str, now: int) -> Checkpoint:
    """``peer``'s checkpoint in ``token``, verified with ``keys`` (that peer's federation keys
    from this gateway's trusted federation data; the token's ``kid`` is only a hint)."""
    claims = _verified(token, keys, CHECKPOINT_TYP)
    iss = _text(claims, "iss", peer)
    size, root, iat = _head(claims, now)
    assert isinstance(token, str)
    return Checkpoint(iss, size, root, iat, token)


@dataclass(frozen=True)
class Cosignature:
    """A witness's signature over a log's head (verified)."""

    iss: str  # the witness
    sub: str  # the log
    tree_size: int
    root_hash: bytes
    iat: int
    token: str


def sign_cosignature(key: SigningKey, *, witness: str, checkpoint: Checkpoint, now: int) -> str:
    """This witness's cosignature of ``checkpoint`` (which it accepted)."""
    payload = {
        "iss": witness,
        "sub": checkpoint.iss,
        "tree_size": checkpoint.tree_size,
        "root_hash": b64url_encode(checkpoint.root_hash),
        "iat": now,
    }
    return sign_compact(payload, key, typ=COSIGNATURE_TYP)


def unverified_cosigner(token: object) -> str:
    """The ``iss`` a cosignature names: only a hint, to find the keys it must verify with."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN or token.count(".") != 2:
        raise _refuse(
            f"应为不超过 {MAX_TOKEN} 字符的 JWS",
            f"expected a compact JWS of at most {MAX_TOKEN} characters",
        )
    try:
        claims = orjson.loads(b64url_decode(token.split(".")[1]))
    except (DataError, orjson.JSONDecodeError) as exc:
        raise _refuse("联署内容无法解析", f"the cosignature's payload is not JSON: {exc}") from exc
    iss = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(iss, str) or not 0 < len(iss) <= MAX_ENTITY_ID:
        raise _refuse(
            "联署应写明见证方（iss）",
            f"expected iss, a witness's entity id of at most {MAX_ENTITY_ID} characters",
        )
    return iss


def read_cosignature(
    token: object, keys: Sequence[PublicKey], *, witness: str, log: str, now: int
) -> Cosignature:
    """A cosignature by ``witness`` (verified with its federation keys from trusted federation
    data) of a head of ``log`` (this gateway), made within :data:`COSIGNATURE_MAX_AGE`."""
    claims = _verified(token, keys, COSIGNATURE_TYP)
    _text(claims, "iss", witness)
    _text(claims, "sub", log)
    size, root, iat = _head(claims, now)
    if now - iat > COSIGNATURE_MAX_AGE:
        raise _refuse(
            "联署已过时", f"a cosignature made {now - iat} s ago, over {COSIGNATURE_MAX_AGE} s"
        )
    assert isinstance(token, str)
    return Cosignature(witness, log, size, root, iat, token)
