"""The signed, versioned trust list verifiers decide with, and the TUF rules for accepting one.

A gateway compiles, from verified chains only, a ``TrustList``: a monotonic ``version``, ``iat``,
``exp`` (no later than the earliest chain expiry of any entry), ``next_update``, the compiling
gateway's entity id (``issuer``), the ``region`` whose acceptance policy it reflects, one
:class:`trust.trustlist.entry.TrustListEntry` per issuing key, and (optional: lists signed before
it existed lack it) ``types``, the names and field labels of the credential types those issuers
may issue (:mod:`trust.trustlist.credential_types`), so a verifier shows what the issuing
region calls them. It travels as a compact JWS (``typ: trustlist+jwt``) signed by a key of the
root's ``trust_list`` role.

``verify_trust_list`` applies the TUF client rules (TUF 1.0.30 §5.4, there for timestamp
metadata, which plays the same part):
- signature by a trusted key (§5.4.2, arbitrary software attack);
- never a lower version than the one held; the same version must be the same content
  (§5.4.3, rollback attack);
- never past ``exp`` (§5.4.4, freeze attack): :class:`TrustListExpired`, so the verifier answers
  TRUST_LIST_STALE rather than guessing.

``TrustList.canonical_bytes`` (sorted keys, no white space) identifies a list's content: its
SHA-256 is the strong ETag for HTTP ``If-None-Match`` and the ``to_hash`` a delta must reproduce.

Deliberately not here: compiling a list from federation chains, fetching, caching or storing it
(the caller keeps the last good list and passes it as ``previous``), root metadata
(:mod:`trust.trustlist.root`), deltas (:mod:`trust.trustlist.delta`) and offline bundles
(:mod:`trust.trustlist.bundle`).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from trust.errors import DataError
from trust.jws import KeyIndex, _unverified_header, sign_compact, verify_compact
from trust.keys import PublicKey, SigningKey
from trust.snapshot import TrustSnapshot, TypeInfo
from trust.trustlist.credential_types import check_types, types_from_json, types_to_json
from trust.trustlist.entry import TrustListEntry
from trust.trustlist.errors import RollbackError, TrustListError, TrustListExpired
from trust.trustlist.fields import MAX_SAFE_INT, MAX_TEXT, Fields, canonical_json, is_int, show

TRUST_LIST_TYP = "trustlist+jwt"
MAX_TRUST_LIST_ENTRIES = 100_000
MAX_TRUST_LIST_TOKEN_LENGTH = 32 * 1024 * 1024  # characters
_REQUIRED = frozenset({"version", "iat", "exp", "next_update", "issuer", "region", "entries"})
_OPTIONAL = frozenset({"types"})  # absent: a list from before types were described


@dataclass(frozen=True)
class TrustList:
    """A trust list's content. Entries are sorted by ``(issuer, kid)`` and types by ``code``;
    use :meth:`build`. ``types`` is ``None`` for a list that does not describe its types."""

    version: int
    iat: int
    exp: int
    next_update: int
    issuer: str
    region: str
    entries: tuple[TrustListEntry, ...]
    types: tuple[TypeInfo, ...] | None = None
    _by_key: Mapping[tuple[str, str], TrustListEntry] = field(init=False, repr=False, compare=False)
    _by_issuer: Mapping[str, tuple[TrustListEntry, ...]] = field(
        init=False, repr=False, compare=False
    )
    _uri_owner: Mapping[str, str] = field(init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        *,
        version: int,
        iat: int,
        exp: int,
        next_update: int,
        issuer: str,
        region: str,
        entries: Iterable[TrustListEntry],
        types: Iterable[TypeInfo] | None = None,
    ) -> TrustList:
        """A list with its entries and types put in canonical order."""
        ordered = sorted(entries, key=lambda e: e.entry_key)
        described = None if types is None else tuple(sorted(types, key=lambda t: t.code))
        return cls(version, iat, exp, next_update, issuer, region, tuple(ordered), described)

    def __post_init__(self) -> None:
        for name in ("version", "iat", "exp", "next_update"):
            value = getattr(self, name)
            lowest = 1 if name == "version" else 0
            if not is_int(value) or not lowest <= value <= MAX_SAFE_INT:
                raise TrustListError(
                    f"expected trust list {name} to be an integer from {lowest} to "
                    f"{MAX_SAFE_INT}, found {show(value)}"
                )
        if not self.iat <= self.next_update <= self.exp or self.iat >= self.exp:
            raise TrustListError(
                f"expected trust list iat < exp with next_update between them, found iat "
                f"{self.iat}, next_update {self.next_update}, exp {self.exp}"
            )
        for name in ("issuer", "region"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
                raise TrustListError(
                    f"expected trust list {name} to be a non-empty string of at most {MAX_TEXT} "
                    f"characters, found {show(value)}"
                )
        if len(self.entries) > MAX_TRUST_LIST_ENTRIES:
            raise TrustListError(
                f"trust list has {len(self.entries)} entries, at most "
                f"{MAX_TRUST_LIST_ENTRIES} allowed"
            )
        self._check_entries()
        if self.types is not None:
            check_types(self.types, issued=frozenset().union(*(e.types for e in self.entries)))

    def _check_entries(self) -> None:
        by_key: dict[tuple[str, str], TrustListEntry] = {}
        by_issuer: dict[str, list[TrustListEntry]] = {}
        kid_owner: dict[str, str] = {}
        issuer_fields: dict[str, tuple[object, ...]] = {}
        uri_owner: dict[str, str] = {}
        previous: tuple[str, str] | None = None
        for entry in self.entries:
            key = entry.entry_key
            if previous is not None and key <= previous:
                raise TrustListError(
                    f"expected trust list entries sorted by (issuer, kid) without duplicates, "
                    f"found {show(key)} after {show(previous)}"
                )
            previous = key
            by_key[key] = entry
            by_issuer.setdefault(entry.issuer, []).append(entry)
            # A key has one owner: the verifier maps a kid to exactly one issuer.
            owner = kid_owner.setdefault(entry.kid, entry.issuer)
            if owner != entry.issuer:
                raise TrustListError(
                    f"expected key {entry.kid} to belong to one issuer, found {show(owner)} "
                    f"and {show(entry.issuer)}"
                )
            fields = issuer_fields.setdefault(entry.issuer, entry.issuer_fields())
            if fields != entry.issuer_fields():
                raise TrustListError(
                    f"expected every entry of issuer {show(entry.issuer)} to carry the same "
                    f"name, chain, types, acceptance and status lists, found two that differ"
                )
            for uri in entry.status_lists:
                if uri_owner.setdefault(uri, entry.issuer) != entry.issuer:
                    raise TrustListError(
                        f"expected status list {show(uri)} to belong to one issuer, found "
                        f"{show(uri_owner[uri])} and {show(entry.issuer)}"
                    )
            # The list must not outlive the chains it was compiled from.
            if self.exp > entry.chain_exp:
                raise TrustListError(
                    f"expected trust list exp no later than the earliest chain expiry "
                    f"{entry.chain_exp} (issuer {show(entry.issuer)}), found {self.exp}"
                )
        object.__setattr__(self, "_by_key", by_key)
        object.__setattr__(self, "_by_issuer", {k: tuple(v) for k, v in by_issuer.items()})
        object.__setattr__(self, "_uri_owner", uri_owner)

    # --- reading ----------------------------------------------------------------------------

    def entry(self, issuer: str, kid: str) -> TrustListEntry | None:
        return self._by_key.get((issuer, kid))

    def status_list_owner(self, uri: str) -> str | None:
        """The issuer whose entries list the status list ``uri``."""
        return self._uri_owner.get(uri)

    def entries_of(self, issuer: str) -> tuple[TrustListEntry, ...]:
        """Every entry (one per key) of ``issuer``."""
        return self._by_issuer.get(issuer, ())

    # --- wire form and identity -------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "version": self.version,
            "iat": self.iat,
            "exp": self.exp,
            "next_update": self.next_update,
            "issuer": self.issuer,
            "region": self.region,
            "entries": [e.to_json() for e in self.entries],
        }
        if self.types is not None:  # absent, not null: an older list keeps its bytes and hash
            body["types"] = types_to_json(self.types)
        return body

    @classmethod
    def from_json(cls, obj: object) -> TrustList:
        f = Fields(obj, what="trust list", required=_REQUIRED, optional=_OPTIONAL)
        raw_entries = f.items("entries", max_items=MAX_TRUST_LIST_ENTRIES)
        entries = [
            TrustListEntry.from_json(raw, where=f"trust list entries[{i}]")
            for i, raw in enumerate(raw_entries)
        ]
        keys = [e.entry_key for e in entries]
        if len(set(keys)) != len(keys):
            raise TrustListError(
                "expected trust list entries unique by (issuer, kid), found repeats"
            )
        return cls.build(
            version=f.integer("version", minimum=1),
            iat=f.integer("iat"),
            exp=f.integer("exp"),
            next_update=f.integer("next_update"),
            issuer=f.text("issuer"),
            region=f.text("region"),
            entries=entries,
            types=types_from_json(f.raw("types")) if f.has("types") else None,
        )

    def canonical_bytes(self) -> bytes:
        """The list's content as canonical JSON: what its hash and ETag identify."""
        return self._canonical

    @functools.cached_property
    def _canonical(self) -> bytes:  # computed once: a list may hold 100,000 entries
        return canonical_json(self.to_json())

    def content_hash(self) -> str:
        """SHA-256 of :meth:`canonical_bytes`, lowercase hex."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def etag(self) -> str:
        """A strong ETag (RFC 9110 §8.8.3), quoted, for ``ETag`` / ``If-None-Match``."""
        return f'"sha256-{self.content_hash()}"'

    # --- use --------------------------------------------------------------------------------

    def to_snapshot(self, *, types: Iterable[TypeInfo] = (), now: int) -> TrustSnapshot:
        """The verifier's view: issuers with their acceptance policy, keys with their life, and
        the credential types the list describes; ``types`` are ones the caller knows besides,
        used for QR codes the list does not describe (the signed description wins).

        Refuses a list already past ``exp`` at ``now`` (TUF §5.4.4). A snapshot built earlier
        carries ``expires_at=exp``, so the verifier answers TRUST_LIST_STALE once it expires.
        """
        check_fresh(self, now)
        issuers = {e.issuer: e.to_issuer_record() for e in self.entries}
        described = self.types or ()
        listed = {t.qr_code for t in described}
        return TrustSnapshot.build(
            issuers=issuers.values(),
            keys=[e.to_key_record() for e in self.entries],
            types=[*described, *(t for t in types if t.qr_code not in listed)],
            as_of=self.iat,
            expires_at=self.exp,
        )


def check_fresh(tl: TrustList, now: int) -> None:
    """TUF §5.4.4: a list past its ``exp`` is never used (freeze attack)."""
    if now >= tl.exp:
        raise TrustListExpired(
            f"trust list version {tl.version} from {show(tl.issuer)} expired at {tl.exp}, "
            f"now is {now}: expected a list whose exp is after now"
        )


def sign_trust_list(tl: TrustList, key: SigningKey) -> str:
    """``tl`` as a compact JWS, ``typ: trustlist+jwt``, signed by ``key``."""
    token = sign_compact(tl.to_json(), key, typ=TRUST_LIST_TYP)
    if len(token) > MAX_TRUST_LIST_TOKEN_LENGTH:
        raise TrustListError(
            f"trust list token is {len(token)} characters, verifiers accept at most "
            f"{MAX_TRUST_LIST_TOKEN_LENGTH}"
        )
    return token


def unverified_signer_kid(token: str) -> str | None:
    """The ``kid`` a trust list token's header names, NOT verified: for its signer to tell
    whether the list must be signed again with the key it signs with now (after a rotation,
    TUF §6.1), never for deciding trust."""
    try:
        kid = _unverified_header(token.split(".", 1)[0]).get("kid")
    except DataError:
        return None
    return kid if isinstance(kid, str) else None


def check_succession(new: TrustList, previous: TrustList | None) -> None:
    """TUF §5.4.3: ``new`` may replace ``previous`` only at a higher version, or the same
    version with byte-identical content. Lists of another compiler or region are not
    comparable: the caller must drop ``previous`` explicitly to switch."""
    if previous is None:
        return
    if (new.issuer, new.region) != (previous.issuer, previous.region):
        raise TrustListError(
            f"expected a trust list from {show(previous.issuer)} for region "
            f"{show(previous.region)} (as the one held), found {show(new.issuer)} for "
            f"{show(new.region)}"
        )
    if new.version < previous.version:
        raise RollbackError(
            f"expected trust list version {previous.version} or later, found {new.version}"
        )
    if new.version == previous.version and new.canonical_bytes() != previous.canonical_bytes():
        raise RollbackError(
            f"trust list version {new.version} differs from the version {previous.version} "
            f"already held: expected identical content at an equal version"
        )


def verify_trust_list(
    token: str,
    *,
    keys: Iterable[PublicKey],
    now: int,
    previous: TrustList | None,
    max_length: int = MAX_TRUST_LIST_TOKEN_LENGTH,
) -> TrustList:
    """Verify a signed trust list against trusted signer ``keys`` and the list held.

    Raises :class:`trust.jws` signature errors, :class:`TrustListError` for bad content,
    :class:`RollbackError` (§5.4.3) and :class:`TrustListExpired` (§5.4.4), in that order.
    """
    if not isinstance(token, str):
        raise TrustListError(f"expected a trust list token as text, found {type(token).__name__}")
    # §5.4.2: signed by a key of the trust_list role (arbitrary software attack).
    payload = verify_compact(token, KeyIndex(keys), typ=TRUST_LIST_TYP, max_length=max_length)
    tl = TrustList.from_json(payload.payload)
    check_succession(tl, previous)
    check_fresh(tl, now)
    return tl
