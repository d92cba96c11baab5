"""Witnessing another gateway's audit log (RFC 9162 §2.1, §8.1.2; the witness idea of C2SP
tlog-witness): decide whether a peer's new signed checkpoint extends what this witness last
verified of its log, and read and write cosignatures.

A witness keeps, per peer, the last head it verified (size, root, the checkpoint itself). Given
the peer's newest checkpoint and, when the log grew, a consistency proof from the size seen to
the new size, :func:`judge` answers :class:`Accepted` (the new state to keep, and whether to
co-sign it) or an :class:`Alarm` with its kind and a message in zh-CN and English:

- ``truncated``: the log is smaller than when last seen, under a newer head;
- ``rolled_back``: the log is smaller and its head no newer than the one seen (an older head
  served again: a restore from an old backup, or a replay);
- ``rewritten``: the same size with another root, or a consistency proof that does not check
  out, is malformed, or is not bound to the two sizes asked for;
- ``bad_signature``: not a checkpoint validly signed by that peer (signature, key, ``iss``,
  encoding, claims);
- ``stale``: a consistent head older than the bound a witness accepts, or no head of the peer
  verified for that long (:func:`overdue`).

A head signed with a key this witness does not trust for the peer *yet* (its ``kid`` names none
of them) is :class:`Unverified`, not an alarm: a peer that has just rotated its federation key
signs with the new one before its superior's statement vouches for it (the superior follows at
its next sync). The head is not accepted; if no head can be verified for longer than the bound,
:func:`overdue` raises ``stale``. A key that is trusted but whose signature does not verify, or
a valid signature over bad claims, is ``bad_signature`` at once.

The first head ever seen of a peer is accepted as it is (trust on first use): nothing earlier
can be compared with it. A witness that first saw an empty log asks no proof of the growth
after it (the empty tree is a prefix of every tree, and a consistency proof from size 0 proves
nothing: :func:`trust.merkle.verify_consistency` refuses one), so the next non-empty head is
accepted as consistent with it.

Pure: tokens, bytes, keys and ``now`` in; results out. Deliberately not here: fetching heads and
proofs, storing states and alarms, choosing which peers to witness (``gateway.witness``).
"""

from __future__ import annotations

import enum
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
DEFAULT_MAX_HEAD_AGE = 7 * 86_400  # a head older than this is stale


class WitnessError(DataError):
    """A checkpoint, proof or cosignature refused, in zh-CN and English."""

    def __init__(self, message_zh: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message_zh = message_zh
        self.message_en = message_en


class UnknownSigningKey(WitnessError):
    """The token's ``kid`` names none of the keys trusted for its signer (yet)."""


class AlarmKind(enum.StrEnum):
    TRUNCATED = "truncated"
    ROLLED_BACK = "rolled_back"
    REWRITTEN = "rewritten"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head as its log signed it (verified)."""

    iss: str
    tree_size: int
    root_hash: bytes
    iat: int
    token: str


@dataclass(frozen=True)
class Seen:
    """What a witness last verified of a peer's log."""

    tree_size: int
    root_hash: bytes
    iat: int
    checkpoint: str

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> Seen:
        return cls(checkpoint.tree_size, checkpoint.root_hash, checkpoint.iat, checkpoint.token)


@dataclass(frozen=True)
class Accepted:
    """The head extends what was seen: keep ``state``. ``first_use``: nothing was seen before
    (trusted on first use). ``changed``: the state differs from the one held."""

    state: Seen
    first_use: bool
    changed: bool


@dataclass(frozen=True)
class Unverified:
    """No verdict yet: the head names a key not (yet) trusted for the peer; the state held
    stays, and nothing is co-signed."""

    message_zh: str
    message_en: str


@dataclass(frozen=True)
class Alarm:
    """The peer's log is not what it was: the state held stays as it was."""

    kind: AlarmKind
    message_zh: str
    message_en: str
    checkpoint: Checkpoint | None  # the offending head, when it was a valid one


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


def proof_range(last: Seen | None, checkpoint: Checkpoint) -> tuple[int, int] | None:
    """The consistency proof to ask for (first, second), or ``None`` when none is needed:
    first use, a log seen empty, or no growth (the sizes and roots say it all)."""
    if last is None or last.tree_size == 0 or checkpoint.tree_size <= last.tree_size:
        return None
    return last.tree_size, checkpoint.tree_size


def parse_consistency(body: bytes, *, first: int, second: int) -> list[bytes]:
    """The hashes of a ``GET /audit/proof/consistency`` answer, which must be for exactly the
    sizes asked (a proof not bound to them is refused before it is checked)."""
    if len(body) > MAX_PROOF_BODY:
        raise _refuse("一致性证明过大", f"a consistency proof answer over {MAX_PROOF_BODY} bytes")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _refuse("一致性证明不是 JSON", f"a consistency proof is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _refuse("一致性证明应为 JSON 对象", "a consistency proof: expected a JSON object")
    if data.get("first") != first or data.get("second") != second:
        raise _refuse(
            f"一致性证明应针对规模 {first} 到 {second}",
            f"expected a proof from size {first} to {second}, found one for "
            f"{data.get('first')!r} to {data.get('second')!r}",
        )
    proof = data.get("proof")
    if not isinstance(proof, list) or len(proof) > merkle.MAX_PATH:
        raise _refuse(
            f"一致性证明应为至多 {merkle.MAX_PATH} 个哈希的列表",
            f"proof: expected a list of at most {merkle.MAX_PATH} hashes",
        )
    return [canonical_b64url(h, f"proof[{i}]", size=merkle.HASH_SIZE) for i, h in enumerate(proof)]


def _hex(value: bytes) -> str:
    return value.hex()[:16]


def judge(
    *, last: Seen | None, checkpoint: Checkpoint, proof: bytes | None, now: int, max_age: int
) -> Accepted | Alarm:
    """Whether ``checkpoint`` extends ``last``; ``proof`` is the body of the consistency
    proof answer for :func:`proof_range` (``None`` when that asked for none)."""
    peer = checkpoint.iss
    wanted = proof_range(last, checkpoint)
    if last is not None and checkpoint.tree_size < last.tree_size:
        sizes = f"{last.tree_size} → {checkpoint.tree_size}"
        if checkpoint.iat <= last.iat:
            return Alarm(
                AlarmKind.ROLLED_BACK,
                f"{peer} 的审计日志被回退（规模 {sizes}，签发时间不晚于已见的树头）："
                "疑似从旧备份恢复",
                f"{peer}'s audit log was rolled back (size {sizes}, its head no newer than the "
                "one seen): restored from an old backup, or an old head replayed",
                checkpoint,
            )
        return Alarm(
            AlarmKind.TRUNCATED,
            f"{peer} 的审计日志被截断（规模 {sizes}）",
            f"{peer}'s audit log was truncated: size {sizes} under a newer head",
            checkpoint,
        )
    if last is not None and checkpoint.tree_size == last.tree_size:
        if checkpoint.root_hash != last.root_hash:
            return Alarm(
                AlarmKind.REWRITTEN,
                f"{peer} 的审计日志被改写：规模 {last.tree_size} 出现另一个根哈希",
                f"{peer}'s audit log was rewritten: size {last.tree_size} has root "
                f"{_hex(checkpoint.root_hash)}…, seen before as {_hex(last.root_hash)}…",
                checkpoint,
            )
    elif wanted is not None:
        assert last is not None
        if proof is None:
            raise ValueError(f"a consistency proof from {wanted[0]} to {wanted[1]} is needed")
        try:
            path = parse_consistency(proof, first=wanted[0], second=wanted[1])
            merkle.verify_consistency(
                first_size=last.tree_size, second_size=checkpoint.tree_size,
                first_root=last.root_hash, second_root=checkpoint.root_hash, proof=path,
            )  # fmt: skip
        except (WitnessError, merkle.MerkleError) as exc:
            return Alarm(
                AlarmKind.REWRITTEN,
                f"{peer} 的审计日志规模 {wanted[0]} 不是规模 {wanted[1]} 的前缀：日志被改写",
                f"{peer}'s audit log of size {wanted[0]} is not a prefix of size {wanted[1]}: "
                f"rewritten ({exc})",
                checkpoint,
            )
    if now - checkpoint.iat > max_age:
        return Alarm(
            AlarmKind.STALE,
            f"{peer} 的最新树头已签发 {(now - checkpoint.iat) // 3600} 小时，"
            f"超过 {max_age // 3600} 小时",
            f"{peer}'s newest head is {now - checkpoint.iat} s old, over the bound of {max_age} s",
            checkpoint,
        )
    if last is not None and (checkpoint.tree_size, checkpoint.iat) <= (last.tree_size, last.iat):
        return Accepted(last, first_use=False, changed=False)  # an older signing of that head
    return Accepted(Seen.of(checkpoint), first_use=last is None, changed=True)


def decide(
    *,
    peer: str,
    keys: Sequence[PublicKey],
    last: Seen | None,
    token: object,
    proof: bytes | None,
    now: int,
    max_age: int = DEFAULT_MAX_HEAD_AGE,
) -> Accepted | Alarm | Unverified:
    """:func:`read_checkpoint` then :func:`judge`; a checkpoint that does not verify is a
    ``bad_signature`` alarm, one signed by a key not trusted yet is :class:`Unverified`."""
    try:
        checkpoint = read_checkpoint(token, keys, peer=peer, now=now)
    except UnknownSigningKey as exc:
        return Unverified(
            f"{peer} 的树头暂无法核验：{exc.message_zh}",
            f"{peer}'s head cannot be verified yet: {exc.message_en}",
        )
    except WitnessError as exc:
        return Alarm(
            AlarmKind.BAD_SIGNATURE,
            f"{peer} 的树头不是该网关有效签名的检查点：{exc.message_zh}",
            f"{peer}'s head is not a checkpoint validly signed by it: {exc.message_en}",
            None,
        )
    return judge(last=last, checkpoint=checkpoint, proof=proof, now=now, max_age=max_age)


def overdue(
    *, peer: str, last_verified_at: int | None, since: int, now: int, max_age: int
) -> Alarm | None:
    """A ``stale`` alarm when no head of ``peer`` was verified for longer than ``max_age``
    (counted from ``last_verified_at``, else from ``since``, when witnessing it began)."""
    start = since if last_verified_at is None else last_verified_at
    if now - start <= max_age:
        return None
    return Alarm(
        AlarmKind.STALE,
        f"{peer} 的审计日志已 {(now - start) // 3600} 小时没有可核验的树头，"
        f"超过 {max_age // 3600} 小时",
        f"no head of {peer}'s audit log verified for {now - start} s, over the bound of "
        f"{max_age} s",
        None,
    )


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
