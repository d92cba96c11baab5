"""Status-list slots and 流水号 serials: allocated inside the issuing transaction.

Status indexes are random and never reused (Token Status List §13.2, herd privacy): a slot is
taken by the credential row's unique ``(status_list_id, status_idx)``; if another process took
the same slot first, the insert fails and the caller retries the whole transaction. A new status
list is a change verifiers must see: the allocator returns it (a
:class:`gateway.state.StateChange`) for the caller to apply once its transaction committed.
"""

from __future__ import annotations

import secrets
import threading
from typing import cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from gateway.models import CredentialRow, SerialCounterRow, StatusListRow
from gateway.state import StateChange, combined, mark_changed
from trust import statuslist

STATUS_BITS = 2
_rng = secrets.SystemRandom()


# Statements built once (building one costs more CPU than running it: issue 13's profile).
_STATUS_LISTS = cast(Table, StatusListRow.__table__)
_COUNTERS = cast(Table, SerialCounterRow.__table__)
_lists = _STATUS_LISTS.c
_OPEN_LIST = (
    select(_lists.id, _lists.uri, _lists.size, _lists.used)
    .where(
        _lists.agency_id == bindparam("agency_id"),
        _lists.used < _lists.size,
        _lists.uri.like(bindparam("prefix"), escape="/"),
    )
    .order_by(_lists.id.desc())
    .limit(1)
)
_TAKE = (
    update(_STATUS_LISTS)
    .where(_lists.id == bindparam("list_id"))
    .values(used=_lists.used + bindparam("take"))
    .returning(_lists.used)
)
_FULL = (
    update(_STATUS_LISTS)
    .where(_lists.id == bindparam("list_id"))
    .values(used=_lists.size)
    .returning(_lists.used)
)
_USED = select(CredentialRow.__table__.c.status_idx).where(
    CredentialRow.__table__.c.status_list_id == bindparam("list_id")
)
_counters = _COUNTERS.c
_RESERVE = (
    update(_COUNTERS)
    .where(_counters.agency_id == bindparam("of_agency"), _counters.year == bindparam("of_year"))
    .values(next_value=_counters.next_value + bindparam("count"))
    .returning(_counters.next_value)
)


def _escaped(text: str) -> str:
    """``text`` for a LIKE pattern with ``/`` as the escape character (what
    ``startswith(..., autoescape=True)`` did)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


class SlotAllocator:
    """Per-process cache of used indexes, checked against the database by unique constraint."""

    def __init__(self, list_size: int) -> None:
        self.list_size = list_size
        self._used: dict[int, set[int]] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._used.clear()

    def _used_set(self, session: Session, list_id: int) -> set[int]:
        used = self._used.get(list_id)
        if used is None:
            used = set(session.execute(_USED, {"list_id": list_id}).scalars())
            self._used[list_id] = used
        return used

    def open_list(
        self, session: Session, agency_id: str, public_url: str, now: int
    ) -> tuple[StatusListRow, StateChange | None]:
        """The agency's status list with free slots under the city's public URL, made if there
        is none (an agency gets its first list when it is registered, so verifiers elsewhere
        know it from the start). A list made under an earlier URL takes no new credentials:
        status list URIs follow the URL (issue 8), while the credentials already in such a list
        keep the URI they were signed with. The change is not ``None`` when a list was made."""
        prefix = f"{public_url.rstrip('/')}/statuslists/"
        # Only what choosing a slot needs: the list's data (size / 4 bytes) is not read here.
        found = session.execute(
            _OPEN_LIST, {"agency_id": agency_id, "prefix": _escaped(prefix) + "%"}
        ).first()
        if found is not None:
            list_id, uri, size, used = found
            # A detached row of the columns read: callers read its id and uri (and a full list's
            # ``used`` is written back with an UPDATE, never through the session).
            return StatusListRow(id=list_id, agency_id=agency_id, uri=uri, size=size,
                                 used=used), None  # fmt: skip
        empty = statuslist.StatusList(bits=STATUS_BITS, size=self.list_size)
        row = StatusListRow(
            agency_id=agency_id,
            uri="pending:" + secrets.token_hex(8),
            bits=STATUS_BITS,
            size=self.list_size,
            data=bytes(empty.data),
            used=0,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        row.uri = f"{prefix}{row.id}"
        return row, mark_changed(session)  # verifiers must learn the new list

    def allocate(
        self, session: Session, *, agency_id: str, count: int, public_url: str, now: int
    ) -> tuple[list[tuple[StatusListRow, int]], StateChange | None]:
        """``count`` random free slots, spread over as many lists as needed, and the change to
        apply after the commit if a list was made for them."""
        out: list[tuple[StatusListRow, int]] = []
        change: StateChange | None = None
        with self._lock:
            while len(out) < count:
                row, opened = self.open_list(session, agency_id, public_url, now)
                change = combined(change, opened)
                used = self._used_set(session, row.id)
                take = min(count - len(out), row.size - len(used))
                for _ in range(take):
                    idx = statuslist.random_free_index(used, size=row.size, rng=_rng)
                    used.add(idx)
                    out.append((row, idx))
                now_used = session.execute(
                    _TAKE if take else _FULL, {"list_id": row.id, "take": take}
                ).scalar_one()
                # take == 0: another process filled the list behind our cache; it is marked
                # full above, so that no process chooses it again.
                if now_used >= row.size:  # never chosen again: keep no cache of a full list
                    self._used.pop(row.id, None)
        return out, change


def reserve_serials(session: Session, *, agency_id: str, year: int, count: int) -> int:
    """Reserve ``count`` consecutive serial numbers for ``(agency, year)``; return the first.

    One atomic ``UPDATE … RETURNING``: concurrent issuers (threads or processes) never read
    the same counter value. The first use of a year inserts the row; a concurrent first insert
    fails on the primary key and the caller's transaction is retried.
    """
    reserved = session.execute(
        _RESERVE, {"of_agency": agency_id, "of_year": year, "count": count}
    ).scalar()
    if reserved is not None:
        return int(reserved) - count
    session.add(SerialCounterRow(agency_id=agency_id, year=year, next_value=1 + count))
    session.flush()
    return 1


def serial_text(year: int, number: int) -> str:
    """流水号: the year, then a 7-digit counter (more digits once it passes 9,999,999)."""
    return f"{year}{number:07d}"
