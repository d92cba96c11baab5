"""Trust list deltas: what changed between two versions, signed, and applied all or nothing.

A delta (compact JWS, ``typ: trustlist-delta+jwt``, signed by a ``trust_list`` key) carries:

- ``from_version`` and ``from_hash``: the exact list it applies to (its content hash, so two
  lists that share a version number but not content cannot be confused);
- ``to_version``, the new list's ``iat``, ``exp``, ``next_update``, ``issuer`` and ``region``;
- ``upserts``: entries added or changed, whole; ``tombstones``: ``(issuer, kid)`` of entries
  removed;
- ``types``: only when the new list describes its credential types otherwise than the base
  (:mod:`trust.trustlist.credential_types`; several kilobytes, seldom changed): the new
  description whole, or ``null`` for a list that describes none. Absent, the base's
  description carries over;
- ``to_hash``: SHA-256 of the new list's canonical bytes (its ETag). ``apply_delta`` rebuilds the
  list and refuses it unless it hashes to exactly that, so a partial, reordered or forged delta
  cannot produce a different list than the full one would have been.

The TUF rules of :func:`trust.trustlist.document.verify_trust_list` hold for the result: a
higher version than the base (§5.4.3), not expired (§5.4.4).

Deliberately not here: choosing between a delta and the full list, or fetching either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from trust.jws import KeyIndex, sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey
from trust.snapshot import TypeInfo
from trust.trustlist.credential_types import types_from_json, types_to_json
from trust.trustlist.document import (
    MAX_TRUST_LIST_ENTRIES,
    MAX_TRUST_LIST_TOKEN_LENGTH,
    TrustList,
    check_fresh,
)
from trust.trustlist.entry import TrustListEntry
from trust.trustlist.errors import DeltaError, TrustListError
from trust.trustlist.fields import MAX_SAFE_INT, Fields, is_int, show

DELTA_TYP = "trustlist-delta+jwt"
_HASH = re.compile(r"[0-9a-f]{64}")
_REQUIRED = frozenset(
    {
        "from_version", "from_hash", "to_version", "to_hash", "iat", "exp", "next_update",
        "issuer", "region", "upserts", "tombstones",
    }
)  # fmt: skip
_OPTIONAL = frozenset({"types"})


@dataclass(frozen=True)
class TrustListDelta:
    """The change from one trust list version to a later one."""

    from_version: int
    from_hash: str
    to_version: int
    to_hash: str
    iat: int
    exp: int
    next_update: int
    issuer: str
    region: str
    upserts: tuple[TrustListEntry, ...]
    tombstones: tuple[tuple[str, str], ...]
    types_changed: bool = False
    types: tuple[TypeInfo, ...] | None = None  # the new list's when changed, checked on rebuild

    def __post_init__(self) -> None:
        for name in ("from_version", "to_version", "iat", "exp", "next_update"):
            value = getattr(self, name)
            if not is_int(value) or not 0 <= value <= MAX_SAFE_INT:
                raise DeltaError(f"expected delta {name} to be an integer, found {show(value)}")
        if not 1 <= self.from_version < self.to_version:
            raise DeltaError(
                f"expected a delta to a later version, found {self.from_version} → "
                f"{self.to_version}"
            )
        for name in ("from_hash", "to_hash"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _HASH.fullmatch(value):
                raise DeltaError(
                    f"expected delta {name} to be 64 lowercase hex digits, found {show(value)}"
                )
        if len(self.upserts) + len(self.tombstones) > MAX_TRUST_LIST_ENTRIES:
            raise DeltaError(
                f"delta changes {len(self.upserts) + len(self.tombstones)} entries, at most "
                f"{MAX_TRUST_LIST_ENTRIES} allowed"
            )
        if self.types is not None and not self.types_changed:
            raise DeltaError(
                "expected types only in a delta that changes them, found types in one that keeps "
                "the base's description"
            )
        upserted = [e.entry_key for e in self.upserts]
        touched = set(upserted) | set(self.tombstones)
        if len(touched) != len(upserted) + len(self.tombstones):
            raise DeltaError(
                "expected each entry upserted or tombstoned at most once, found repeats"
            )

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "from_version": self.from_version,
            "from_hash": self.from_hash,
            "to_version": self.to_version,
            "to_hash": self.to_hash,
            "iat": self.iat,
            "exp": self.exp,
            "next_update": self.next_update,
            "issuer": self.issuer,
            "region": self.region,
            "upserts": [e.to_json() for e in self.upserts],
            "tombstones": [{"issuer": i, "kid": k} for i, k in self.tombstones],
        }
        if self.types_changed:
            body["types"] = None if self.types is None else types_to_json(self.types)
        return body

    @classmethod
    def from_json(cls, obj: object) -> TrustListDelta:
        f = Fields(
            obj, what="trust list delta", required=_REQUIRED, optional=_OPTIONAL, error=DeltaError
        )
        upserts = tuple(
            TrustListEntry.from_json(raw, where=f"delta upserts[{i}]")
            for i, raw in enumerate(f.items("upserts", max_items=MAX_TRUST_LIST_ENTRIES))
        )
        tombstones = []
        for i, raw in enumerate(f.items("tombstones", max_items=MAX_TRUST_LIST_ENTRIES)):
            t = Fields(
                raw,
                what=f"delta tombstones[{i}]",
                required=frozenset({"issuer", "kid"}),
                error=DeltaError,
            )
            tombstones.append((t.text("issuer"), t.text("kid")))
        return cls(
            from_version=f.integer("from_version", minimum=1),
            from_hash=f.text("from_hash", max_length=64),
            to_version=f.integer("to_version", minimum=1),
            to_hash=f.text("to_hash", max_length=64),
            iat=f.integer("iat"),
            exp=f.integer("exp"),
            next_update=f.integer("next_update"),
            issuer=f.text("issuer"),
            region=f.text("region"),
            upserts=upserts,
            tombstones=tuple(tombstones),
            types_changed=f.has("types"),
            types=(
                None
                if f.raw("types") is None
                else types_from_json(f.raw("types"), where="delta types", error=DeltaError)
            ),
        )


def delta(old: TrustList, new: TrustList) -> TrustListDelta:
    """What turns ``old`` into ``new`` (same compiler and region, later version)."""
    if (old.issuer, old.region) != (new.issuer, new.region):
        raise DeltaError(
            f"expected two lists of one compiler and region, found {show(old.issuer)} / "
            f"{show(old.region)} and {show(new.issuer)} / {show(new.region)}"
        )
    upserts = tuple(e for e in new.entries if old.entry(*e.entry_key) != e)
    tombstones = tuple(e.entry_key for e in old.entries if new.entry(*e.entry_key) is None)
    return TrustListDelta(
        from_version=old.version,
        from_hash=old.content_hash(),
        to_version=new.version,
        to_hash=new.content_hash(),
        iat=new.iat,
        exp=new.exp,
        next_update=new.next_update,
        issuer=new.issuer,
        region=new.region,
        upserts=upserts,
        tombstones=tombstones,
        types_changed=old.types != new.types,
        types=new.types if old.types != new.types else None,
    )


def sign_delta(d: TrustListDelta, key: SigningKey) -> str:
    """``d`` as a compact JWS, ``typ: trustlist-delta+jwt``."""
    token = sign_compact(d.to_json(), key, typ=DELTA_TYP)
    if len(token) > MAX_TRUST_LIST_TOKEN_LENGTH:
        raise DeltaError(
            f"delta token is {len(token)} characters, at most {MAX_TRUST_LIST_TOKEN_LENGTH} "
            "allowed: send the full list"
        )
    return token


def apply_delta(
    base: TrustList,
    delta_token: str,
    *,
    keys: Iterable[PublicKey],
    now: int,
    max_length: int = MAX_TRUST_LIST_TOKEN_LENGTH,
) -> TrustList:
    """The list ``delta_token`` makes of ``base``, verified whole, or an error.

    Raises :mod:`trust.jws` signature errors, :class:`DeltaError` (wrong base, unknown
    tombstone, result not matching ``to_hash``), :class:`TrustListError` (the result breaks a
    list invariant) and :class:`trust.trustlist.errors.TrustListExpired`.
    """
    if not isinstance(delta_token, str):
        raise DeltaError(f"expected a delta token as text, found {type(delta_token).__name__}")
    payload = verify_compact(delta_token, KeyIndex(keys), typ=DELTA_TYP, max_length=max_length)
    d = TrustListDelta.from_json(payload.payload)
    if (d.issuer, d.region) != (base.issuer, base.region):
        raise DeltaError(
            f"expected a delta of {show(base.issuer)} for region {show(base.region)}, found "
            f"{show(d.issuer)} for {show(d.region)}"
        )
    if d.from_version != base.version or d.from_hash != base.content_hash():
        raise DeltaError(
            f"expected a delta from version {base.version} (hash {base.content_hash()[:16]}…, "
            f"the list held), found one from version {d.from_version} (hash {d.from_hash[:16]}…)"
        )
    entries = {e.entry_key: e for e in base.entries}
    for key in d.tombstones:
        if entries.pop(key, None) is None:
            raise DeltaError(f"delta removes entry {show(key)}, which the list held does not have")
    entries.update((e.entry_key, e) for e in d.upserts)
    try:
        result = TrustList.build(
            version=d.to_version,
            iat=d.iat,
            exp=d.exp,
            next_update=d.next_update,
            issuer=d.issuer,
            region=d.region,
            entries=entries.values(),
            types=d.types if d.types_changed else base.types,
        )
    except TrustListError as exc:
        raise DeltaError(f"delta yields an invalid trust list: {exc}") from exc
    if result.content_hash() != d.to_hash:
        raise DeltaError(
            f"expected the delta to yield version {d.to_version} with hash {d.to_hash}, "
            f"found hash {result.content_hash()}"
        )
    check_fresh(result, now)  # §5.4.4
    return result
