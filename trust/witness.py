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
- ``stale``: a head not seen before (a new one, or the first) older than the bound a witness
  accepts, or no head of the peer verified for that long (:func:`overdue`). The head already
  verified, shown again however old, is not stale: a log signs a head when it grows, so an idle
  log keeps showing its last one.

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

Pure: tokens, bytes, keys and ``now`` in; results out. Deliberately not here: reading and
writing the tokens themselves (:mod:`trust.checkpoints`, whose names this module re-exports);
fetching heads and proofs, storing states and alarms, choosing which peers to witness
(``gateway.witness``).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from trust import merkle
from trust.checkpoints import (
    CHECKPOINT_TYP,
    COSIGNATURE_MAX_AGE,
    COSIGNATURE_TYP,
    MAX_TOKEN,
    Checkpoint,
    Cosignature,
    UnknownSigningKey,
    WitnessError,
    canonical_b64url,
    read_checkpoint,
    read_cosignature,
    sign_cosignature,
    unverified_cosigner,
)
from trust.keys import PublicKey

__all__ = [
    "CHECKPOINT_TYP",
    "COSIGNATURE_MAX_AGE",
    "COSIGNATURE_TYP",
    "DEFAULT_MAX_HEAD_AGE",
    "MAX_PROOF_BODY",
    "MAX_TOKEN",
    "Accepted",
    "Alarm",
    "AlarmKind",
    "Checkpoint",
    "Cosignature",
    "Seen",
    "Unverified",
    "WitnessError",
    "canonical_b64url",
    "decide",
    "judge",
    "overdue",
    "parse_consistency",
    "proof_range",
    "read_checkpoint",
    "read_cosignature",
    "sign_cosignature",
    "unverified_cosigner",
]

MAX_PROOF_BODY = 16 * 1024  # 2 * 64 hashes of 43 characters, with the JSON around them

DEFAULT_MAX_HEAD_AGE = 7 * 86_400  # a head older than this is stale


class AlarmKind(enum.StrEnum):
    TRUNCATED = "truncated"
    ROLLED_BACK = "rolled_back"
    REWRITTEN = "rewritten"
    BAD_SIGNATURE = "bad_signature"
    STALE = "stale"


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
        raise WitnessError(
            "一致性证明过大", f"a consistency proof answer over {MAX_PROOF_BODY} bytes"
        )
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WitnessError(
            "一致性证明不是 JSON", f"a consistency proof is not JSON: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise WitnessError(
            "一致性证明应为 JSON 对象", "a consistency proof: expected a JSON object"
        )
    if data.get("first") != first or data.get("second") != second:
        raise WitnessError(
            f"一致性证明应针对规模 {first} 到 {second}",
            f"expected a proof from size {first} to {second}, found one for "
            f"{data.get('first')!r} to {data.get('second')!r}",
        )
    proof = data.get("proof")
    if not isinstance(proof, list) or len(proof) > merkle.MAX_PATH:
        raise WitnessError(
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
    unchanged = last is not None and (checkpoint.tree_size, checkpoint.root_hash) == (
        last.tree_size,
        last.root_hash,
    )
    if now - checkpoint.iat > max_age and not unchanged:  # an idle log keeps its head: not stale
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
