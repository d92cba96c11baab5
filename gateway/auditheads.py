"""Signed tree heads (checkpoints) of the audit log: made when the tree has grown, kept as history.

A checkpoint is a compact JWS, header ``typ: ecert-checkpoint+jwt``, signed with this gateway's
federation key (one of its entity configuration's ``jwks``), payload ``{"iss": <entity id>,
"tree_size", "root_hash": <base64url of 32 bytes>, "iat"}``. :func:`current` answers the newest
one and signs a new one only when the tree has grown past it, at most once a second (lazily on
``GET /audit/checkpoint``; the background federation sync calls it each interval too). A tree
smaller than the newest head is never signed: that log was truncated or rolled back, and its
old head stays the answer for its witnesses to notice.

It also answers the audit routes' reads (proofs, entries), each in a short session, so that
routes hold no session of their own.

Deliberately not here: checking heads (``gateway.auditverify``), witnesses (``gateway``'s
witness part).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from gateway import auditlog, federation
from gateway.core import Gateway
from gateway.db import SQLITE_BUSY_MS, WRITE_OPTION
from gateway.errors import NotFound
from gateway.models import AuditCheckpointRow, FederationRow
from trust.encoding import b64url_encode
from trust.jws import sign_compact

CHECKPOINT_TYP = "ecert-checkpoint+jwt"
MIN_INTERVAL = 1  # seconds between two signatures, at most one a second
LOCK_WAIT = 0.25  # seconds a request waits for SQLite's write lock to store a new head


def newest(session: Session) -> AuditCheckpointRow | None:
    return session.scalars(
        select(AuditCheckpointRow).order_by(AuditCheckpointRow.tree_size.desc()).limit(1)
    ).first()


def history(session: Session) -> list[AuditCheckpointRow]:
    return list(session.scalars(select(AuditCheckpointRow).order_by(AuditCheckpointRow.tree_size)))


def payload(*, iss: str, tree_size: int, root_hash: bytes, iat: int) -> dict[str, Any]:
    return {"iss": iss, "tree_size": tree_size, "root_hash": b64url_encode(root_hash), "iat": iat}


def current(gw: Gateway) -> AuditCheckpointRow:
    """The newest signed head, signing one first if the tree has grown (see the module)."""
    now = gw.clock()
    with gw.sessions() as session:
        fed = session.get(FederationRow, 1)
        compact = auditlog.compact_range(session)
        head = newest(session)
    if head is not None and (compact.size <= head.tree_size or now - head.signed_at < MIN_INTERVAL):
        return head
    if fed is None:
        raise NotFound(
            "本网关尚未加入联邦，没有签署日志检查点的密钥 · this gateway has no federation "
            "role yet, so no key to sign audit checkpoints with"
        )
    key = federation.own_signing_key(gw)
    root = compact.root()
    jws = sign_compact(
        payload(iss=fed.entity_id, tree_size=compact.size, root_hash=root, iat=now),
        key,
        typ=CHECKPOINT_TYP,
    )
    signed = AuditCheckpointRow(tree_size=compact.size, root_hash=root, jws=jws, signed_at=now)
    try:
        stored = _store(gw, signed)
    except IntegrityError:  # another process signed this size first: answer its head
        with gw.sessions() as session:
            other = session.get(AuditCheckpointRow, compact.size)
        if other is None:  # pragma: no cover - the key that collided is there
            raise
        return other
    if not stored and head is not None:  # the write lock is busy: the previous head, for now
        return head
    return signed


def _store(gw: Gateway, signed: AuditCheckpointRow) -> bool:
    """Store ``signed``; False when SQLite's write lock stayed busy for :data:`LOCK_WAIT`
    seconds (a long write in progress: a read does not queue behind it). PostgreSQL's insert
    waits on no other writer."""
    if gw.engine.dialect.name != "sqlite":
        with gw.transaction() as session:
            session.add(signed)
        return True
    values = {c: getattr(signed, c) for c in ("tree_size", "root_hash", "jws", "signed_at")}
    with gw.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None  # a connection just checked out of the pool
        raw.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT * 1000)}")
        try:
            with conn.execution_options(**{WRITE_OPTION: True}).begin():
                conn.execute(insert(AuditCheckpointRow), [values])
        except OperationalError:
            return False
        finally:
            raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    return True


# --- what the audit routes answer (read-only, each in a short session of its own) --------------


def inclusion_proof(gw: Gateway, *, index: int, tree_size: int) -> dict[str, Any]:
    """``GET /audit/proof/inclusion``, hashes in base64url."""
    with gw.sessions() as session:
        out = auditlog.inclusion(session, index=index, tree_size=tree_size)
    return {
        **out,
        "leaf_hash": b64url_encode(out["leaf_hash"]),
        "proof": [b64url_encode(h) for h in out["proof"]],
    }


def consistency_proof(gw: Gateway, *, first: int, second: int) -> dict[str, Any]:
    """``GET /audit/proof/consistency``, hashes in base64url."""
    with gw.sessions() as session:
        out = auditlog.consistency(session, first=first, second=second)
    return {**out, "proof": [b64url_encode(h) for h in out["proof"]]}


def entries(gw: Gateway, *, start: int, end: int) -> dict[str, Any]:
    """``GET /audit/entries``: each leaf object with its index and hash."""
    with gw.sessions() as session:
        rows = auditlog.entries(session, start=start, end=end)
    return {
        "entries": [
            {
                "index": r.leaf_index,
                "leaf": auditlog.leaf_of(r),
                "leaf_hash": b64url_encode(r.leaf_hash),
            }
            for r in rows
        ]
    }
