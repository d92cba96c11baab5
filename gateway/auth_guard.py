"""Failed authentications (agencies' ``ek_`` API keys, counters' ``vk_`` keys): throttled per key
id and per client address, and each burst recorded once in the audit log.

After ``ECERT_RATE_LIMIT_AUTH_FAILURES`` failures on one key id within its window (10 in 5
minutes by default), that key id is locked out: every request with it answers 429 with
``Retry-After``, the right secret included, until the oldest failure leaves the window. The
same holds per client address (``ECERT_RATE_LIMIT_AUTH_FAILURES_ADDRESS``, 30 in 5 minutes),
whatever key ids it tries. Only ids of keys that exist count per key (made-up ids cost the
attacker's address its budget, never the limiter memory). The check comes before the
database is asked: a locked-out caller costs one look at the limiter.

The failure that spends a budget starts a burst: it is one audit event (``auth.failures``),
with the key id, or the SHA-256 of the address (no address, no secret in the log).

Deliberately not here: the budgets' storage and algorithms (``gateway.ratelimit``).
"""

from __future__ import annotations

import hashlib

from gateway import audit
from gateway.core import Gateway
from gateway.ratelimit import Limiter

ACTION = "auth.failures"


def address_hash(address: str) -> str:
    return hashlib.sha256(address.encode("utf-8", "replace")).hexdigest()[:32]


def refuse_if_locked(limiter: Limiter, *, kind: str, key_id: str | None, address: str) -> None:
    """:class:`TooManyRequests` while ``key_id`` (of ``kind``: ``apikey`` or ``counter``) or
    ``address`` is locked out."""
    checks: list[tuple[str, tuple[str, ...]]] = [("auth_address", (address,))]
    if key_id is not None:
        checks.insert(0, ("auth_key", (kind, key_id)))
    for rule, key in checks:
        wait = limiter.wait(rule, *key)
        if wait is not None:
            raise Limiter.too_many(limiter.rules[rule], wait)


def failed(gw: Gateway, limiter: Limiter, *, kind: str, known: str | None, address: str) -> None:
    """Count a failed authentication against the key ``known`` (an existing key's id, or
    ``None``) and ``address``; record a burst that starts here in the audit log."""
    bursts: list[tuple[str, str]] = []
    if known is not None and limiter.spend_and_check("auth_key", kind, known):
        bursts.append(("auth_key", f"{kind}:{known}"))
    if limiter.spend_and_check("auth_address", address):
        bursts.append(("auth_address", f"address:{address_hash(address)}"))
    if not bursts:
        return
    now = gw.clock()
    with gw.transaction() as session:
        for rule, subject in bursts:
            audit.record(
                session,
                at=now,
                actor=f"address:{address_hash(address)}",
                action=ACTION,
                subject=subject,
                kind=kind,
                key_id=known,
                limit=limiter.rules[rule].text,
                locked_out=rule,
            )
