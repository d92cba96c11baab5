"""This gateway's own audit log as ``/healthz`` and ``/metrics`` show it: its size and newest
signed head (:mod:`gateway.auditlog`, :mod:`gateway.auditheads`). Reads only: no head is
signed here (``GET /audit/checkpoint`` and the sync do that), and a damaged tree state is shown
as ``None`` rather than failing the health check that should report it.
"""

from __future__ import annotations

from typing import Any

from gateway import auditheads, auditlog
from gateway.clock import iso
from gateway.core import Gateway
from trust.encoding import b64url_encode
from trust.errors import DataError


def tree_size(gw: Gateway) -> int | None:
    """Leaves in this gateway's log, as its tree state counts them (None: state damaged)."""
    with gw.sessions() as session:
        try:
            return auditlog.compact_range(session).size
        except DataError:  # AuditLogDamaged, or a compact range that does not hold
            return None


def newest(gw: Gateway) -> dict[str, Any] | None:
    """The newest head this gateway signed: size, root (base64url), when."""
    with gw.sessions() as session:
        head = auditheads.newest(session)
        if head is None:
            return None
        return {
            "tree_size": head.tree_size,
            "root_hash": b64url_encode(head.root_hash),
            "signed_at": iso(head.signed_at),
        }
