"""The verifier's side of bounded staleness (issue 11) at a gateway: the bound a counter's
answers are held to, from its role (``issuers/roles/verifier-roles.json``) and this gateway's
``ECERT_STATUS_MAX_AGE``; the credential type's own bound is applied by the verifier
(:mod:`verify.freshness`), and the strictest of the three wins.

Other cities' lists are fetched again once their ``ttl`` has run from when they were issued
(:func:`next_status_fetch`), so the status data behind a VALID stays about one ``ttl`` old while
the issuer answers, well within the shipped bounds at the default ``ttl`` (300 s).

Deliberately not here: the decision (pure, in :mod:`verify.freshness`), the bounds' defaults
and their checks (the type and role files, ``gateway.settings``).
"""

from __future__ import annotations

from gateway.core import Gateway
from gateway.verifiers import roles
from trust.statuslist import StatusListSnapshot
from verify.freshness import strictest


def verifier_bound(gw: Gateway, role: str | None = None) -> int | None:
    """The bound on status data age for answers to a verifier of ``role`` (``None``: anyone,
    e.g. the open verify API): the stricter of the role's and this gateway's setting. A role
    this gateway does not know (another city's) adds nothing."""
    by_role = None
    if role is not None:
        known = next((r for r in roles(gw.types) if r.code == role), None)
        by_role = None if known is None else known.max_status_age
    return strictest(by_role, gw.settings.status_max_age)


def next_status_fetch(snap: StatusListSnapshot, *, now: int, ttl: int) -> int:
    """When to fetch a status list again: once its ``ttl`` has run from when it was issued
    (``iat``), not from when it was fetched, so that the status data behind a VALID is at most
    about one ``ttl`` old (its age is bounded: :mod:`verify.freshness`); never sooner than a
    tenth of the ``ttl`` from now (a cache serving an older copy must not be asked every few
    seconds), never after the list's ``exp``."""
    every = snap.ttl or ttl
    return max(now + max(1, every // 10), min(snap.iat + every, snap.exp))
