"""How old status data may be before a VALID answer is no longer one (issue 11).

A status list is signed with an ``iat`` and an ``exp`` (24 h by default): a verifier that cannot
fetch a newer one may keep using it until ``exp``, and until then it would answer VALID for a
credential revoked a minute after that ``iat``. Each credential type and each verifier role
therefore bounds the age of the status data behind a VALID (a business licence 24 h, also at an
offline kiosk; a resident e-ID at a counter 10 min). Past the strictest bound that applies, a
VALID becomes STATUS_UNAVAILABLE and the answer says how old the data was. REVOKED and
SUSPENDED are not bounded: an old list that already says revoked is still right.

The age is ``now`` minus the time the status data was issued: the status list token's ``iat``
for another city's list, the last time the gateway confirmed its own record for its own lists.
A list issued "in the future" (the issuer's clock ahead of ours) has age 0.

Pure: bounds and times in, a :class:`StatusAge` out. Deliberately not here: where bounds are
configured (credential type and role files, a gateway setting), the rule they are checked by
when loaded (:func:`trust.snapshot.check_status_age_bound`, shared by every loader), and what an
answer shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from trust.snapshot import MAX_STATUS_AGE, MIN_STATUS_AGE, check_status_age_bound

__all__ = [
    "MAX_STATUS_AGE",
    "MIN_STATUS_AGE",
    "StatusAge",
    "check_status_age_bound",
    "older_than",
    "status_age",
    "stricter",
    "strictest",
    "too_old_detail",
]


def strictest(*bounds: int | None) -> int | None:
    """The strictest (smallest) of the bounds that are set; ``None`` when none is."""
    given = [b for b in bounds if b is not None]
    return min(given) if given else None


def stricter(first: int | None, second: int | None) -> int | None:
    """:func:`strictest` of two bounds, without building a list (the verify hot path)."""
    if first is None:
        return second
    if second is None:
        return first
    return first if first <= second else second


def older_than(seconds: int, bound: int | None) -> bool:
    """Whether data ``seconds`` old breaks ``bound`` (None: no bound); the rule of
    :attr:`StatusAge.too_old`, asked before a :class:`StatusAge` is built."""
    return bound is not None and seconds > bound


@dataclass(frozen=True, slots=True)
class StatusAge:
    """How old the status data behind an answer was, against the bound that applied."""

    as_of: int  # when the status data was issued or last confirmed (Unix seconds)
    seconds: int  # its age when the answer was made; never negative
    bound: int | None  # the strictest bound that applied; None: only the list's exp

    @property
    def too_old(self) -> bool:
        """Whether a VALID read from this data must become STATUS_UNAVAILABLE."""
        return older_than(self.seconds, self.bound)


def status_age(*, as_of: int, now: int, bound: int | None) -> StatusAge:
    """The age of status data issued at ``as_of``, seen at ``now``, under ``bound``."""
    return StatusAge(as_of=as_of, seconds=max(0, now - as_of), bound=bound)


def too_old_detail(age: StatusAge, *, uri: str, why: str) -> str:
    """What a STATUS_UNAVAILABLE for old data says (technical English, for logs and APIs)."""
    return (
        f"status list {uri} is {age.seconds} s old (issued or confirmed at {age.as_of}); "
        f"{why} relies on status data at most {age.bound} s old, so VALID cannot be answered "
        "until a fresher list is fetched"
    )
