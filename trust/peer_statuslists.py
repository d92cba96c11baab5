"""Other issuers' status lists, accepted under one set of rules and verified once.

Every place that takes a status list from a peer (the gateway's state load, its refresh loop,
a kiosk's bundle) asks :class:`trust.trusted_state.TrustedState`, which names the owner from the
trust list it verified and keeps one :class:`PeerStatusLists`; that enforces, given bytes and
``now``:

- the token is a Token Status List for the URI it was fetched for, signed by a key of the
  list's owner that may sign now (not retired, not compromised:
  :func:`trust.snapshot.signers_now`), and unexpired
  (``trust.statuslist.verify_status_list_token``);
- a list never replaces a newer one held (a replay of a list signed before a revocation
  would undo it): a lower ``iat`` is refused;
- a token already accepted is not verified again: it stays current while it is unexpired and
  the key that signed it still may sign now (a compare of ids and times, no signature).

It holds what it accepted in memory and does no I/O: callers fetch and store.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from trust.errors import DataError, StatusListError
from trust.jws import KeyIndex
from trust.snapshot import KeyRecord, signers_now
from trust.statuslist import StatusListSnapshot, verify_status_list_token_by


class StatusListReplay(StatusListError):
    """A status list older than the one held (lower ``iat``)."""


@dataclass(frozen=True)
class HeldStatusList:
    uri: str
    token: str
    owner: str  # the issuer whose key signed it
    signer: str  # that key's full kid
    snapshot: StatusListSnapshot


class PeerStatusLists:
    """Accepted peer status lists by URI; :attr:`verifications` counts signatures checked."""

    def __init__(self) -> None:
        self._held: dict[str, HeldStatusList] = {}
        self.verifications = 0
        self._lock = threading.Lock()

    def accept(
        self, uri: str, token: str, *, owner: str, keys: Iterable[KeyRecord], now: int
    ) -> tuple[HeldStatusList, bool]:
        """The list for ``uri`` once ``token`` is accepted, and whether it changed what is
        held. ``keys`` are the owner's trusted key records. Raises :class:`DataError`
        subclasses (signature, claims, expiry, :class:`StatusListReplay`); what was held
        before stays held then."""
        signers = signers_now(keys, owner=owner, now=now)
        held = self._held.get(uri)
        if held is not None and held.token == token and held.owner == owner:
            self._check_current(held, signers, now)
            return held, False
        self.verifications += 1
        snapshot, signer = verify_status_list_token_by(
            token, KeyIndex(r.key for r in signers.values()), expected_uri=uri, now=now
        )
        if held is not None and snapshot.iat < held.snapshot.iat:
            raise StatusListReplay(
                f"status list {uri} was issued at {snapshot.iat}, before the copy held "
                f"(issued at {held.snapshot.iat}): a replay of an older list is refused"
            )
        accepted = HeldStatusList(uri, token, owner, signer.kid, snapshot)
        with self._lock:
            self._held[uri] = accepted
        return accepted, True

    def current(
        self, uri: str, *, owner: str, keys: Iterable[KeyRecord], now: int
    ) -> HeldStatusList | None:
        """The held list for ``uri`` if it is still good now, without verifying it again."""
        held = self._held.get(uri)
        if held is None or held.owner != owner:
            return None
        signers = signers_now(keys, owner=owner, now=now)
        try:
            self._check_current(held, signers, now)
        except DataError:
            return None
        return held

    @staticmethod
    def _check_current(held: HeldStatusList, signers: dict[str, KeyRecord], now: int) -> None:
        if held.signer not in signers:
            raise StatusListError(
                f"status list {held.uri} was signed by key {held.signer}, which may no longer "
                "sign (retired, compromised or no longer the issuer's)"
            )
        if now >= held.snapshot.exp:
            raise StatusListError(
                f"status list {held.uri} expired at {held.snapshot.exp}, now is {now}"
            )

    def forget(self, keep: Iterable[str]) -> None:
        """Drop what is held for URIs not in ``keep`` (an issuer left the trust list)."""
        wanted = set(keep)
        with self._lock:
            for uri in [u for u in self._held if u not in wanted]:
                del self._held[uri]
