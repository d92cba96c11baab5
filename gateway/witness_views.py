"""What peers' witnessing looks like from this gateway: cosignatures received
(``POST /audit/cosignature``), who witnessed which head (``GET /audit/witnesses``), and the
``"audit"`` object of ``/healthz`` and the audit metrics of ``/metrics``.

A cosignature is taken only from a peer this gateway knows from its own verified federation
data (:func:`gateway.witness.candidates`; nothing is fetched for a stranger), checked with that
peer's federation keys as its chain vouches for them, and kept bounded:
:data:`MAX_PER_WITNESS` a witness, its newest heads.

Deliberately not here: witnessing peers (:mod:`gateway.witness`), the registry
(:mod:`gateway.metrics`), HTTP (:mod:`gateway.routes.witness`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from gateway import audit_head
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict, Forbidden, Unprocessable
from gateway.models import AuditCheckpointRow, CosignatureRow, WitnessAlarmRow, WitnessedPeerRow
from gateway.peers import HttpFetcher
from gateway.witness import candidates, own_entity_id, peer_keys
from gateway.witness_alarms import alarms
from trust.encoding import b64url_encode
from trust.witness import WitnessError, read_cosignature, unverified_cosigner

MAX_PER_WITNESS = 32  # cosignatures kept per witness (its newest heads)
MAX_HEADS_SHOWN = 200


def receive_cosignature(gw: Gateway, fetcher: HttpFetcher, token: str) -> dict[str, Any]:
    """Check and store a peer's cosignature of one of this gateway's heads."""
    now = gw.clock()
    try:
        witness = unverified_cosigner(token)
    except WitnessError as exc:
        raise Unprocessable(exc.message_zh, exc.message_en) from exc
    own = own_entity_id(gw)
    if witness not in candidates(gw):
        raise Forbidden(
            f"见证方不是本网关所知的联邦成员 · expected a peer gateway known to this "
            f"gateway's federation, found {witness[:256]!r}"
        )
    keys = peer_keys(gw, fetcher, witness, now)
    try:
        cosig = read_cosignature(token, keys, witness=witness, log=own, now=now)
    except WitnessError as exc:
        raise Unprocessable(exc.message_zh, exc.message_en) from exc
    root = b64url_encode(cosig.root_hash)
    try:
        with gw.transaction() as session:
            signed = session.scalar(select(AuditCheckpointRow.root_hash).where(
                AuditCheckpointRow.tree_size == cosig.tree_size))  # fmt: skip
            if signed != cosig.root_hash:  # a head this log never signed: another view of it
                raise Conflict(
                    f"见证方签署的树头不是本网关签发的 · the cosigned head (size "
                    f"{cosig.tree_size}, root {root}) is not one this log signed"
                    + ("" if signed is None else f" (it signed root {b64url_encode(signed)})")
                )
            held = session.scalar(select(CosignatureRow.id).where(
                CosignatureRow.witness == witness, CosignatureRow.tree_size == cosig.tree_size,
                CosignatureRow.root_hash == root))  # fmt: skip
            if held is None:
                session.add(CosignatureRow(
                    witness=witness, tree_size=cosig.tree_size, root_hash=root, iat=cosig.iat,
                    token=token, received_at=now))  # fmt: skip
                session.flush()
                older = session.scalars(
                    select(CosignatureRow.id).where(CosignatureRow.witness == witness)
                    .order_by(CosignatureRow.tree_size.desc(), CosignatureRow.id.desc())
                    .offset(MAX_PER_WITNESS)
                ).all()  # fmt: skip
                if older:
                    session.execute(delete(CosignatureRow).where(CosignatureRow.id.in_(older)))
    except IntegrityError:  # the same cosignature, stored by another request meanwhile
        pass
    return {"witness": witness, "tree_size": cosig.tree_size, "root_hash": root,
            "stored": True}  # fmt: skip


def witnesses(gw: Gateway, *, limit: int = 20) -> list[dict[str, Any]]:
    """This gateway's heads that peers co-signed, newest first, each with who and when."""
    limit = max(1, min(limit, MAX_HEADS_SHOWN))
    with gw.sessions() as session:
        heads = session.execute(
            select(CosignatureRow.tree_size, CosignatureRow.root_hash)
            .group_by(CosignatureRow.tree_size, CosignatureRow.root_hash)
            .order_by(CosignatureRow.tree_size.desc(), CosignatureRow.root_hash)
            .limit(limit)
        ).all()
        shown = []
        for size, root in heads:
            rows = session.scalars(
                select(CosignatureRow)
                .where(CosignatureRow.tree_size == size, CosignatureRow.root_hash == root)
                .order_by(CosignatureRow.witness)
            )
            shown.append({
                "tree_size": size, "root_hash": root,
                "witnesses": [{"witness": r.witness, "cosigned_at": iso(r.iat),
                               "received_at": iso(r.received_at), "cosignature": r.token}
                              for r in rows],
            })  # fmt: skip
    return shown


def audit_health(gw: Gateway) -> dict[str, Any]:
    """The ``"audit"`` object of ``/healthz``: this log's size and newest head, who witnessed
    it, what was verified of each peer's log, and the alarms standing."""
    head = audit_head.newest(gw)
    with gw.sessions() as session:
        latest = session.execute(
            select(CosignatureRow.witness, func.max(CosignatureRow.tree_size),
                   func.max(CosignatureRow.received_at))
            .group_by(CosignatureRow.witness).order_by(CosignatureRow.witness)
        ).all()  # fmt: skip
        peers = list(session.scalars(select(WitnessedPeerRow).order_by(WitnessedPeerRow.peer)))
        peer_view = [
            {"peer": p.peer, "tree_size": p.tree_size, "root_hash": p.root_hash,
             "verified_at": iso(p.verified_at), "cosigned_at": iso(p.cosigned_at),
             "last_attempt_at": iso(p.last_attempt_at), "last_error": p.last_error}
            for p in peers
        ]  # fmt: skip
    standing = alarms(gw)
    return {
        "tree_size": audit_head.tree_size(gw),
        "last_checkpoint": head,
        "witnessed_by": [
            {"witness": w, "tree_size": size, "at": iso(at)} for w, size, at in latest
        ],
        "peers": peer_view,
        "alarms": [a.to_json() for a in standing],
        "status": "alarm" if standing else "ok",
    }


def audit_metrics(gw: Gateway) -> Iterator[Metric]:
    """``ecert_audit_tree_size``, ``ecert_audit_peer_tree_size{peer}``,
    ``ecert_audit_witness_alarms{peer}`` (standing alarms) and
    ``ecert_audit_cosignatures{witness}`` (heads of ours a peer co-signed, kept)."""
    size = GaugeMetricFamily("ecert_audit_tree_size", "Entries in this gateway's audit log")
    own = audit_head.tree_size(gw)
    if own is not None:  # a damaged tree state has no size to show
        size.add_metric([], own)
    yield size
    with gw.sessions() as session:
        peers = session.execute(
            select(WitnessedPeerRow.peer, WitnessedPeerRow.tree_size).order_by(
                WitnessedPeerRow.peer
            )
        ).all()
        standing = dict(session.execute(
            select(WitnessAlarmRow.peer, func.count()).where(WitnessAlarmRow.acked_at.is_(None))
            .group_by(WitnessAlarmRow.peer)
        ).all())  # fmt: skip
        cosigned = session.execute(
            select(CosignatureRow.witness, func.count()).group_by(CosignatureRow.witness)
            .order_by(CosignatureRow.witness)
        ).all()  # fmt: skip
    peer_size = GaugeMetricFamily(
        "ecert_audit_peer_tree_size",
        "Size of each peer's audit log as last verified here",
        labels=["peer"],
    )
    alarm = GaugeMetricFamily(
        "ecert_audit_witness_alarms",
        "Alarms standing about each peer's audit log",
        labels=["peer"],
    )
    for peer, tree_size in peers:
        if tree_size is not None:
            peer_size.add_metric([peer], tree_size)
    for peer in sorted({p for p, _ in peers} | set(standing)):
        alarm.add_metric([peer], standing.get(peer, 0))
    yield peer_size
    yield alarm
    kept = GaugeMetricFamily(
        "ecert_audit_cosignatures",
        "Cosignatures of this log's heads kept, by witness",
        labels=["witness"],
    )
    for witness, count in cosigned:
        kept.add_metric([witness], count)
    yield kept
