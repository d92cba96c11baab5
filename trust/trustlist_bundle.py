"""Offline trust bundles: one file that lets an air-gapped kiosk verify with no network at all.

File format (JSON, at most 64 MiB)::

    {"format": "ecert-trust-bundle/1",
     "root": <SignedRoot, the newest>,
     "root_history": [<SignedRoot>, ...],      # older versions, so a kiosk pinned to any of
                                                # them can walk to "root" (TUF §5.3)
     "trust_list": "<trustlist+jwt compact JWS>",
     "status_lists": {"<uri>": "<statuslist+jwt compact JWS>", ...}}

``load_bundle`` verifies everything with what the kiosk already trusts:

1. the root: walked from the pinned root one version at a time (TUF §5.3.4-5.3.5), then checked
   for expiry (§5.3.10). Without a pinned root it refuses, unless the caller explicitly allows
   trust on first use; the root must then at least carry its own threshold of signatures;
2. the trust list: signed by a key of the root's ``trust_list`` role, for the root's region, not
   older than the list the kiosk held (§5.4.3; forgotten when the root rotated the trust list
   keys, §5.3.11), not expired (§5.4.4); the credential types it describes (names, field
   labels) are the ones the kiosk shows, so a kiosk needs no type files of its own;
3. each status list: signed by a current key (not retired, not compromised) of the agency whose
   entries list its URI (Token Status List §8.3). A list no entry names, or one that fails, is
   dropped and reported; the verifier then answers STATUS_UNAVAILABLE for the credentials it
   covers, never VALID.

Deliberately not here: reading or writing files (the caller hands over bytes), and remembering
the root and list for next time (the caller stores ``LoadedBundle.root`` and ``.trust_list``).
A caller that knows credential types besides (``types``) has them used for QR codes the list
does not describe, as for a list signed before lists described types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from trust.errors import DataError
from trust.peer_statuslists import PeerStatusLists
from trust.snapshot import TrustSnapshot, TypeInfo
from trust.statuslist import StatusSource
from trust.trustlist import MAX_TRUST_LIST_TOKEN_LENGTH, TrustList, verify_trust_list
from trust.trustlist_errors import BundleError, RollbackError, RootError, TrustListError
from trust.trustlist_json import Fields, load_json, show
from trust.trustlist_root import (
    MAX_ROOT_STEPS,
    RootMetadata,
    SignedRoot,
    check_root_fresh,
    load_initial_root,
    trust_list_signers_rotated,
    update_root,
)

BUNDLE_FORMAT = "ecert-trust-bundle/1"
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_BUNDLE_STATUS_LISTS = 10_000
_REQUIRED = frozenset({"format", "root", "root_history", "trust_list", "status_lists"})


@dataclass(frozen=True)
class DroppedStatusList:
    """A status list the bundle carried but the kiosk cannot use, and why."""

    uri: str
    reason: str


@dataclass(frozen=True)
class TrustBundle:
    """A bundle file's content, parsed but not yet verified."""

    root: SignedRoot
    root_history: tuple[SignedRoot, ...]
    trust_list: str
    status_lists: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": BUNDLE_FORMAT,
            "root": self.root.to_json(),
            "root_history": [r.to_json() for r in self.root_history],
            "trust_list": self.trust_list,
            "status_lists": dict(sorted(self.status_lists.items())),
        }

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes) -> TrustBundle:
        f = Fields(
            load_json(data, what="trust bundle", max_length=MAX_BUNDLE_BYTES, error=BundleError),
            what="trust bundle",
            required=_REQUIRED,
            error=BundleError,
        )
        if f.raw("format") != BUNDLE_FORMAT:
            raise f.fail("format", repr(BUNDLE_FORMAT))
        history = tuple(
            SignedRoot.from_json(raw) for raw in f.items("root_history", max_items=MAX_ROOT_STEPS)
        )
        raw_lists = f.mapping("status_lists", max_items=MAX_BUNDLE_STATUS_LISTS)
        if not all(isinstance(v, str) for v in raw_lists.values()):
            raise f.fail("status_lists", "an object of URI → status list token strings")
        return cls(
            root=SignedRoot.from_json(f.raw("root")),
            root_history=history,
            trust_list=f.text("trust_list", max_length=MAX_TRUST_LIST_TOKEN_LENGTH),
            status_lists={str(k): str(v) for k, v in raw_lists.items()},
        )


@dataclass(frozen=True)
class LoadedBundle:
    """What a verified bundle gives a kiosk: the snapshot and status lists to verify with,
    the root and list to remember (pin) for next time, and the status lists it dropped."""

    root: RootMetadata
    trust_list: TrustList
    snapshot: TrustSnapshot
    statuses: Mapping[str, StatusSource]
    dropped: tuple[DroppedStatusList, ...]


def _resolve_root(
    bundle: TrustBundle, pinned: RootMetadata | None, *, now: int, trust_on_first_use: bool
) -> RootMetadata:
    newest = bundle.root.root
    if pinned is None:
        if not trust_on_first_use:
            raise RootError(
                "expected a pinned root to check the bundle's root against, found none "
                "(trust on first use is off)"
            )
        root = load_initial_root(bundle.root)  # TUF §5.2, self-signed at least
    elif newest.version < pinned.version:
        raise RollbackError(
            f"expected a root of version {pinned.version} (the one pinned) or later, "
            f"found version {newest.version}"
        )
    elif newest.version == pinned.version:
        if newest.canonical_bytes() != pinned.canonical_bytes():
            raise RootError(
                f"bundle root version {newest.version} differs from the pinned root of the "
                "same version: expected identical content"
            )
        root = pinned
    else:
        candidates: dict[int, SignedRoot] = {newest.version: bundle.root}
        for signed in bundle.root_history:
            version = signed.root.version
            if version >= newest.version or version in candidates:
                raise BundleError(
                    f"expected root_history to hold distinct versions below the bundle's root "
                    f"version {newest.version}, found version {version} (again or later)"
                )
            candidates[version] = signed
        wanted = range(pinned.version + 1, newest.version + 1)
        if len(wanted) > MAX_ROOT_STEPS:  # checked first: a forged version may be huge
            raise RootError(
                f"expected at most {MAX_ROOT_STEPS} root versions between the pinned version "
                f"{pinned.version} and the bundle's, found {len(wanted)}"
            )
        missing = [v for v in wanted if v not in candidates]
        if missing:
            raise RootError(
                f"expected root versions {pinned.version + 1} to {newest.version} to walk from "
                f"the pinned root, found {show(missing)} missing"
            )
        root = update_root(pinned, candidates, now=now)  # §5.3.4-5.3.10
    check_root_fresh(root, now)  # §5.3.10
    return root


def _load_status_lists(
    bundle: TrustBundle, tl: TrustList, now: int
) -> tuple[dict[str, StatusSource], tuple[DroppedStatusList, ...]]:
    statuses: dict[str, StatusSource] = {}
    dropped: list[DroppedStatusList] = []
    accepted = PeerStatusLists()  # the gateway's rules: only a current key of the list's owner
    records = [e.to_key_record() for e in tl.entries]
    for uri, token in sorted(bundle.status_lists.items()):
        owner = tl.status_list_owner(uri)
        if owner is None:
            dropped.append(DroppedStatusList(uri, "no trust list entry names this status list"))
            continue
        try:
            held, _ = accepted.accept(uri, token, owner=owner, keys=records, now=now)
        except DataError as exc:
            dropped.append(DroppedStatusList(uri, f"{type(exc).__name__}: {exc}"))
            continue
        statuses[uri] = StatusSource(issuer_id=owner, snapshot=held.snapshot)
    return statuses, tuple(dropped)


def load_bundle(
    data: bytes,
    *,
    pinned_root: RootMetadata | None,
    now: int,
    types: Iterable[TypeInfo] = (),
    previous: TrustList | None = None,
    trust_on_first_use: bool = False,
) -> LoadedBundle:
    """Verify a bundle offline, from the pinned root down; see the module docstring.

    Raises :class:`trust.errors.DataError` subclasses only: :class:`BundleError`,
    :class:`RootError`, :class:`RollbackError`, :class:`TrustListExpired` (the root's or the
    list's: the kiosk answers TRUST_LIST_STALE), :class:`TrustListError` and :mod:`trust.jws`
    signature errors.
    """
    bundle = TrustBundle.from_bytes(data)
    root = _resolve_root(bundle, pinned_root, now=now, trust_on_first_use=trust_on_first_use)
    if (
        previous is not None
        and pinned_root is not None
        and trust_list_signers_rotated(pinned_root, root)
    ):
        previous = None  # TUF §5.3.11: recover from a fast-forward attack
    tl = verify_trust_list(bundle.trust_list, keys=root.trust_list_keys, now=now, previous=previous)
    if tl.region != root.region_id:
        raise TrustListError(
            f"expected a trust list for the root's region {show(root.region_id)}, "
            f"found one for {show(tl.region)}"
        )
    statuses, dropped = _load_status_lists(bundle, tl, now)
    return LoadedBundle(
        root=root,
        trust_list=tl,
        snapshot=tl.to_snapshot(types=types, now=now),
        statuses=statuses,
        dropped=dropped,
    )
