"""The audit log as an append-only RFC 9162 Merkle tree: leaves, tree state and proofs.

A leaf's data is the canonical JSON (sorted keys, no whitespace, UTF-8, not ASCII-escaped) of
``{"index", "at", "actor", "action", "subject", "detail"}``, read back from its ``audit_log``
row; its hash is ``trust.merkle.leaf_hash(data)``. Indexes are dense from 0: :func:`append`
takes the tree state's row lock (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's writers are
serialised by ``BEGIN IMMEDIATE``), so two processes on one database never take one index, and
the unique key on ``leaf_index`` refuses it if anything tried. The compact range
(``trust.merkle.CompactRange``) is updated in the same transaction.

Proofs never rehash the whole log: the roots of complete subtrees of 2**8, 2**16, 2**24 …
leaves are stored as they complete (``audit_nodes``); any complete subtree's root is folded from
at most 256 stored hashes (nodes of the cached level below it, or leaf hashes).

Deliberately not here: signing checkpoints (``gateway.auditheads``), checking a whole log
(``gateway.auditverify``), HTTP (``gateway.routes.audit``).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from gateway import bulk_insert
from gateway.errors import Conflict
from gateway.models import AuditNodeRow, AuditRow, AuditTreeRow
from trust import merkle
from trust.errors import FieldError

NODE_STEP = 8  # cached subtree levels: 8, 16, 24 … (as migration 0012)
BLOCK = 1 << NODE_STEP
MAX_ENTRIES = 1000  # per GET /audit/entries


class AuditLogDamaged(Conflict):
    """The stored log is not what it was (a row or cached node missing or altered)."""


def canonical(leaf: dict[str, Any]) -> bytes:
    return _CANONICAL.encode(leaf).encode()


# json.dumps(leaf, sort_keys=True, separators=(",", ":"), ensure_ascii=False), its encoder
# built once instead of on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def leaf_of(row: AuditRow) -> dict[str, Any]:
    """The leaf object of a stored row (what ``GET /audit/entries`` shows)."""
    return {
        "index": row.leaf_index,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "subject": row.subject,
        "detail": row.detail,
    }


def _tree(session: Session, *, lock: bool) -> AuditTreeRow:
    """The tree state (migration 0012 makes it). Missing with no leaf stored (a database whose
    tables were emptied), it is an empty tree, added to ``session`` when ``lock``ed for a write;
    missing beside stored leaves, the log was tampered with."""
    tree = session.get(AuditTreeRow, 1, with_for_update=lock, populate_existing=lock)
    if tree is not None:
        return tree
    if session.scalar(select(AuditRow.id).limit(1)) is not None:
        raise AuditLogDamaged(
            "审计日志的树状态缺失 · expected the audit tree's state beside its leaves, found none"
        )
    tree = AuditTreeRow(id=1, size=0, hashes=[], updated_at=0)
    if lock:
        session.add(tree)
    return tree


def compact_range(session: Session) -> merkle.CompactRange:
    """The tree as it stands (committed), as a compact range."""
    tree = _tree(session, lock=False)
    return merkle.CompactRange(tree.size, [bytes.fromhex(h) for h in tree.hashes])


def _push(compact: merkle.CompactRange, leaf: bytes, nodes: list[dict[str, Any]]) -> None:
    """``compact.append(leaf)``, also collecting the complete subtrees of cached levels it
    closes (RFC 9162 §2.1.1: a merge of two equal complete subtrees is the next level's)."""
    merged, size, level = leaf, compact.size, 0
    while size & 1:
        merged = merkle.node_hash(compact.hashes.pop(), merged)
        size >>= 1
        level += 1
        if level % NODE_STEP == 0:
            nodes.append({"level": level, "position": size, "hash": merged})
    compact.hashes.append(merged)
    compact.size += 1


def has_leaves(session: Session) -> bool:
    """Whether the database's ``audit_log`` has its leaf columns (migration 0012 or later),
    asked once per engine. Before it (code run on an older schema, as migration tests do) rows
    are written as before, and migration 0012 makes them leaves in id order."""
    engine = session.get_bind()
    known = _SCHEMAS.get(engine)
    if known is None:
        columns = inspect(session.connection()).get_columns("audit_log")
        known = _SCHEMAS[engine] = any(c["name"] == "leaf_index" for c in columns)
    return known


_SCHEMAS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


_PLAIN = (str, int, bool, type(None))


def _as_stored(detail: dict[str, Any]) -> dict[str, Any]:
    """What the database's JSON column gives back (tuples as lists, keys as text); a detail of
    plain values (most are: ids, codes, hashes) is that already."""
    if all(type(k) is str and type(v) in _PLAIN for k, v in detail.items()):
        return detail
    return dict(json.loads(json.dumps(detail, ensure_ascii=False)))


def assign(session: Session, entries: Sequence[Mapping[str, Any]]) -> None:
    """Make ``entries`` (the ``at``, ``actor``, ``action``, ``subject`` and ``detail`` of new
    rows, in the order they were recorded) the next leaves, in ``session``'s transaction: index,
    hash, the tree state and the cached subtree roots they complete.

    They are inserted in one executemany: the ORM's unit of work would read each new id back,
    which made a batch of 5,000 a second slower."""
    connection = session.connection()
    found = connection.execute(_TREE_LOCKED).first()
    if found is None:
        _tree(session, lock=False)  # AuditLogDamaged beside stored leaves; else an empty tree
        size, stored, updated_at = 0, list[str](), 0
    else:
        size, stored, updated_at = found
    compact = merkle.CompactRange(size, [bytes.fromhex(h) for h in stored])
    nodes: list[dict[str, Any]] = []
    values: list[dict[str, Any]] = []
    for given in entries:
        leaf = {k: given[k] for k in ("at", "actor", "action", "subject")}
        leaf["detail"] = _as_stored(given["detail"])
        leaf["index"] = compact.size
        hashed = merkle.leaf_hash(canonical(leaf))
        _push(compact, hashed, nodes)
        del leaf["index"]
        values.append({**leaf, "leaf_index": compact.size - 1, "leaf_hash": hashed})
    bulk_insert.insert_rows(connection, cast(Table, AuditRow.__table__), values)
    if nodes:
        connection.execute(insert(AuditNodeRow).inline(), nodes)
    size = compact.size
    hashes = [h.hex() for h in compact.hashes]
    updated_at = max([updated_at, *(v["at"] for v in values)])
    if found is None:
        connection.execute(
            insert(AuditTreeRow).values(id=1, size=size, hashes=hashes, updated_at=updated_at)
        )
    else:
        connection.execute(
            _TREE_UPDATE, {"to_size": size, "to_hashes": hashes, "to_at": updated_at}
        )
    held = session.identity_map.get(_TREE_KEY)
    if held is not None:  # read earlier in this session: what it holds is stale now
        session.expire(held)


# The tree state read locked and written back with Core statements built once: through the ORM
# (a locked ``get``, then the unit of work's UPDATE at the flush) they cost a group of
# issuances more than its credentials' insert (issue 13's profile).
_TREE = cast(Table, AuditTreeRow.__table__)
_TREE_LOCKED = (
    select(_TREE.c.size, _TREE.c.hashes, _TREE.c.updated_at)
    .where(_TREE.c.id == 1)
    .with_for_update()
)
_TREE_UPDATE = (
    update(_TREE)
    .where(_TREE.c.id == 1)
    .values(size=bindparam("to_size"), hashes=bindparam("to_hashes"), updated_at=bindparam("to_at"))
)
_TREE_KEY = identity_key(AuditTreeRow, (1,))


class StoredSubtrees:
    """A ``trust.merkle.Subtree`` answered from stored leaf hashes and cached nodes, for trees
    up to ``size`` leaves; each block or node range is read once per instance."""

    def __init__(self, session: Session, size: int) -> None:
        self.session = session
        self.size = size
        self._blocks: dict[int, list[bytes]] = {}
        self.reads = 0  # queries made (measured in tests)

    def __call__(self, start: int, end: int) -> bytes:
        n = end - start
        if n <= 0:
            return merkle.empty_root()
        if n & (n - 1) == 0 and start % n == 0:
            return self._complete(start, n.bit_length() - 1)
        k = 1 << ((n - 1).bit_length() - 1)
        return merkle.node_hash(self(start, start + k), self(start + k, end))

    def _complete(self, start: int, level: int) -> bytes:
        cached = level - level % NODE_STEP
        if cached == 0:
            block = self._block(start // BLOCK)
            offset = start % BLOCK
            return merkle.root(block[offset : offset + (1 << level)])
        first, count = start >> cached, 1 << (level - cached)
        self.reads += 1
        hashes = list(
            self.session.scalars(
                select(AuditNodeRow.hash)
                .where(
                    AuditNodeRow.level == cached,
                    AuditNodeRow.position >= first,
                    AuditNodeRow.position < first + count,
                )
                .order_by(AuditNodeRow.position)
            )
        )
        if len(hashes) != count:
            raise AuditLogDamaged(
                f"expected {count} cached subtree roots of level {cached} from position {first}, "
                f"found {len(hashes)}: the audit log's store was altered"
            )
        return merkle.root(hashes)

    def _block(self, number: int) -> list[bytes]:
        if number not in self._blocks:
            start = number * BLOCK
            end = min(start + BLOCK, self.size)
            self.reads += 1
            hashes = list(
                self.session.scalars(
                    select(AuditRow.leaf_hash)
                    .where(AuditRow.leaf_index >= start, AuditRow.leaf_index < end)
                    .order_by(AuditRow.leaf_index)
                )
            )
            if len(hashes) != end - start:
                raise AuditLogDamaged(
                    f"expected {end - start} leaves from index {start}, found {len(hashes)}: "
                    "the audit log's store was altered"
                )
            self._blocks[number] = hashes
        return self._blocks[number]


def _bounded(name: str, value: int, low: int, high: int, *, size: int) -> None:
    if not low <= value <= high:
        raise FieldError.single(
            name,
            "range",
            f"{name} 应在 {low} 到 {high} 之间（日志当前共 {size} 条），实际为 {value}",
            f"expected {name} between {low} and {high} (the log holds {size} entries now), "
            f"found {value}",
        )


def inclusion(session: Session, *, index: int, tree_size: int) -> dict[str, Any]:
    """``GET /audit/proof/inclusion``: leaf ``index``'s hash and audit path in ``tree_size``."""
    size = _tree(session, lock=False).size
    _bounded("tree_size", tree_size, 1, size, size=size)
    _bounded("index", index, 0, tree_size - 1, size=size)
    subtrees = StoredSubtrees(session, tree_size)
    leaf = subtrees(index, index + 1)
    proof = merkle.inclusion_proof(subtrees, index, tree_size)
    return {"index": index, "tree_size": tree_size, "leaf_hash": leaf, "proof": proof}


def consistency(session: Session, *, first: int, second: int) -> dict[str, Any]:
    """``GET /audit/proof/consistency`` for 0 < first <= second <= the current size."""
    size = _tree(session, lock=False).size
    _bounded("second", second, 1, size, size=size)
    _bounded("first", first, 1, second, size=size)
    proof = merkle.consistency_proof(StoredSubtrees(session, second), first, second)
    return {"first": first, "second": second, "proof": proof}


def entries(session: Session, *, start: int, end: int) -> list[AuditRow]:
    """``GET /audit/entries``: leaves [start, end), at most :data:`MAX_ENTRIES`."""
    size = _tree(session, lock=False).size
    _bounded("start", start, 0, size, size=size)
    _bounded("end", end, start, min(size, start + MAX_ENTRIES), size=size)
    return list(
        session.scalars(
            select(AuditRow)
            .where(AuditRow.leaf_index >= start, AuditRow.leaf_index < end)
            .order_by(AuditRow.leaf_index)
        )
    )
