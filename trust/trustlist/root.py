"""Root metadata: the keys a region trusts to sign roots and trust lists, rotated TUF's way.

A root names its region, lists public keys by RFC 7638 ``kid``, and gives two roles:

- ``root``: the keys (and how many of them, ``threshold``) that must sign the next root;
- ``trust_list``: the keys allowed to sign trust lists and deltas. A compact JWS carries one
  signature, so its threshold is 1.

Wire form (``SignedRoot``), TUF style (TUF 1.0.30 §4.3, §4.2)::

    {"signed": {"_type": "ecert-root", "version": 2, "expires": 1800000000,
                "region": {"id": "cn-yrd", "name": "长三角"},
                "keys": {"<kid>": <public JWK>, ...},
                "roles": {"root": {"keyids": [...], "threshold": 2},
                          "trust_list": {"keyids": [...], "threshold": 1}}},
     "signatures": [{"kid": "<kid>", "sig": "<base64url raw ES256 R||S or Ed25519>"}]}

Each ``sig`` covers the canonical bytes of ``signed`` (UTF-8, sorted keys, no white space).
Counting a threshold counts distinct keys of the role whose signature verifies, never signatures
(python-tuf advisory GHSA-r7vq-6425-j94w: one key signing twice is one signature).

Updating (TUF 1.0.30 §5.3): version N+1 must be signed by a threshold of version N's root keys
AND a threshold of its own (§5.3.4), and be exactly N+1 (§5.3.5). Intermediate roots may have
expired (§5.3.6); only the newest one reached is checked against ``now`` (§5.3.10).

Deliberately not here: where roots come from (files, HTTP; the caller hands over bytes by
version), persisting the trusted root (the caller stores what ``update_root`` returns), signer
statements or delegations beyond the two roles, and consistent snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import orjson

from trust.encoding import b64url_decode, b64url_encode
from trust.errors import DataError
from trust.keys import PublicKey, SigningKey
from trust.trustlist.errors import RootError, RootExpired
from trust.trustlist.fields import (
    MAX_SAFE_INT,
    MAX_TEXT,
    Fields,
    canonical_json,
    is_int,
    load_json,
    public_key,
    show,
)

ROOT_TYPE = "ecert-root"
ROLE_ROOT = "root"
ROLE_TRUST_LIST = "trust_list"
MAX_ROOT_BYTES = 64 * 1024  # TUF §5.3.2: roots are downloaded "up to some W number of bytes"
MAX_ROOT_KEYS = 32
MAX_ROOT_SIGNATURES = 64
MAX_ROOT_STEPS = 32  # TUF §5.3.2: at most Y root versions walked in one update
_MAX_SIG_TEXT = 128  # base64url of a 64-byte signature is 86 characters
_SIGNED = frozenset({"_type", "version", "expires", "region", "keys", "roles"})


@dataclass(frozen=True)
class Role:
    """The keys that act for a role, and how many of them must sign."""

    keyids: frozenset[str]
    threshold: int

    def to_json(self) -> dict[str, Any]:
        return {"keyids": sorted(self.keyids), "threshold": self.threshold}

    @classmethod
    def from_json(cls, obj: object, *, what: str) -> Role:
        f = Fields(obj, what=what, required=frozenset({"keyids", "threshold"}), error=RootError)
        keyids = f.texts("keyids", max_items=MAX_ROOT_KEYS)
        return cls(keyids=frozenset(keyids), threshold=f.integer("threshold", minimum=1))


@dataclass(frozen=True)
class RootMetadata:
    """A region's root of trust. Build it whole; ``__post_init__`` checks every invariant."""

    version: int
    expires: int
    region_id: str
    region_name: str
    keys: Mapping[str, PublicKey]
    root_role: Role
    trust_list_role: Role

    def __post_init__(self) -> None:
        for name, lowest in (("version", 1), ("expires", 0)):
            value = getattr(self, name)
            if not is_int(value) or not lowest <= value <= MAX_SAFE_INT:
                raise RootError(
                    f"expected root {name} to be an integer from {lowest} to {MAX_SAFE_INT}, "
                    f"found {show(value)}"
                )
        for name in ("region_id", "region_name"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
                raise RootError(
                    f"expected root {name} to be a non-empty string, found {show(value)}"
                )
        # Frozen means frozen: the caller's dict cannot change the keys after they were checked.
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))
        if not 0 < len(self.keys) <= MAX_ROOT_KEYS:
            raise RootError(
                f"expected root to list 1 to {MAX_ROOT_KEYS} keys, found {len(self.keys)}"
            )
        for kid, key in self.keys.items():
            if key.kid != kid:
                raise RootError(
                    f"expected root key {show(kid)} to be listed by its thumbprint {key.kid}"
                )
        for name, role in ((ROLE_ROOT, self.root_role), (ROLE_TRUST_LIST, self.trust_list_role)):
            unknown = role.keyids - set(self.keys)
            if unknown:
                raise RootError(
                    f"expected root role {name} to use listed keys, found {sorted(unknown)}"
                )
            if not is_int(role.threshold) or not 1 <= role.threshold <= len(role.keyids):
                raise RootError(
                    f"expected root role {name} threshold from 1 to its {len(role.keyids)} "
                    f"keys, found {show(role.threshold)}"
                )
        # A compact JWS carries one signature: a trust list cannot meet a threshold above 1.
        if self.trust_list_role.threshold != 1:
            raise RootError(
                f"expected root role {ROLE_TRUST_LIST} threshold 1 (one JWS signature), found "
                f"{self.trust_list_role.threshold}"
            )

    @property
    def threshold(self) -> int:
        """How many root keys must sign the next root."""
        return self.root_role.threshold

    @property
    def trust_list_keys(self) -> tuple[PublicKey, ...]:
        """The keys allowed to sign trust lists and deltas."""
        return tuple(self.keys[k] for k in sorted(self.trust_list_role.keyids))

    def to_json(self) -> dict[str, Any]:
        return {
            "_type": ROOT_TYPE,
            "version": self.version,
            "expires": self.expires,
            "region": {"id": self.region_id, "name": self.region_name},
            "keys": {kid: dict(key.jwk) for kid, key in self.keys.items()},
            "roles": {
                ROLE_ROOT: self.root_role.to_json(),
                ROLE_TRUST_LIST: self.trust_list_role.to_json(),
            },
        }

    @classmethod
    def from_json(cls, obj: object) -> RootMetadata:
        f = Fields(obj, what="root", required=_SIGNED, error=RootError)
        if f.raw("_type") != ROOT_TYPE:
            raise f.fail("_type", repr(ROOT_TYPE))
        region = Fields(
            f.raw("region"), what="root region", required=frozenset({"id", "name"}), error=RootError
        )
        raw_keys = f.mapping("keys", max_items=MAX_ROOT_KEYS)
        keys = {
            kid: public_key(raw, kid=kid, what=f"root key {show(kid)}", error=RootError)
            for kid, raw in raw_keys.items()
        }
        roles = Fields(
            f.raw("roles"),
            what="root roles",
            required=frozenset({ROLE_ROOT, ROLE_TRUST_LIST}),
            error=RootError,
        )
        return cls(
            version=f.integer("version", minimum=1),
            expires=f.integer("expires"),
            region_id=region.text("id"),
            region_name=region.text("name"),
            keys=keys,
            root_role=Role.from_json(roles.raw(ROLE_ROOT), what="root role root"),
            trust_list_role=Role.from_json(roles.raw(ROLE_TRUST_LIST), what="root role trust_list"),
        )

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.to_json(), error=RootError)


@dataclass(frozen=True)
class RootSignature:
    kid: str
    sig: bytes


@dataclass(frozen=True)
class SignedRoot:
    """Root metadata with its signatures; ``signed_bytes`` are the canonical bytes they cover."""

    root: RootMetadata
    signatures: tuple[RootSignature, ...]
    signed_bytes: bytes

    @classmethod
    def sign(cls, root: RootMetadata, keys: Iterable[SigningKey]) -> SignedRoot:
        """Sign with each of ``keys``: for a rotation, a threshold of the old root keys and of
        the new ones (TUF §6.1)."""
        signed = root.canonical_bytes()
        sigs = tuple(RootSignature(kid=k.kid, sig=k.sign(signed)) for k in keys)
        return cls(root=root, signatures=sigs, signed_bytes=signed)

    def to_json(self) -> dict[str, Any]:
        return {
            "signed": orjson.loads(self.signed_bytes),
            "signatures": [{"kid": s.kid, "sig": b64url_encode(s.sig)} for s in self.signatures],
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def from_json(cls, obj: object) -> SignedRoot:
        f = Fields(
            obj, what="signed root", required=frozenset({"signed", "signatures"}), error=RootError
        )
        root = RootMetadata.from_json(f.raw("signed"))
        # The signatures cover the object as received, canonicalised (python-tuf does the same):
        # the strict parse above guarantees it holds nothing the model does not.
        signed_bytes = canonical_json(f.raw("signed"), error=RootError)
        sigs = []
        for i, raw in enumerate(f.items("signatures", max_items=MAX_ROOT_SIGNATURES)):
            s = Fields(
                raw,
                what=f"root signatures[{i}]",
                required=frozenset({"kid", "sig"}),
                error=RootError,
            )
            try:
                sig = b64url_decode(s.text("sig", max_length=_MAX_SIG_TEXT))
            except DataError as exc:
                raise RootError(f"expected root signatures[{i}] sig in base64url: {exc}") from exc
            sigs.append(RootSignature(kid=s.text("kid"), sig=sig))
        return cls(root=root, signatures=tuple(sigs), signed_bytes=signed_bytes)

    @classmethod
    def from_bytes(cls, data: bytes | str) -> SignedRoot:
        return cls.from_json(
            load_json(data, what="signed root", max_length=MAX_ROOT_BYTES, error=RootError)
        )

    def verified_kids(self, role: Role, keys: Mapping[str, PublicKey]) -> frozenset[str]:
        """The distinct keys of ``role`` (looked up in ``keys``) whose signature verifies."""
        verified: set[str] = set()
        for s in self.signatures:
            if s.kid in verified or s.kid not in role.keyids or s.kid not in keys:
                continue
            if keys[s.kid].verify(s.sig, self.signed_bytes):
                verified.add(s.kid)
        return frozenset(verified)

    def check_threshold(self, role: Role, keys: Mapping[str, PublicKey], *, whose: str) -> None:
        found = len(self.verified_kids(role, keys))
        if found < role.threshold:
            raise RootError(
                f"expected root version {self.root.version} signed by {role.threshold} of "
                f"{whose} root keys, found {found}"
            )


def _as_signed(new: bytes | str | SignedRoot) -> SignedRoot:
    return new if isinstance(new, SignedRoot) else SignedRoot.from_bytes(new)


def load_initial_root(signed: bytes | str | SignedRoot) -> RootMetadata:
    """The first root a verifier trusts, delivered out of band (TUF §5.2).

    Its own root role's threshold is still checked, so a damaged file shows; that is no defence
    against a substituted one: pin a root where you can. Expiry is not checked here (§5.2):
    :func:`update_root` checks it after walking to the newest version.
    """
    s = _as_signed(signed)
    s.check_threshold(s.root.root_role, s.root.keys, whose="its own")
    return s.root


def _step(trusted: RootMetadata, new: SignedRoot) -> RootMetadata:
    # §5.3.4: a threshold of the trusted root's keys AND of the new root's own keys.
    new.check_threshold(
        trusted.root_role, trusted.keys, whose=f"the trusted version {trusted.version}'s"
    )
    new.check_threshold(new.root.root_role, new.root.keys, whose="its own")
    # §5.3.5: exactly N+1 (a rollback, or a skipped version, breaks the line of continuity).
    if new.root.version != trusted.version + 1:
        raise RootError(
            f"expected root version {trusted.version + 1} after {trusted.version}, "
            f"found {new.root.version}"
        )
    if new.root.region_id != trusted.region_id:
        raise RootError(
            f"expected a root for region {show(trusted.region_id)}, "
            f"found {show(new.root.region_id)}"
        )
    # §5.3.6: an intermediate root's expiry does not matter yet.
    return new.root


def check_root_fresh(root: RootMetadata, now: int) -> None:
    """TUF §5.3.10: the newest trusted root must not have expired (freeze attack)."""
    if now >= root.expires:
        raise RootExpired(
            f"root version {root.version} of {show(root.region_id)} expired at {root.expires}, "
            f"now is {now}: expected a newer root"
        )


def verify_root_update(
    trusted: RootMetadata, new_bytes: bytes | str | SignedRoot, *, now: int
) -> RootMetadata:
    """One rotation step, N → N+1, then the freeze check on N+1."""
    new = _step(trusted, _as_signed(new_bytes))
    check_root_fresh(new, now)
    return new


def update_root(
    trusted: RootMetadata,
    candidates_by_version: Mapping[int, bytes | str | SignedRoot],
    *,
    now: int,
    max_steps: int = MAX_ROOT_STEPS,
) -> RootMetadata:
    """Walk N+1, N+2 … while a candidate exists (at most ``max_steps``), then check expiry.

    Any step that fails aborts the whole update (§5.3.4, §5.3.5): the caller keeps ``trusted``.
    """
    current = trusted
    for _ in range(max_steps):  # §5.3.9: repeat
        candidate = candidates_by_version.get(current.version + 1)
        if candidate is None:
            break
        current = _step(current, _as_signed(candidate))
    check_root_fresh(current, now)  # §5.3.10
    return current


def trust_list_signers_rotated(old: RootMetadata, new: RootMetadata) -> bool:
    """TUF §5.3.11: when the trust list keys change, drop the trust list held, so that a list
    pushed to a huge version by a stolen key (fast-forward attack) cannot block real ones."""
    return old.trust_list_role.keyids != new.trust_list_role.keyids
