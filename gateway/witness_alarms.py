"""Alarms about peers' audit logs: raised by the witness, standing until an operator
acknowledges them (``ecert audit alarms``, ``ecert audit ack``).

One open alarm per peer and kind: the same finding seen again at the next sync counts up
(``times``, ``last_seen_at``) rather than piling rows up, so the table stays bounded by the
peers known times the five kinds, plus the acknowledged history (:data:`KEEP_ACKED` a peer).
Raising and acknowledging are audit events of this gateway's own log (ids and hashes only).
An acknowledgement may also forget what was verified of that peer (``reset``), so its next
head is trusted on first use again: for an operator who has established, out of band, why the
peer's log changed.

Deliberately not here: deciding (:mod:`trust.witness`), fetching (:mod:`gateway.witness`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select

from gateway import audit
from gateway.clock import iso
from gateway.core import Gateway
from gateway.errors import Conflict, NotFound
from gateway.models import WitnessAlarmRow, WitnessedPeerRow
from trust.encoding import b64url_encode
from trust.witness import Alarm, Seen

KEEP_ACKED = 20  # acknowledged alarms kept per peer, newest first
WITNESS_ACTOR = "witness"


def raise_alarm(gw: Gateway, peer: str, alarm: Alarm, last: Seen | None, now: int) -> int:
    """Store ``alarm`` about ``peer`` (or count it again); its id."""
    head = alarm.checkpoint
    with gw.transaction() as session:
        row = session.scalar(
            select(WitnessAlarmRow).where(
                WitnessAlarmRow.peer == peer,
                WitnessAlarmRow.kind == alarm.kind.value,
                WitnessAlarmRow.acked_at.is_(None),
            )
        )
        if row is not None:
            row.times += 1
            row.last_seen_at = now
            return row.id
        row = WitnessAlarmRow(
            peer=peer, kind=alarm.kind.value, message=alarm.message_zh[:1000],
            message_en=alarm.message_en[:1000],
            tree_size=head.tree_size if head else None,
            root_hash=b64url_encode(head.root_hash) if head else None,
            checkpoint=head.token if head else None,
            seen_tree_size=last.tree_size if last else None,
            seen_root_hash=b64url_encode(last.root_hash) if last else None,
            raised_at=now, last_seen_at=now, times=1, acked_at=None, acked_by=None,
        )  # fmt: skip
        session.add(row)
        session.flush()
        audit.record(
            session, at=now, actor=WITNESS_ACTOR, action="audit.witness_alarm", subject=peer,
            alarm=row.id, kind=row.kind, tree_size=row.tree_size, root_hash=row.root_hash,
            seen_tree_size=row.seen_tree_size, seen_root_hash=row.seen_root_hash,
        )  # fmt: skip
        return row.id


@dataclass(frozen=True)
class AlarmView:
    id: int
    peer: str
    kind: str
    message: str
    message_en: str
    tree_size: int | None
    root_hash: str | None
    seen_tree_size: int | None
    seen_root_hash: str | None
    raised_at: int
    last_seen_at: int
    times: int
    acked_at: int | None
    acked_by: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "peer": self.peer, "kind": self.kind, "message": self.message,
            "message_en": self.message_en, "tree_size": self.tree_size,
            "root_hash": self.root_hash, "seen_tree_size": self.seen_tree_size,
            "seen_root_hash": self.seen_root_hash, "raised_at": iso(self.raised_at),
            "last_seen_at": iso(self.last_seen_at), "times": self.times,
            "acked_at": iso(self.acked_at), "acked_by": self.acked_by,
        }  # fmt: skip


def _view(row: WitnessAlarmRow) -> AlarmView:
    return AlarmView(
        row.id, row.peer, row.kind, row.message, row.message_en, row.tree_size, row.root_hash,
        row.seen_tree_size, row.seen_root_hash, row.raised_at, row.last_seen_at, row.times,
        row.acked_at, row.acked_by,
    )  # fmt: skip


def alarms(gw: Gateway, *, include_acked: bool = False, limit: int = 200) -> list[AlarmView]:
    """Standing alarms (and, asked, acknowledged ones), newest first."""
    query = select(WitnessAlarmRow).order_by(WitnessAlarmRow.id.desc()).limit(limit)
    if not include_acked:
        query = query.where(WitnessAlarmRow.acked_at.is_(None))
    with gw.sessions() as session:
        return [_view(r) for r in session.scalars(query)]


def acknowledge(gw: Gateway, alarm_id: int, *, actor: str, reset: bool = False) -> AlarmView:
    """Acknowledge one standing alarm; with ``reset``, also forget the peer's verified head."""
    now = gw.clock()
    with gw.transaction() as session:
        row = session.get(WitnessAlarmRow, alarm_id)
        if row is None:
            raise NotFound(f"no witness alarm {alarm_id}")
        if row.acked_at is not None:
            raise Conflict(f"alarm {alarm_id} was acknowledged by {row.acked_by} already")
        row.acked_at, row.acked_by = now, actor[:80]
        if reset:
            session.execute(delete(WitnessedPeerRow).where(WitnessedPeerRow.peer == row.peer))
        audit.record(session, at=now, actor=actor, action="audit.witness_ack",
                     subject=row.peer, alarm=row.id, kind=row.kind, reset=reset)  # fmt: skip
        acked = session.scalars(
            select(WitnessAlarmRow.id)
            .where(WitnessAlarmRow.peer == row.peer, WitnessAlarmRow.acked_at.is_not(None))
            .order_by(WitnessAlarmRow.id.desc())
            .offset(KEEP_ACKED)
        ).all()
        if acked:
            session.execute(delete(WitnessAlarmRow).where(WitnessAlarmRow.id.in_(acked)))
        return _view(row)
