"""One trusted state for peers' data: the root, the trust list and the status lists it names.

A :class:`TrustedState` holds what was accepted, with what it needs to judge the next thing
offered, and enforces every rule on its way in (the model is python-tuf's
``ngclient/_internal/trusted_metadata_set.py``). Each ``update_*`` takes bytes and ``now``;
a refused update raises and leaves what was held before untouched.

- Root (TUF 1.0.30 §5.3): held from the caller's pinned (or own) root; a newer one is taken
  only by walking N+1, N+2 … each signed by a threshold of the old root's keys and of its own
  (§5.3.4-5.3.5, :func:`trust.trustlist.root.update_root`), at most ``MAX_ROOT_STEPS`` at a
  time; an older version is a rollback; the same version must be the same content; the newest
  must not have expired (§5.3.10). When the trust list signers change, the list held is
  forgotten (§5.3.11, fast-forward attack recovery).
- Trust list (§5.4): signed by a key of the held root's ``trust_list`` role, for the root's
  region, never an older version than the one held nor the same version with other content,
  not expired (:func:`trust.trustlist.document.verify_trust_list`).
- Status lists (Token Status List §8.3): the owner is whoever the held trust list says lists
  the URI, the signer one of that owner's keys that may sign now
  (:func:`trust.snapshot.signers_now`), never an older ``iat`` than the list held
  (:class:`trust.peer_statuslists.PeerStatusLists`, which this state owns).

Nothing is verified again that has not changed: the same trust list token, the same root
content and the same status list token are compared, not verified. :attr:`verifications`
counts the documents whose signatures were checked.

Deliberately not here: fetching, reading or writing anything (callers load bytes, call an
update, then store what is held), choosing which documents are due, credential verification
(:mod:`verify`), and the gateway's own issuers (the gateway merges them into its snapshot).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from trust.errors import StatusListError
from trust.peer_statuslists import HeldStatusList, PeerStatusLists
from trust.snapshot import KeyRecord, TrustSnapshot, TypeInfo
from trust.statuslist import StatusSource
from trust.trustlist.document import TrustList, verify_trust_list
from trust.trustlist.errors import RollbackError, RootError, TrustListError
from trust.trustlist.fields import show
from trust.trustlist.root import (
    MAX_ROOT_STEPS,
    RootMetadata,
    SignedRoot,
    check_root_fresh,
    load_initial_root,
    trust_list_signers_rotated,
    update_root,
)

RootInput = bytes | str | SignedRoot


def _signed(data: RootInput) -> SignedRoot:
    return data if isinstance(data, SignedRoot) else SignedRoot.from_bytes(data)


class TrustedState:
    """The root, trust list and status lists accepted so far; see the module docstring.

    ``__init__`` takes a root the caller already trusts (pinned, or its own) and, optionally,
    the trust list it accepted under that root last time (the floor for rollbacks).
    """

    def __init__(self, root: RootMetadata, *, trust_list: TrustList | None = None) -> None:
        self._root = root
        self._trust_list = trust_list
        self._token: str | None = None  # the token ``_trust_list`` was verified from, if any
        self._records: tuple[KeyRecord, ...] = ()
        self._uri_owner: dict[str, str] = {}
        self._statuses = PeerStatusLists()
        self._verified = 0
        self._lock = threading.RLock()
        if trust_list is not None:
            self._hold_list(trust_list, None)

    @classmethod
    def from_root(cls, signed: RootInput, *, trust_list: TrustList | None = None) -> TrustedState:
        """Start from a signed root delivered out of band (TUF §5.2): the caller's own, or one
        taken on first use. Its own threshold is checked, so a damaged file shows."""
        state = cls(load_initial_root(signed), trust_list=trust_list)
        state._verified = 1
        return state

    # --- reading ----------------------------------------------------------------------------

    @property
    def root(self) -> RootMetadata:
        return self._root

    @property
    def trust_list(self) -> TrustList | None:
        """The trust list held (it may have expired since: see :meth:`snapshot`)."""
        return self._trust_list

    @property
    def expires_at(self) -> int:
        """When what is held stops vouching for anyone: the earlier of the root's and the
        trust list's expiry (past it the verifier answers TRUST_LIST_STALE)."""
        tl = self._trust_list
        return self._root.expires if tl is None else min(self._root.expires, tl.exp)

    @property
    def verifications(self) -> int:
        """Documents (roots, trust lists, status lists) whose signatures were checked."""
        return self._verified + self._statuses.verifications

    def status_list(self, uri: str, *, now: int) -> HeldStatusList | None:
        """The status list held for ``uri`` if it is still good now (its owner still lists it,
        its signer still may sign, it has not expired), without verifying it again."""
        owner = self._uri_owner.get(uri)
        if owner is None:
            return None
        return self._statuses.current(uri, owner=owner, keys=self._records, now=now)

    def statuses(self, *, now: int) -> dict[str, StatusSource]:
        """Every status list held that is still good now, as the verifier takes them."""
        found = {}
        for uri, owner in sorted(self._uri_owner.items()):
            held = self._statuses.current(uri, owner=owner, keys=self._records, now=now)
            if held is not None:
                found[uri] = StatusSource(issuer_id=owner, snapshot=held.snapshot)
        return found

    def snapshot(self, *, types: Iterable[TypeInfo], now: int) -> TrustSnapshot:
        """The verifier's view of the trust list held. Raises :class:`RootExpired` or
        :class:`TrustListExpired` past either's expiry, :class:`TrustListError` when no list
        is held."""
        check_root_fresh(self._root, now)  # TUF §5.3.10
        tl = self._trust_list
        if tl is None:
            raise TrustListError(
                f"expected a trust list accepted under root version {self._root.version} of "
                f"{show(self._root.region_id)}, found none"
            )
        return tl.to_snapshot(types=types, now=now)

    # --- root -------------------------------------------------------------------------------

    def update_root(
        self,
        newest: RootInput,
        *,
        now: int,
        history: Iterable[RootInput] = (),
        source: str = "the root offered",
    ) -> bool:
        """Walk from the root held to ``newest`` through the versions between, taken from
        ``history`` (any order; versions outside the walk are passed over). Returns whether
        the root changed. ``source`` names where ``newest`` came from, for messages.

        Raises :class:`RollbackError` (older than held), :class:`RootError` (same version,
        other content; too far; a version missing; a step not signed by both thresholds;
        another region) and :class:`RootExpired` (§5.3.10).
        """
        new = _signed(newest)
        with self._lock:
            held = self._root
            version = new.root.version
            if version < held.version:
                raise RollbackError(
                    f"expected a root of version {held.version} (the one pinned) or later, "
                    f"found version {version} from {source}"
                )
            if version == held.version:
                if new.root.canonical_bytes() != held.canonical_bytes():
                    raise RootError(
                        f"root version {version} from {source} differs from the pinned root "
                        "of the same version: expected identical content"
                    )
                check_root_fresh(held, now)
                return False
            span = version - held.version
            if span > MAX_ROOT_STEPS:  # checked first: a forged version may be huge
                raise RootError(
                    f"expected at most {MAX_ROOT_STEPS} root versions between the pinned "
                    f"version {held.version} and {source}, found {span}"
                )
            walk = self._walk(held, new, history)
            root = update_root(held, walk, now=now)  # §5.3.4-5.3.10; all or nothing
            self._verified += span
            self._root = root
            if trust_list_signers_rotated(held, root):  # §5.3.11
                self._forget_list()
            return True

    @staticmethod
    def _walk(
        held: RootMetadata, new: SignedRoot, history: Iterable[RootInput]
    ) -> dict[int, SignedRoot]:
        version = new.root.version
        walk = {version: new}
        for item in history:
            signed = _signed(item)
            v = signed.root.version
            if not held.version < v < version:
                continue
            if v in walk and walk[v].signed_bytes != signed.signed_bytes:
                raise RootError(
                    f"expected one root of version {v} to walk through, found two that differ"
                )
            walk[v] = signed
        missing = [v for v in range(held.version + 1, version) if v not in walk]
        if missing:
            raise RootError(
                f"expected root versions {held.version + 1} to {version} to walk from the "
                f"pinned root, found {show(missing)} missing"
            )
        return walk

    # --- trust list -------------------------------------------------------------------------

    def update_trust_list(self, token: str, *, now: int) -> bool:
        """Accept ``token`` as the trust list; returns whether the list held changed.

        The token held is not verified again (a compare); anything else is verified with the
        held root's ``trust_list`` keys. Raises :class:`RootExpired`, :mod:`trust.jws`
        signature errors, :class:`TrustListError` (bad content, another region),
        :class:`RollbackError` (§5.4.3) and :class:`TrustListExpired` (§5.4.4).
        """
        with self._lock:
            root = self._root
            check_root_fresh(root, now)  # §5.3.10: an expired root vouches for nothing new
            if self._token is not None and token == self._token:
                return False
            previous = self._trust_list
            self._verified += 1
            tl = verify_trust_list(token, keys=root.trust_list_keys, now=now, previous=previous)
            if tl.region != root.region_id:
                raise TrustListError(
                    f"expected a trust list for the root's region {show(root.region_id)}, "
                    f"found one for {show(tl.region)}"
                )
            self._hold_list(tl, token)
            return previous is None or tl.canonical_bytes() != previous.canonical_bytes()

    def _hold_list(self, tl: TrustList, token: str | None) -> None:
        self._trust_list, self._token = tl, token
        self._records = tuple(e.to_key_record() for e in tl.entries)
        self._uri_owner = {uri: e.issuer for e in tl.entries for uri in e.status_lists}
        self._statuses.forget(keep=self._uri_owner)  # an issuer left: its lists go with it

    def _forget_list(self) -> None:
        self._trust_list, self._token = None, None
        self._records, self._uri_owner = (), {}

    # --- status lists -----------------------------------------------------------------------

    def update_status_list(self, uri: str, token: str, *, now: int) -> tuple[HeldStatusList, bool]:
        """Accept ``token`` as the status list at ``uri``: the list now held, and whether it
        changed. Raises :class:`StatusListError` when the trust list held names no owner for
        ``uri``, and what :meth:`PeerStatusLists.accept` raises (signature, claims, expiry,
        replay)."""
        with self._lock:
            owner = self._uri_owner.get(uri)
            if owner is None:
                tl = self._trust_list
                held = "no trust list held" if tl is None else f"trust list version {tl.version}"
                raise StatusListError(
                    f"expected status list {uri} to be named by an issuer of the trust list "
                    f"held, found no trust list entry names it ({held})"
                )
            return self._statuses.accept(uri, token, owner=owner, keys=self._records, now=now)

    def status_list_owners(self) -> Mapping[str, str]:
        """Status list URIs the trust list held names, with the issuer that owns each."""
        return dict(self._uri_owner)
