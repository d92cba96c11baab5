"""A witness's decisions about a peer's audit log (trust/witness.py), table-driven.

Each case starts from what the witness last verified of a peer's log of 7 leaves (or nothing,
or an empty log), shows it a new checkpoint and a consistency proof answer, and names the
verdict: accepted (the new state), or the alarm's kind. The pitfalls are cases of their own:
a proof from size 0, a proof not bound to the sizes asked, one hash spelled two ways.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from trust import merkle
from trust.encoding import b64url_encode
from trust.jws import sign_compact
from trust.keys import SigningKey
from trust.witness import (
    CHECKPOINT_TYP,
    COSIGNATURE_MAX_AGE,
    COSIGNATURE_TYP,
    MAX_PROOF_BODY,
    Accepted,
    Alarm,
    AlarmKind,
    Seen,
    Unverified,
    WitnessError,
    canonical_b64url,
    decide,
    judge,
    overdue,
    parse_consistency,
    proof_range,
    read_checkpoint,
    read_cosignature,
    sign_cosignature,
    unverified_cosigner,
)

PEER = "https://hz.example.cn"
WITNESS = "https://sz.example.cn"
NOW = 1_780_000_000
HOUR = 3600
MAX_AGE = 7 * 86_400
PEER_KEY = SigningKey.generate()
STRANGER = SigningKey.generate()


def leaves(n: int, tag: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(b'{"index":%d}' % i + tag) for i in range(n)]


LOG = leaves(12)
OTHER = leaves(12, b"x")  # another history from the first leaf on


def root(n: int, log: list[bytes] = LOG) -> bytes:
    return merkle.root(log[:n])


def checkpoint(
    n: int,
    *,
    iat: int = NOW - 60,
    log: list[bytes] = LOG,
    key: SigningKey = PEER_KEY,
    typ: str = CHECKPOINT_TYP,
    kid: str | None = None,
    **claims: Any,
) -> str:
    payload = {"iss": PEER, "tree_size": n, "root_hash": b64url_encode(root(n, log)), "iat": iat}
    payload.update(claims)
    return sign_compact({k: v for k, v in payload.items() if v is not None}, key, typ=typ, kid=kid)


def proof(m: int, n: int, *, log: list[bytes] = LOG, **override: Any) -> bytes:
    hashes = merkle.consistency_proof(merkle.over(log[:n]), m, n)
    body: dict[str, Any] = {"first": m, "second": n, "proof": [b64url_encode(h) for h in hashes]}
    body.update(override)
    return orjson.dumps(body)


SEEN_7 = Seen(7, root(7), NOW - 2 * HOUR, "earlier")
SEEN_EMPTY = Seen(0, merkle.empty_root(), NOW - 2 * HOUR, "earlier")


def flipped(body: bytes) -> bytes:
    data = orjson.loads(body)
    first = bytearray(canonical_b64url(data["proof"][0], "p"))
    first[0] ^= 1
    data["proof"][0] = b64url_encode(bytes(first))
    return orjson.dumps(data)


def loose_spelling(token: str) -> str:
    """The same signature with non-zero unused bits in its last character (an ES256 signature
    is 64 bytes: 86 characters, the last carrying 2 unused bits)."""
    head, body, sig = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(sig[-1])
    return f"{head}.{body}.{sig[:-1]}{alphabet[last | 1 if last & 1 == 0 else last & ~1]}"


@dataclass(frozen=True)
class Case:
    name: str
    last: Seen | None
    token: Callable[[], str]
    proof: Callable[[], bytes | None]
    expect: AlarmKind | int | None  # an alarm, the tree size accepted, or None: no verdict yet


# fmt: off
CASES = [
    # accepted
    Case("first head ever seen: trusted on first use", None, lambda: checkpoint(7),
         lambda: None, 7),
    Case("the same head again", SEEN_7, lambda: checkpoint(7, iat=SEEN_7.iat), lambda: None, 7),
    Case("the same tree signed again later", SEEN_7, lambda: checkpoint(7), lambda: None, 7),
    Case("grew, with a proof that checks out", SEEN_7, lambda: checkpoint(12),
         lambda: proof(7, 12), 12),
    Case("grew from a power of two", Seen(8, root(8), NOW - HOUR, "x"), lambda: checkpoint(11),
         lambda: proof(8, 11), 11),
    Case("seen empty, then grew: no proof from size 0 is asked or used", SEEN_EMPTY,
         lambda: checkpoint(5), lambda: b"garbage never read", 5),
    Case("an older signing of the head seen keeps the state", SEEN_7,
         lambda: checkpoint(7, iat=SEEN_7.iat - HOUR), lambda: None, 7),
    # truncated, rolled back
    Case("shrank under a newer head: truncated", SEEN_7, lambda: checkpoint(5),
         lambda: None, AlarmKind.TRUNCATED),
    Case("shrank to empty: truncated", SEEN_7, lambda: checkpoint(0), lambda: None,
         AlarmKind.TRUNCATED),
    Case("an older, smaller head served again: rolled back", SEEN_7,
         lambda: checkpoint(4, iat=SEEN_7.iat - HOUR), lambda: None, AlarmKind.ROLLED_BACK),
    # rewritten
    Case("the same size with another root", SEEN_7, lambda: checkpoint(7, log=OTHER),
         lambda: None, AlarmKind.REWRITTEN),
    Case("grew, but from another history", SEEN_7, lambda: checkpoint(12, log=OTHER),
         lambda: proof(7, 12, log=OTHER), AlarmKind.REWRITTEN),
    Case("a proof with one bit flipped", SEEN_7, lambda: checkpoint(12),
         lambda: flipped(proof(7, 12)), AlarmKind.REWRITTEN),
    Case("an empty proof between different sizes", SEEN_7, lambda: checkpoint(12),
         lambda: proof(7, 12, proof=[]), AlarmKind.REWRITTEN),
    Case("a proof not bound to the sizes asked (valid for 6 to 12)", SEEN_7,
         lambda: checkpoint(12), lambda: proof(6, 12), AlarmKind.REWRITTEN),
    Case("a proof for the sizes asked, labelled with others", SEEN_7, lambda: checkpoint(12),
         lambda: proof(7, 12, first=6), AlarmKind.REWRITTEN),
    Case("a proof from size 0", SEEN_7, lambda: checkpoint(12),
         lambda: proof(7, 12, first=0), AlarmKind.REWRITTEN),
    Case("a proof hash spelled with padding", SEEN_7, lambda: checkpoint(12),
         lambda: proof(7, 12, proof=[b64url_encode(root(7)) + "="]), AlarmKind.REWRITTEN),
    Case("a proof of 31-byte hashes", SEEN_7, lambda: checkpoint(12),
         lambda: proof(7, 12, proof=[b64url_encode(bytes(31))]), AlarmKind.REWRITTEN),
    Case("a proof that is not JSON", SEEN_7, lambda: checkpoint(12), lambda: b"<html>",
         AlarmKind.REWRITTEN),
    Case("a proof answer over its bound", SEEN_7, lambda: checkpoint(12),
         lambda: b" " * (MAX_PROOF_BODY + 1), AlarmKind.REWRITTEN),
    # not a checkpoint of this peer
    Case("signed by another key under the peer's kid", SEEN_7,
         lambda: checkpoint(7, key=STRANGER, kid=PEER_KEY.kid), lambda: None,
         AlarmKind.BAD_SIGNATURE),
    Case("signed by a key not vouched for yet (a rotation not followed yet): no verdict",
         SEEN_7, lambda: checkpoint(7, key=STRANGER), lambda: None, None),
    Case("signed by the peer, naming another log", SEEN_7,
         lambda: checkpoint(7, iss="https://sz.example.cn"), lambda: None, AlarmKind.BAD_SIGNATURE),
    Case("another token type", SEEN_7, lambda: checkpoint(7, typ=COSIGNATURE_TYP), lambda: None,
         AlarmKind.BAD_SIGNATURE),
    Case("the signature spelled with non-zero unused bits", SEEN_7,
         lambda: loose_spelling(checkpoint(7)), lambda: None, AlarmKind.BAD_SIGNATURE),
    Case("made an hour in the future", SEEN_7, lambda: checkpoint(7, iat=NOW + HOUR),
         lambda: None, AlarmKind.BAD_SIGNATURE),
    Case("a negative size", SEEN_7, lambda: checkpoint(7, tree_size=-1), lambda: None,
         AlarmKind.BAD_SIGNATURE),
    Case("a size that is a boolean", SEEN_7, lambda: checkpoint(7, tree_size=True),
         lambda: None, AlarmKind.BAD_SIGNATURE),
    Case("a size past 2^63 - 1", SEEN_7, lambda: checkpoint(7, tree_size=2**63), lambda: None,
         AlarmKind.BAD_SIGNATURE),
    Case("a root of 31 bytes", SEEN_7,
         lambda: checkpoint(7, root_hash=b64url_encode(bytes(31))), lambda: None,
         AlarmKind.BAD_SIGNATURE),
    Case("an empty log with a root that is not the empty tree's", SEEN_7,
         lambda: checkpoint(0, root_hash=b64url_encode(root(7))), lambda: None,
         AlarmKind.BAD_SIGNATURE),
    Case("no iat", SEEN_7, lambda: checkpoint(7, iat=None), lambda: None,
         AlarmKind.BAD_SIGNATURE),
    Case("not a token at all", SEEN_7, lambda: "x" * 5000, lambda: None, AlarmKind.BAD_SIGNATURE),
    # stale
    Case("a consistent head older than the bound", SEEN_EMPTY,
         lambda: checkpoint(3, iat=NOW - MAX_AGE - 1), lambda: None, AlarmKind.STALE),
    Case("a first head older than the bound", None,
         lambda: checkpoint(3, iat=NOW - MAX_AGE - 1), lambda: None, AlarmKind.STALE),
    Case("the head already verified, older than the bound: an idle log, not stale",
         Seen(7, root(7), NOW - MAX_AGE - 1, "x"), lambda: checkpoint(7, iat=NOW - MAX_AGE - 1),
         lambda: None, 7),
]
# fmt: on


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_witness_decides(case: Case) -> None:
    verdict = decide(
        peer=PEER, keys=[PEER_KEY.public], last=case.last, token=case.token(),
        proof=case.proof(), now=NOW, max_age=MAX_AGE,
    )  # fmt: skip
    if case.expect is None:
        assert isinstance(verdict, Unverified), verdict
        assert PEER in verdict.message_zh
        assert "verified yet" in verdict.message_en
    elif isinstance(case.expect, AlarmKind):
        assert isinstance(verdict, Alarm), verdict
        assert verdict.kind is case.expect, verdict.message_en
        assert PEER in verdict.message_zh
        assert PEER in verdict.message_en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in verdict.message_zh)
    else:
        assert isinstance(verdict, Accepted), verdict.message_en  # type: ignore[union-attr]
        assert verdict.state.tree_size == case.expect
        assert verdict.state.root_hash == root(case.expect)
        assert verdict.first_use is (case.last is None)


def test_an_accepted_state_holds_the_checkpoint_it_was_read_from() -> None:
    token = checkpoint(12)
    verdict = decide(peer=PEER, keys=[PEER_KEY.public], last=SEEN_7, token=token,
                     proof=proof(7, 12), now=NOW)  # fmt: skip
    assert isinstance(verdict, Accepted)
    assert verdict.changed
    assert verdict.state == Seen(12, root(12), NOW - 60, token)


def test_an_alarm_keeps_the_offending_head_as_evidence() -> None:
    token = checkpoint(5)
    verdict = decide(peer=PEER, keys=[PEER_KEY.public], last=SEEN_7, token=token, proof=None,
                     now=NOW)  # fmt: skip
    assert isinstance(verdict, Alarm)
    assert verdict.checkpoint is not None
    assert verdict.checkpoint.token == token
    assert verdict.checkpoint.tree_size == 5


@pytest.mark.parametrize(
    ("last", "size", "wanted"),
    [
        (None, 7, None),
        (SEEN_EMPTY, 7, None),
        (SEEN_7, 7, None),
        (SEEN_7, 5, None),
        (SEEN_7, 12, (7, 12)),
    ],
)
def test_a_proof_is_asked_only_for_growth_from_a_non_empty_log(
    last: Seen | None, size: int, wanted: tuple[int, int] | None
) -> None:
    cp = read_checkpoint(checkpoint(size), [PEER_KEY.public], peer=PEER, now=NOW)
    assert proof_range(last, cp) == wanted


def test_growth_without_the_proof_it_needs_is_a_programming_error() -> None:
    cp = read_checkpoint(checkpoint(12), [PEER_KEY.public], peer=PEER, now=NOW)
    with pytest.raises(ValueError, match="from 7 to 12"):
        judge(last=SEEN_7, checkpoint=cp, proof=None, now=NOW, max_age=MAX_AGE)


@pytest.mark.parametrize(
    ("verified_at", "since", "stale"),
    [
        (NOW - MAX_AGE, NOW - 2 * MAX_AGE, False),
        (NOW - MAX_AGE - 1, NOW - 2 * MAX_AGE, True),
        (None, NOW - MAX_AGE, False),
        (None, NOW - MAX_AGE - 1, True),
    ],
)
def test_a_peer_with_no_head_verified_for_too_long_is_stale(
    verified_at: int | None, since: int, stale: bool
) -> None:
    alarm = overdue(peer=PEER, last_verified_at=verified_at, since=since, now=NOW,
                    max_age=MAX_AGE)  # fmt: skip
    assert (alarm is not None) is stale
    if alarm is not None:
        assert alarm.kind is AlarmKind.STALE
        assert "小时" in alarm.message_zh


def test_a_proof_answer_is_bound_to_both_sizes() -> None:
    assert parse_consistency(proof(7, 12), first=7, second=12)
    for first, second in ((6, 12), (7, 11)):
        with pytest.raises(WitnessError, match="expected a proof from size"):
            parse_consistency(proof(7, 12), first=first, second=second)


# --- cosignatures -----------------------------------------------------------------------------

WITNESS_KEY = SigningKey.generate()


def cosignature(**claims: Any) -> str:
    cp = read_checkpoint(checkpoint(7), [PEER_KEY.public], peer=PEER, now=NOW)
    token = sign_cosignature(WITNESS_KEY, witness=WITNESS, checkpoint=cp, now=NOW)
    if not claims:
        return token
    payload = orjson.loads(canonical_b64url(token.split(".")[1], "payload"))
    payload.update(claims)
    return sign_compact(payload, WITNESS_KEY, typ=COSIGNATURE_TYP)


def test_a_cosignature_round_trips() -> None:
    token = cosignature()
    assert unverified_cosigner(token) == WITNESS
    cosig = read_cosignature(token, [WITNESS_KEY.public], witness=WITNESS, log=PEER, now=NOW)
    assert (cosig.iss, cosig.sub, cosig.tree_size, cosig.root_hash) == (WITNESS, PEER, 7, root(7))


@pytest.mark.parametrize(
    ("name", "token", "keys", "match"),
    [
        ("another witness's key", cosignature, [STRANGER.public], "kid"),
        ("naming another log", lambda: cosignature(sub=WITNESS), None, "claim sub"),
        ("naming another witness", lambda: cosignature(iss=PEER), None, "claim iss"),
        (
            "made too long ago",
            lambda: cosignature(iat=NOW - COSIGNATURE_MAX_AGE - 1),
            None,
            "cosignature made",
        ),
        ("made in the future", lambda: cosignature(iat=NOW + HOUR), None, "claim iat"),
        ("a root that is not 32 bytes", lambda: cosignature(root_hash="AAAA"), None, "32 bytes"),
        (
            "the signature spelled another way",
            lambda: loose_spelling(cosignature()),
            None,
            "canonical base64url",
        ),
    ],
)
def test_a_cosignature_is_refused(
    name: str, token: Callable[[], str], keys: list[Any] | None, match: str
) -> None:
    with pytest.raises(WitnessError, match=match) as refused:
        read_cosignature(token(), keys or [WITNESS_KEY.public], witness=WITNESS, log=PEER, now=NOW)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in refused.value.message_zh), name


@pytest.mark.parametrize("token", [None, 42, "a.b", "x" * 3000, "a.bm90IGpzb24.c", "a.e30.c"])
def test_a_cosigner_that_cannot_be_named_is_refused(token: object) -> None:
    with pytest.raises(WitnessError):
        unverified_cosigner(token)
