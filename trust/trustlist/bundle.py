"""Offline trust bundles: one file that lets an air-gapped kiosk verify with no network at all.

File format (JSON, at most 64 MiB)::

    {"format": "ecert-trust-bundle/1",
     "root": <SignedRoot, the newest>,
     "root_history": [<SignedRoot>, ...],      # older versions, so a kiosk pinned to any of
                                                # them can walk to "root" (TUF §5.3)
     "trust_list": "<trustlist+jwt compact JWS>",
     "status_lists": {"<uri>": "<statuslist+jwt compact JWS>", ...}}

``load_bundle`` verifies everything with what the kiosk already trusts, through one
:class:`trust.trusted_state.TrustedState` (the rules live there, not here):

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
from trust.snapshot import TrustSnapshot, TypeInfo
from trust.statuslist import StatusSource
from trust.trusted_state import TrustedState
from trust.trustlist.document import MAX_TRUST_LIST_TOKEN_LENGTH, TrustList
from trust.trustlist.errors import BundleError, RootError
from trust.trustlist.fields import Fields, load_json
from trust.trustlist.root import MAX_ROOT_STEPS, RootMetadata, SignedRoot

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


def _check_history(bundle: TrustBundle) -> None:
    """The file's own shape: distinct root versions below the bundle's root."""
    newest = bundle.root.root.version
    seen: set[int] = set()
    for signed in bundle.root_history:
        version = signed.root.version
        if version >= newest or version in seen:
            raise BundleError(
                f"expected root_history to hold distinct versions below the bundle's root "
                f"version {newest}, found version {version} (again or later)"
            )
        seen.add(version)


def _trusted_state(
    bundle: TrustBundle,
    pinned: RootMetadata | None,
    previous: TrustList | None,
    *,
    now: int,
    trust_on_first_use: bool,
) -> TrustedState:
    if pinned is None:
        if not trust_on_first_use:
            raise RootError(
                "expected a pinned root to check the bundle's root against, found none "
                "(trust on first use is off)"
            )
        return TrustedState.from_root(bundle.root, trust_list=previous)  # TUF §5.2
    state = TrustedState(pinned, trust_list=previous)
    state.update_root(bundle.root, history=bundle.root_history, now=now, source="the bundle's")
    return state


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
    _check_history(bundle)
    state = _trusted_state(
        bundle, pinned_root, previous, now=now, trust_on_first_use=trust_on_first_use
    )
    state.update_trust_list(bundle.trust_list, now=now)
    dropped: list[DroppedStatusList] = []
    for uri, token in sorted(bundle.status_lists.items()):
        try:
            state.update_status_list(uri, token, now=now)
        except DataError as exc:  # the verifier answers STATUS_UNAVAILABLE for its credentials
            dropped.append(DroppedStatusList(uri, f"{type(exc).__name__}: {exc}"))
    tl = state.trust_list
    assert tl is not None  # update_trust_list returned: a list is held
    return LoadedBundle(
        root=state.root,
        trust_list=tl,
        snapshot=state.snapshot(types=types, now=now),
        statuses=state.statuses(now=now),
        dropped=tuple(dropped),
    )
