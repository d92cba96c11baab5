"""The in-memory trust a verifier decides with: issuers, their keys, credential types.

A ``TrustSnapshot`` is immutable and built whole, then swapped in atomically by whoever holds it
(the gateway, a kiosk loading a trust file). The verify hot path reads it and nothing else.

This module defines the data and its invariants; it does not load, fetch or persist anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from trust.errors import DataError
from trust.keys import PublicKey

ISSUER_CHAIN_MAX = 8
# Bounds on how old status data behind a VALID may be (verify.freshness): whole seconds, at
# least 1 (0 would refuse every list), at most 31 days (the longest a status list lives).
MIN_STATUS_AGE = 1
MAX_STATUS_AGE = 31 * 86_400


def check_status_age_bound(value: object, *, what: str) -> int:
    """A configured bound on the age of status data (a type's, a role's): whole seconds from
    :data:`MIN_STATUS_AGE` to :data:`MAX_STATUS_AGE`; :class:`DataError` naming ``what``."""
    if type(value) is not int or not MIN_STATUS_AGE <= value <= MAX_STATUS_AGE:
        raise DataError(
            f"{what} must be whole seconds from {MIN_STATUS_AGE} to {MAX_STATUS_AGE} "
            f"(31 days), found {value!r}"
        )
    return value


@dataclass(frozen=True)
class ChainLink:
    """One step of an issuer's chain of trust, agency first: (name, role, id)."""

    name: str
    role: str  # "agency" | "city" | "region"
    id: str


@dataclass(frozen=True)
class IssuerRecord:
    """An issuing agency as verifiers know it.

    ``types`` are the types its own chain of trust authorises it to issue. ``accepted`` narrows
    them by the verifier's side: a region accepting only some of another region's types sets
    ``accepted`` and names the agreement in ``policy``. ``None`` accepts every authorised type.
    """

    id: str
    name: str
    uscc: str
    region_code: str
    types: frozenset[str]
    chain: tuple[ChainLink, ...] = ()
    accepted: frozenset[str] | None = None
    policy: str = ""
    expires_at: int | None = None  # when the trust data vouching for this issuer expires

    def __post_init__(self) -> None:
        if len(self.chain) > ISSUER_CHAIN_MAX:
            raise DataError(
                f"issuer chain has {len(self.chain)} links, at most {ISSUER_CHAIN_MAX} allowed"
            )


@dataclass(frozen=True)
class KeyRecord:
    """A credential-signing key, its owner and its life (all times are Unix seconds).

    - ``not_before``: the key was created; nothing it signed earlier is genuine.
    - ``retired_at``: the key stopped signing; what it signed before keeps verifying.
    - ``compromised_at``: from then on anyone may hold it. Because a thief can forge ``iat``,
      a token under a compromised key passes only if it is in ``confirmed_hashes``: the issuing
      gateway's own issuance record, which confirms the exact token (SHA-256) as issued before
      the compromise. Everyone else fails closed.
    """

    key: PublicKey
    issuer_id: str
    not_before: int
    retired_at: int | None = None
    compromised_at: int | None = None
    confirmed_hashes: frozenset[bytes] = field(default=frozenset(), repr=False)


class KeyWindow(Protocol):
    """When a key may sign: a :class:`KeyRecord` or a trust list entry."""

    @property
    def not_before(self) -> int: ...
    @property
    def retired_at(self) -> int | None: ...
    @property
    def compromised_at(self) -> int | None: ...


def may_sign_now(rec: KeyWindow, now: int) -> bool:
    """Whether a key may sign something made now (a status list): it exists, and is neither
    retired (it no longer signs) nor compromised (anyone may hold it)."""
    return rec.retired_at is None and rec.compromised_at is None and rec.not_before <= now


def signers_now(records: Iterable[KeyRecord], *, owner: str, now: int) -> dict[str, KeyRecord]:
    """The keys of ``owner`` that may sign something made now (:func:`may_sign_now`), by full
    ``kid``: who may sign a status list, and whether the signer of one held still may."""
    return {r.key.kid: r for r in records if r.issuer_id == owner and may_sign_now(r, now)}


@dataclass(frozen=True)
class FieldLabel:
    name: str
    zh: str
    en: str


@dataclass(frozen=True)
class TypeInfo:
    """What a verifier needs to know of a credential type to show it (no issuing rules)."""

    code: str
    qr_code: str
    type_code: str
    name_zh: str
    name_en: str
    labels: tuple[FieldLabel, ...]
    # A personal type (a resident e-ID …): its QR says the certificate exists and is current,
    # never who holds it; the holder proves that by presenting from a wallet.
    personal: bool = False
    # How old the status data behind a VALID may be, seconds (None: until the list's exp).
    max_status_age: int | None = None
    _by_name: Mapping[str, FieldLabel] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_status_age is not None:
            check_status_age_bound(self.max_status_age, what=f"type {self.code}: max_status_age")
        object.__setattr__(self, "_by_name", {f.name: f for f in self.labels})

    def label(self, name: str) -> FieldLabel:
        return self._by_name.get(name) or FieldLabel(name, name, name)


@dataclass(frozen=True)
class TrustSnapshot:
    """Issuers, keys and types a verifier trusts, with the snapshot's own freshness."""

    issuers: Mapping[str, IssuerRecord]
    keys: tuple[KeyRecord, ...]
    types: Mapping[str, TypeInfo]  # by qr_code
    as_of: int
    expires_at: int | None = None
    _by_kid: Mapping[str, tuple[KeyRecord, ...]] = field(default_factory=dict, repr=False)
    _keys_by_kid: Mapping[str, tuple[PublicKey, ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        *,
        issuers: Iterable[IssuerRecord],
        keys: Iterable[KeyRecord],
        types: Iterable[TypeInfo],
        as_of: int,
        expires_at: int | None = None,
    ) -> TrustSnapshot:
        issuer_map = {i.id: i for i in issuers}
        key_list = tuple(keys)
        for rec in key_list:
            if rec.issuer_id not in issuer_map:
                raise DataError(f"key {rec.key.kid} belongs to unknown issuer {rec.issuer_id!r}")
        by_kid: dict[str, list[KeyRecord]] = {}
        for rec in key_list:
            for hint in rec.key.kid_hints:
                by_kid.setdefault(hint, []).append(rec)
        type_map: dict[str, TypeInfo] = {}
        for t in types:
            if t.qr_code in type_map:
                raise DataError(f"two credential types share the QR code {t.qr_code!r}")
            type_map[t.qr_code] = t
        return cls(
            issuers=issuer_map,
            keys=key_list,
            types=type_map,
            as_of=as_of,
            expires_at=expires_at,
            _by_kid={k: tuple(v) for k, v in by_kid.items()},
            _keys_by_kid={k: tuple(r.key for r in v) for k, v in by_kid.items()},
        )

    def key_records(self, kid: str) -> tuple[KeyRecord, ...]:
        """Trusted key records a token's (untrusted) ``kid`` hint may name (``kid_hints``)."""
        return self._by_kid.get(kid, ())

    def public_keys(self, kid: str) -> tuple[PublicKey, ...]:
        return self._keys_by_kid.get(kid, ())

    def record_for(self, key: PublicKey) -> KeyRecord:
        """The record of a key this snapshot handed out (matched by identity, then equality)."""
        records = self._by_kid.get(key.kid, ())
        for record in records:
            if record.key is key:
                return record
        return next(r for r in records if r.key == key)
