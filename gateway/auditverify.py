"""Check a gateway's own audit log against itself and its signed heads (``ecert audit verify``).

Recomputes every leaf hash from the stored row (not the stored hash), checks the indexes are
dense from 0, folds the recomputed hashes into the root at every stored checkpoint's size and at
the tree state's size, and checks each checkpoint's signature (this gateway's federation keys,
retired ones included) and claims. It stops at the first bad entry and says where, what was
expected and what was found: an UPDATE of a row is found at its index, a deleted middle row at
the first missing index, deleted last rows at the first index the tree state or a checkpoint
still counts. A row rewritten together with its stored hash is found by the first checkpoint
whose root no longer matches (between that checkpoint and the one before it).

Deliberately not here: what peers saw of this log (the witness part): a log rewritten together
with its tree state and checkpoints is consistent with itself, and only its witnesses know.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway import auditheads, auditlog
from gateway.federation import SELF
from gateway.models import (
    AuditCheckpointRow,
    AuditRow,
    AuditTreeRow,
    FederationKeyRow,
    FederationRow,
)
from trust import merkle
from trust.encoding import b64url_encode
from trust.errors import DataError
from trust.jws import verify_compact
from trust.keys import PublicKey
from trust.merkle import MerkleError

READ_BATCH = 5000


@dataclass(frozen=True)
class Problem:
    """The first bad entry: at leaf ``index`` (or checkpoint size), what was wrong."""

    index: int
    what: str  # leaf_hash | missing | tree_state | checkpoint_root | checkpoint_signature
    expected: str
    found: str
    message: str  # zh-CN
    message_en: str


@dataclass
class Report:
    size: int = 0  # leaves read
    tree_size: int = 0  # what the tree state says
    checkpoints: int = 0  # checkpoints checked
    problem: Problem | None = None
    root: str = field(default="")  # base64url of the recomputed root

    @property
    def ok(self) -> bool:
        return self.problem is None


def _h(data: bytes) -> str:
    return b64url_encode(data)


def _check_signature(
    head: AuditCheckpointRow, keys: Sequence[PublicKey], entity_id: str | None
) -> Problem | None:
    def bad(expected: str, found: str, zh: str, en: str) -> Problem:
        return Problem(head.tree_size, "checkpoint_signature", expected, found, zh, en)

    try:
        verified = verify_compact(
            head.jws,
            lambda kid: [k for k in keys if k.kid == kid],
            typ=auditheads.CHECKPOINT_TYP,
        )
    except DataError as exc:
        return bad("本网关联邦密钥的有效签名 · a valid signature by this gateway's federation key",
                   str(exc), f"大小为 {head.tree_size} 的检查点签名无效",
                   f"the checkpoint of size {head.tree_size} does not verify: {exc}")  # fmt: skip
    claims = verified.payload
    stored = {"iss": entity_id, "tree_size": head.tree_size, "root_hash": _h(head.root_hash)}
    signed = {k: claims.get(k) for k in stored}
    if signed != stored:
        return bad(str(stored), str(signed), f"大小为 {head.tree_size} 的检查点所签内容与存储不符",
                   f"the checkpoint of size {head.tree_size} signs other claims than "
                   "the stored row")  # fmt: skip
    return None


def check(
    rows: Iterable[AuditRow],
    *,
    tree_size: int,
    tree_root: bytes | None,
    heads: Sequence[AuditCheckpointRow],
    keys: Sequence[PublicKey],
    entity_id: str | None,
) -> Report:
    """The pure check: ``rows`` in ``leaf_index`` order, the tree state, the stored heads."""
    report = Report(tree_size=tree_size, checkpoints=len(heads))
    for head in heads:
        report.problem = _check_signature(head, keys, entity_id)
        if report.problem:
            return report
    pending = sorted(heads, key=lambda h: h.tree_size)
    compact = merkle.CompactRange()
    checked_upto = 0

    def root_check(size: int, want: bytes, what: str, name: str) -> Problem | None:
        got = compact.root()
        if got == want:
            return None
        return Problem(size, what, _h(want), _h(got),
                       f"{name}（大小 {size}）的根与重算不符：第 {checked_upto}–{size - 1} 条之间"
                       "有条目被改写",
                       f"the root of {name} (size {size}) differs from the recomputed one: an "
                       f"entry between {checked_upto} and {size - 1} was rewritten")  # fmt: skip

    for row in rows:
        i = compact.size
        while pending and pending[0].tree_size == i:
            head = pending.pop(0)
            report.problem = root_check(i, head.root_hash, "checkpoint_root", "检查点 checkpoint")
            if report.problem:
                return report
            checked_upto = i
        if row.leaf_index != i:
            report.problem = Problem(i, "missing", f"第 {i} 条 · leaf {i}",
                                     f"第 {row.leaf_index} 条 · leaf {row.leaf_index}",
                                     f"第 {i} 条缺失（下一条为第 {row.leaf_index} 条）",
                                     f"leaf {i} is missing (the next stored is "
                                     f"{row.leaf_index})")  # fmt: skip
            return report
        recomputed = merkle.leaf_hash(auditlog.canonical(auditlog.leaf_of(row)))
        if recomputed != row.leaf_hash:
            report.problem = Problem(i, "leaf_hash", _h(row.leaf_hash), _h(recomputed),
                                     f"第 {i} 条的内容与其哈希不符（被改写）",
                                     f"leaf {i}'s data does not hash to its stored hash "
                                     "(rewritten)")  # fmt: skip
            return report
        compact.append(recomputed)
    report.size = compact.size
    report.root = _h(compact.root())
    while pending and pending[0].tree_size == compact.size:
        head = pending.pop(0)
        report.problem = root_check(compact.size, head.root_hash, "checkpoint_root",
                                    "检查点 checkpoint")  # fmt: skip
        if report.problem:
            return report
        checked_upto = compact.size
    counted = max([tree_size, *(h.tree_size for h in pending)])
    if counted > compact.size:
        report.problem = Problem(compact.size, "missing", f"{counted} 条 · {counted} leaves",
                                 f"{compact.size} 条 · {compact.size} leaves",
                                 f"从第 {compact.size} 条起缺失（树状态或检查点记有 {counted} 条）",
                                 f"leaves from {compact.size} are missing (the tree state or a "
                                 f"checkpoint counts {counted})")  # fmt: skip
        return report
    if tree_size != compact.size:
        report.problem = Problem(tree_size, "tree_state", f"{compact.size}", f"{tree_size}",
                                 "树状态的大小与条目数不符",
                                 "the tree state's size differs from the leaves")  # fmt: skip
        return report
    if tree_root is None:
        report.problem = Problem(tree_size, "tree_state", f"{tree_size.bit_count()} 个子树根 · "
                                 f"{tree_size.bit_count()} subtree roots", "无法解析 · unreadable",
                                 "树状态无法解析（被改动）",
                                 "the tree state does not parse (altered)")  # fmt: skip
        return report
    report.problem = root_check(tree_size, tree_root, "tree_state", "树状态 tree state")
    return report


def verify(session: Session) -> Report:
    """Read the log, its state and heads from ``session`` and :func:`check` them."""
    tree = session.get(AuditTreeRow, 1)
    size = tree.size if tree is not None else 0
    try:
        root: bytes | None = merkle.CompactRange(
            size, [bytes.fromhex(h) for h in (tree.hashes if tree is not None else [])]
        ).root()
    except (MerkleError, ValueError, TypeError):
        root = None  # a state that does not parse: reported by check
    fed = session.get(FederationRow, 1)
    keys = [
        PublicKey.from_jwk(jwk)
        for jwk in session.scalars(
            select(FederationKeyRow.public_jwk).where(FederationKeyRow.owner == SELF)
        )
    ]
    rows = session.scalars(
        select(AuditRow).order_by(AuditRow.leaf_index).execution_options(yield_per=READ_BATCH)
    )
    try:
        return check(
            rows,
            tree_size=size,
            tree_root=root,
            heads=auditheads.history(session),
            keys=keys,
            entity_id=fed.entity_id if fed is not None else None,
        )
    finally:
        rows.close()  # a check that stopped early leaves a server-side cursor open otherwise
